"""What every command shares: the series option, consoles, confirmation, one error handler."""

from __future__ import annotations

import contextlib
import os
import select
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from rich.console import Console

    from seriespub.series import Series

SeriesOption = Annotated[
    Path | None,
    typer.Option(
        "--series",
        "-C",
        help="The series folder (default: found by walking up).",
        show_default=False,
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


class ErrorHandlingGroup(TyperGroup):
    """Turns seriespub's errors into a one-line message and exit 1 (no traceback).

    The core wraps file and database errors where they happen, with a message that says
    what it was doing; the last line of defence here turns any OSError or sqlite3 error
    that slipped through into one line with its path, never a traceback.
    """

    def invoke(self, ctx: Any) -> Any:
        from seriespub.errors import NothingToSend, SeriespubError

        try:
            with _warnings_on_stderr():
                return super().invoke(ctx)
        except NothingToSend as exc:
            err().print(str(exc), markup=False, highlight=False)
            raise typer.Exit(0) from None
        except SeriespubError as exc:
            fail(str(exc), exc.hint)
        except BrokenPipeError as exc:
            if not _stdout_gone():
                fail(f"cannot continue: {exc.strerror}")
            # Whoever read our output stopped (`| head`): end quietly, as Unix tools do
            # (128 + SIGPIPE), without Python's own complaint when it flushes at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except OSError as exc:
            from seriespub.statefiles import os_error

            error = os_error(exc, exc.filename, "cannot continue")
            fail(str(error), error.hint)
        except Exception as exc:
            if not _is_sqlite_error(exc):
                raise
            fail(f".seriespub/ledger.db (the send ledger): {exc}", _sqlite_hint(exc))


def _warnings_on_stderr() -> contextlib.AbstractContextManager[None]:
    """The core's warnings (`seriespub.notices`) as `warning: …` lines on stderr, each once
    per command (a report may load the drafts more than once)."""
    from seriespub.notices import listening

    seen: set[str] = set()

    def show(text: str) -> None:
        if text not in seen:
            seen.add(text)
            err().print(f"warning: {text}", markup=False, style="yellow", highlight=False)

    return listening(show)


def _stdout_gone() -> bool:
    """Standard output is a pipe whose reader has closed it (a write there fails EPIPE)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        return False


def _is_sqlite_error(exc: Exception) -> bool:
    sqlite3 = sys.modules.get("sqlite3")  # not imported: cannot be its error
    return sqlite3 is not None and isinstance(exc, sqlite3.Error)


def _sqlite_hint(exc: Exception) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (
            "another program holds the ledger (a sqlite3 shell, a backup or sync tool?); "
            "close it, then run the command again: a send resumes exactly where it stopped"
        )
    if "full" in text:
        return "free some space, then resume with: seriespub send next"
    if "readonly" in text:
        return (
            "the ledger or its folder .seriespub/ is read-only: make both writable (a copy "
            "mounted read-only still serves status, log, schedule and send next --dry-run)"
        )
    return "the ledger was not changed by the failed step; run the command again"


def fail(message: str, hint: str | None = None, code: int = 1) -> None:
    from seriespub.redact import scrub

    # Errors are scrubbed when made; this is the last line of defence for anything else.
    message, hint = scrub(message), scrub(hint) if hint else hint
    console = err()
    console.print(f"[bold red]error:[/] {_escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        console.print(f"[dim]hint:[/] {_escape(hint)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


_consoles: dict[bool, Console] = {}


def out() -> Console:
    return _console(stderr=False)


def err() -> Console:
    return _console(stderr=True)


def _console(stderr: bool) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    console = _consoles.get(stderr)
    if console is None or console.file is not stream:  # CliRunner swaps the streams
        # soft_wrap: a message is one line however narrow the terminal (logs, grep, tests)
        console = Console(file=stream, stderr=stderr, highlight=False, soft_wrap=True)
        _consoles[stderr] = console
    return console


def load_series(path: Path | None) -> Series:
    from seriespub.series import find_series

    return find_series(explicit=path)


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; without one, `--yes` is required (exit 2 otherwise)."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail("not a terminal: pass --yes to confirm", code=2)
    if not typer.confirm(question, default=False, err=True):
        err().print("Nothing was sent.")
        raise typer.Exit(1)


def print_json(data: Any) -> None:
    """One JSON document on stdout, every string scrubbed of registered secrets."""
    import json

    from seriespub.redact import scrub_data, scrub_default

    sys.stdout.write(json.dumps(scrub_data(data), indent=2, default=scrub_default) + "\n")


def serve_until_ctrl_c(stop: Callable[[], None]) -> None:
    """Keep a server (started by the caller) running until Ctrl-C, then `stop()` it."""
    import time

    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop()


def write_aligned(
    header: tuple[str, ...], rows: Iterable[tuple[str, ...]], chunk: int = 1000
) -> int:
    """Plain aligned lines on stdout, a chunk at a time (flat memory at any size): the header
    aligned with the first chunk, columns widening (never narrowing) as rows come, the last
    column not padded. Returns how many rows were written."""
    widths = [len(h) for h in header[:-1]]
    count = 0
    cells: list[tuple[str, ...]] = []
    for row in rows:
        cells.append(row)
        if len(cells) == chunk:
            widths = _write_chunk(header if not count else None, cells, widths)
            count += len(cells)
            cells = []
    if cells or not count:
        widths = _write_chunk(header if not count else None, cells, widths)
        count += len(cells)
    return count


def write_table(
    title: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: frozenset[int]
) -> None:
    """A title line, then `header` and `rows` as plain aligned columns (`right`: the columns
    aligned right, numbers). Plain text: no Rich table to import, and greppable."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    head, *cells = [
        tuple(c.rjust(widths[i]) if i in right else c for i, c in enumerate(line)) for line in lines
    ]
    sys.stdout.write(f"{title}\n")
    write_aligned(head, cells)


def _write_chunk(
    header: tuple[str, ...] | None, cells: list[tuple[str, ...]], widths: list[int]
) -> list[int]:
    if cells:
        widths = [max(w, *(len(c[i]) for c in cells)) for i, w in enumerate(widths)]
    lines = [header, *cells] if header is not None else cells
    sys.stdout.write("".join(_aligned(c, widths) for c in lines))
    return widths


def _aligned(cells: tuple[str, ...], widths: list[int]) -> str:
    padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
    return "  ".join([*padded, cells[-1]]).rstrip() + "\n"
