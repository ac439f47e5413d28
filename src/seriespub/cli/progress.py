"""Progress while sending: a Rich bar on a terminal, plain lines otherwise (both on stderr).

A run the provider holds until a time (`send next --at`) says "scheduled … for <time>",
never "sent": nothing has reached a reader yet."""

from __future__ import annotations

import datetime as dt
import sys
import time
from types import TracebackType
from typing import Any

from seriespub.cli.common import err


def release_time(when: dt.datetime) -> str:
    """When the provider releases a held send, as the plan shows it."""
    return f"{when:%Y-%m-%d %H:%M %Z}"


class PlainProgress:
    """One line every `every` seconds and at the end; for cron logs and pipes."""

    def __init__(self, every: float = 5.0) -> None:
        self.total = self.sent = self.failed = 0
        self.every = every
        self._last = 0.0
        self._started = time.monotonic()
        self._send_at: dt.datetime | None = None

    def start(self, total: int, send_at: dt.datetime | None = None) -> None:
        """A new run (each part of a round is one): its counts start from zero."""
        self.total, self._send_at = total, send_at
        self.sent = self.failed = 0
        self._started = self._last = time.monotonic()

    def advance(self, sent: int, failed: int) -> None:
        self.sent += sent
        self.failed += failed
        now = time.monotonic()
        if now - self._last >= self.every or self.sent + self.failed >= self.total:
            self._last = now
            rate = self.sent / max(now - self._started, 1e-9)
            line = f"{self._done()}, failed {self.failed:,}, {rate:,.0f}/s"
            print(line, file=sys.stderr, flush=True)

    def _done(self) -> str:
        """'sent 3/5', or for a held send 'scheduled 3/5 for 2026-12-01 09:00 UTC'."""
        if self._send_at is None:
            return f"sent {self.sent:,}/{self.total:,}"
        return f"scheduled {self.sent:,}/{self.total:,} for {release_time(self._send_at)}"

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class RichProgress:
    """Sent, failed, rate and ETA on a live bar."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"),
            TextColumn("{task.fields[rate]}/s"),
            TimeRemainingColumn(),
            console=err(),
            transient=False,
        )
        self._task: Any = None
        self._failed = 0
        self._started = time.monotonic()

    def start(self, total: int, send_at: dt.datetime | None = None) -> None:
        self._started = time.monotonic()
        what = "sending" if send_at is None else f"scheduling for {release_time(send_at)}"
        self._task = self._progress.add_task(what, total=total, failed=0, rate="0")

    def advance(self, sent: int, failed: int) -> None:
        self._failed += failed
        done = self._progress.tasks[0].completed + sent + failed if self._progress.tasks else 0
        rate = f"{done / max(time.monotonic() - self._started, 1e-9):,.0f}"
        self._progress.update(self._task, advance=sent + failed, failed=self._failed, rate=rate)

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()


def make_progress() -> PlainProgress | RichProgress:
    return RichProgress() if err().is_terminal else PlainProgress()
