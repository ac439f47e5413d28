"""`seriespub send due` (for cron) and `seriespub send cancel` (provider-held sends)."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriespub.cli.common import (
    SeriesOption,
    YesOption,
    confirm,
    err,
    fail,
    load_series,
    out,
    print_json,
)
from seriespub.cli.send import NewKeyOption, app, exit_for, hooks_for, summary

if TYPE_CHECKING:  # imported where used: `seriespub --help` loads none of the core
    from seriespub.cli.cronlog import CronLog
    from seriespub.ops import send_due as ops

# What the crontab line of earlier versions appends to: `send due >> .seriespub/cron.log 2>&1`.
CRON_LOG = Path(".seriespub/cron.log")

LogOption = Annotated[
    Path | None,
    typer.Option(
        "--log",
        metavar="FILE",
        help="Append what the run says to FILE instead of printing it (for cron): each line "
        "with the local date and time (ISO 8601), a tick with nothing to do only when what "
        "is next changes (and once a day), and past 1 MB the file moves to FILE.1. A FILE "
        "that cannot be written never fails the send: its lines go to stderr. A crontab "
        "line that appends to .seriespub/cron.log gets the same without the option.",
        show_default=False,
    ),
]


@app.command("due")
def due(
    new_key: NewKeyOption = False,
    series: SeriesOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document on stdout: sent (one report per run, as send "
            "next --json), next (the next planned release: number, title, release) and "
            "running (the other send this run left alone: pid, host, purpose, started_at).",
        ),
    ] = False,
    log: LogOption = None,
) -> None:
    """Send what the calendar says is due now; safe to run every minute from cron.

    While another send of this series runs on this host (a long, rate-limited one), it
    says so in one line and exits 0.
    """
    from seriespub.ops import send_due as ops
    from seriespub.ops.session import session, utc_now

    cron_log = _log_to(log, as_json)  # first: every line after this one is stamped
    hooks = hooks_for(yes=True)
    if not as_json:
        hooks.sent = lambda report: summary(report, as_json=False)
    now, s = utc_now(), load_series(series)
    try:
        with session(s, "send due", now=now) as held:
            outcome = ops.due(held, hooks, new_key=new_key)
    except ops.LockHeld as exc:
        running = ops.running_send(exc, now)
        if running is None:
            raise
        _beside(s, running, now, as_json, cron_log)
        return
    if as_json:
        print_json(_due_json(outcome.reports, outcome.upcoming, None, outcome.late_next))
    if not outcome.reports:
        stamped = cron_log is not None
        _idle(cron_log, _nothing_due_line(outcome.upcoming, now, outcome.late_next, stamped))
    for report in outcome.reports:
        exit_for(report, resume="seriespub send due")


def _log_to(path: Path | None, as_json: bool) -> CronLog | None:
    """With --log (or output appended to .seriespub/cron.log by an earlier version's
    crontab line), what the run prints goes to that log, stamped: stderr always, stdout
    unless it carries the --json document. None: printed as always."""
    from seriespub.cli.cronlog import CronLog, refusal

    path = _log_path(path)
    if path is None:
        return None
    refused = refusal(path)
    if refused is not None:  # before anything is written or rotated
        fail(refused, code=2)
    cron_log = CronLog(path, fallback=sys.__stderr__)
    cron_log.rotate()
    _stamp(cron_log, stdout=not as_json)
    return cron_log


def log_usage_errors(words: list[str]) -> None:
    """Before click parses `send due WORDS`: a usage error it prints (a wrong option in the
    crontab line, exit 2) goes to the log the run would have written, dated, and held as a
    refusal is (the same every tick: once a day). Help and the rest go where they went, and
    on a terminal the error too: whoever typed it is there to read it."""
    from seriespub.cli.cronlog import CronLog, refusal

    if sys.stderr.isatty():
        return
    path = _log_path(_log_word(words))
    if path is not None and refusal(path) is None:  # else the command refuses it
        _stamp(CronLog(path, fallback=sys.__stderr__), stdout=False, quiet=True)


def _log_word(words: list[str]) -> Path | None:
    """The FILE of `--log FILE` or `--log=FILE` among `words` (before any `--`)."""
    words = words[: words.index("--")] if "--" in words else words
    for at, word in enumerate(words):
        if word == "--log" and at + 1 < len(words):
            return Path(words[at + 1])
        if word.startswith("--log="):
            return Path(word.removeprefix("--log="))
    return None


def _log_path(given: Path | None) -> Path | None:
    """`given`, else .seriespub/cron.log when both outputs are appended to it."""
    from seriespub.cli.cronlog import is_output_of

    if given is not None:
        return given
    if is_output_of(1, CRON_LOG) and is_output_of(2, CRON_LOG):
        return CRON_LOG
    return None


def _stamp(cron_log: CronLog, *, stdout: bool, quiet: bool = False) -> None:
    """sys.stderr (and sys.stdout) write to `cron_log` until the process ends: the error
    handler prints `error:` after the command returns."""
    import atexit

    from seriespub.cli.cronlog import StampedStream

    stream = StampedStream(cron_log, quiet=quiet)
    sys.stderr = stream
    if stdout:
        sys.stdout = stream

    def tick_ends() -> None:  # after the error handler's lines, before Python's own flush
        stream.flush()
        cron_log.finish()

    atexit.register(tick_ends)


def _idle(cron_log: CronLog | None, line: str) -> None:
    """A tick's "nothing to do": in the log only when it is news (`CronLog.idle`)."""
    if cron_log is None:
        err().print(line, markup=False)
    else:
        cron_log.idle(line)


