"""What every command shares: the series option, consoles, confirmation, one error handler.

With `--json`, stdout carries exactly one JSON document whatever happens: the command's own,
or, when it fails before writing one, `{"error", "hint", "exit_code"}` (the `error:` line
stays on stderr, the exit code is unchanged). Misuse of options (click's usage errors, exit
2) gets the same document when the command takes `--json` and it was typed.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from seriespub.pathtext import shown as shown  # a path seriespub chose, as typed from here
from seriespub.textwidth import display_width, pad_left_to, pad_to

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

# The root context of the run in progress; its meta holds what was typed (_WORDS) and
# whether a JSON document has begun on stdout (_JSON_BEGUN).
_ROOT: ContextVar[Any] = ContextVar("seriespub_root", default=None)
_WORDS, _JSON_BEGUN = "seriespub.words", "seriespub.json_begun"
T = TypeVar("T")


class ErrorHandlingGroup(TyperGroup):
    """Turns seriespub's errors into a one-line message and exit 1 (no traceback).

    The core wraps file and database errors where they happen, with a message that says
    what it was doing; the last line of defence here turns any OSError or sqlite3 error
    that slipped through into one line with its path, never a traceback.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta.setdefault(_WORDS, tuple(args))  # the root's: every word after `seriespub`
        return list(super().parse_args(ctx, args))

    def invoke(self, ctx: Any) -> Any:
        if ctx.parent is not None:
            return self._invoke_handled(ctx)
        root = _ROOT.set(ctx)  # for `fail`, wherever it is called: was --json asked?
        try:
            return self._invoke_handled(ctx)
        finally:
            _ROOT.reset(root)

    def _invoke_handled(self, ctx: Any) -> Any:
        from seriespub.errors import NothingToSend, SeriespubError

        try:
            with _warnings_on_stderr():
                return super().invoke(ctx)
        except typer.TyperException as exc:  # misuse: click prints it on stderr, as always
            _json_error(exc.format_message(), _usage_hint(exc), exc.exit_code)
            raise
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
            if _is_sqlite_error(exc):
                fail(f".seriespub/ledger.db (the send ledger): {exc}", _sqlite_hint(exc))
            from seriespub.errors import interrupted

            if interrupted(exc):  # a Ctrl-C Python wrapped (while a module was imported)
                raise typer.Exit(130) from None
            raise


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
    """`error: message` (and `hint: …`) on stderr, the JSON error under --json, exit `code`."""
    from seriespub.redact import scrub

    # Errors are scrubbed when made; this is the last line of defence for anything else.
    message, hint = scrub(message), scrub(hint) if hint else hint
    console = err()
    console.print(f"[bold red]error:[/] {_escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        console.print(f"[dim]hint:[/] {_escape(hint)}", highlight=False, soft_wrap=True)
    _json_error(message, hint or None, code)
    raise typer.Exit(code)


def _json_error(message: str, hint: str | None, code: int) -> None:
    """Under --json, the failure as the run's one document, unless one has begun already
    (a send's report: its exit code and stderr tell the rest)."""
    ctx = _ROOT.get()
    if ctx is None or ctx.meta.get(_JSON_BEGUN) or not _json_asked(ctx):
        return
    with contextlib.suppress(OSError):  # stdout itself failing: stderr has said it all
        print_json({"error": message, "hint": hint, "exit_code": code})


def _json_asked(ctx: Any) -> bool:
    """`--json` was typed (before any `--`) for a command that takes it."""
    words = list(ctx.meta.get(_WORDS, ()))
    words = words[: words.index("--")] if "--" in words else words
    if "--json" not in words:
        return False
    command = ctx.command
    names = [word for word in words if not word.startswith("-")]
    while isinstance(command, TyperGroup) and names:
        command = command.get_command(ctx, names.pop(0))
    return command is not None and any("--json" in p.opts for p in command.params)


def _usage_hint(exc: typer.TyperException) -> str | None:
    """Click's own second line under a usage error: where the help is."""
    ctx = getattr(exc, "ctx", None)
    if ctx is None or not ctx.help_option_names:
        return None
    return f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help."


def json_begun() -> None:
    """A command has begun its JSON document on stdout: an error adds no second one."""
    ctx = _ROOT.get()
    if ctx is not None:
        ctx.meta[_JSON_BEGUN] = True


def peeked(rows: Iterator[T]) -> Iterator[T]:
    """`rows` with the first already read, so that a file that cannot be read fails
    before a streamed document has begun."""
    import itertools

    first = next(rows, None)
    return rows if first is None else itertools.chain([first], rows)


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
        # soft_wrap: a message is one line however narrow the terminal (logs, grep, tests);
        # emoji=False: a title's ":rocket:" is the author's text, not 🚀 (and Rich's table
        # of emoji codes, 2 ms to import, is never loaded)
        console = Console(file=stream, stderr=stderr, highlight=False, soft_wrap=True, emoji=False)
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
        _json_error("not confirmed: nothing was sent", None, 1)
        raise typer.Exit(1)


def print_json(data: Any) -> None:
    """One JSON document on stdout, every string scrubbed of registered secrets."""
    import json

    from seriespub.redact import scrub_data, scrub_default

    json_begun()
    sys.stdout.write(json.dumps(scrub_data(data), indent=2, default=scrub_default) + "\n")


def is_stdout(typed: str | None) -> bool:
    """Whether an output file option names standard output: `-` exactly (`./-` is a file)."""
    return typed == "-"


def write_stdout(data: bytes) -> None:
    """`data` on stdout as it is (an export: bytes, not text re-encoded by the console)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


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
    widths = [display_width(h) for h in header[:-1]]
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
    widths = [max(display_width(line[i]) for line in lines) for i in range(len(header))]
    head, *cells = [
        tuple(pad_left_to(c, widths[i]) if i in right else c for i, c in enumerate(line))
        for line in lines
    ]
    sys.stdout.write(f"{title}\n")
    write_aligned(head, cells)


def _write_chunk(
    header: tuple[str, ...] | None, cells: list[tuple[str, ...]], widths: list[int]
) -> list[int]:
    if cells:
        widths = [max(w, *(display_width(c[i]) for c in cells)) for i, w in enumerate(widths)]
    lines = [header, *cells] if header is not None else cells
    sys.stdout.write("".join(_aligned(c, widths) for c in lines))
    return widths


def _aligned(cells: tuple[str, ...], widths: list[int]) -> str:
    padded = [pad_to(cell, width) for cell, width in zip(cells, widths, strict=False)]
    return "  ".join([*padded, cells[-1]]).rstrip() + "\n"