def _beside(
    s: ops.Series,
    running: ops.LockHolder,
    now: dt.datetime,
    as_json: bool,
    cron_log: CronLog | None,
) -> None:
    """Another send of this series is running here: nothing to do this tick."""
    from seriespub.ops import send_due as ops

    if as_json:
        from seriespub.ops.session import session

        with session(s, "send due", now=now, readonly=True) as held:  # reads beside it
            upcoming = ops.next_release(held)
        print_json(_due_json([], upcoming, running))
    _idle(cron_log, ops.running_line(running))


def _due_json(
    reports: list[ops.SendReport],
    upcoming: ops.PlannedRelease | None,
    running: ops.LockHolder | None,
    late_next: ops.LateNext | None = None,
) -> dict[str, object]:
    from seriespub.ops import send_due as ops

    return {
        "sent": [ops.report_json(r) for r in reports],
        "next": upcoming
        and {
            "number": upcoming.number,
            "title": upcoming.title,
            "release": upcoming.release.isoformat(),
        },
        "running": running and asdict(running),
        "late_joiners_next": late_next
        and {
            "release": late_next.release.isoformat(),
            "parts": {str(n): c for n, c in late_next.parts.items()},
        },
    }


def _nothing_due_line(
    upcoming: ops.PlannedRelease | None,
    now: dt.datetime,
    late_next: ops.LateNext | None = None,
    stamped: bool = False,
) -> str:
    """In a stamped log without "in 3 days": the stamp says when, and the line stays the
    same from tick to tick, so that it is written once."""
    from seriespub.ops import send_due as ops

    if upcoming is None and late_next is not None:
        parts = ", ".join(f"part {n} → {c:,}" for n, c in late_next.parts.items())
        how_soon = "" if stamped else f", {ops.relative(late_next.release, now)}"
        return (
            f"Nothing is due. Every part has gone out; to readers catching up: {parts} on "
            f"{ops.format_local(late_next.release)}{how_soon}."
        )
    if upcoming is None:
        return "Nothing is due, and no release is planned: write the next instalment."
    how_soon = "" if stamped else f", {ops.relative(upcoming.release, now)}"
    return (
        f"Nothing is due. Next release: part {upcoming.number} ({upcoming.title}) on "
        f"{ops.format_local(upcoming.release)}{how_soon}."
    )


@app.command("cancel")
def cancel(
    number: Annotated[int, typer.Argument(help="The instalment whose scheduled send to withdraw.")],
    yes: YesOption = False,
    series: SeriesOption = None,
) -> None:
    """Withdraw a send handed to the provider with `send next --at`, before its release.

    The front's held part takes its round with it: the late joiners' parts held for the
    same time are withdrawn too. A late joiner's held copy of a part the front has is
    withdrawn alone. With nothing held (never held, released, or cancelled already) there
    is nothing to do: it says so and exits 0.
    """
    from seriespub.ops import send_due as ops
    from seriespub.ops.session import session, utc_now

    def ask(count: int, with_round: dict[int, int]) -> None:
        also = "".join(f", part {n} to {c:,}" for n, c in with_round.items())
        also = f" (and the late joiners' parts held with it{also})" if also else ""
        confirm(f"Withdraw part {number} from {count:,} scheduled deliveries{also}?", yes)

    with session(load_series(series), "send cancel", now=utc_now()) as held:
        done = ops.cancel(held, number, ask)
    if not done.count:
        err().print(
            f"Nothing to cancel: part {number} has no deliveries held by the provider.",
            markup=False,
        )
        return
    out().print(f"part {number}: {done.count:,} scheduled deliveries cancelled")
    for part, count in done.with_round.items():
        noun = "delivery" if count == 1 else "deliveries"
        out().print(f"part {part}: {count:,} scheduled {noun} held in the same round cancelled")
