"""`python -m seriespub`, and `run`, the `seriespub` script. A Ctrl-C while Python is still
importing the command line (its first tenth of a second), or while typer builds it before any
command's own handler is in place, ends as one during a command does: exit 130, no traceback.
Nothing has been read or written by then.

A bug's traceback (every error seriespub expects is one line; see `cli.common`) is printed for
the report, exit 1, with every secret scrubbed: those read before it (`.env`'s among them
once any was read) and every one set in the environment (`redact`).

Cron's `send due` (`--log FILE`, or the `>> .seriespub/cron.log 2>&1` of earlier crontab
lines), its stderr no terminal: what goes to stderr before the command's log takes it over
(a warning while importing, a crash's traceback) is stamped as the log's lines are
(`_EarlyStamps`). For every other command the cost is a look at `sys.argv`. Not stamped: what
Python writes before `run` (it cannot find seriespub, a `-W error` at start-up), and a fatal
signal's dump (faulthandler writes to fd 2 itself)."""

import io
import os
import sys

# Nothing here may import a module the interpreter has not loaded already (`typing` is one):
# until `run` is in its `try`, a Ctrl-C would print a traceback through this file.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO


def run() -> None:
    """Import the command line and run it."""
    if sys.argv[1:3] == ["send", "due"] and sys.stderr is not None and _logged(sys.argv[3:]):
        sys.stderr = _EarlyStamps(sys.stderr)
    try:
        from seriespub.cli import main

        main()
    except SystemExit:
        raise  # the command's own exit, Ctrl-C included, already decided
    except BaseException as exc:
        from seriespub.errors import interrupted

        if interrupted(exc):
            sys.exit(130)
        if not isinstance(exc, Exception):
            raise
        _print_scrubbed(exc)
        sys.exit(1)


def _print_scrubbed(exc: Exception) -> None:
    import os
    import traceback

    from seriespub import redact
    from seriespub.config import known_secrets

    for name in known_secrets():  # a secret nothing read yet may still be in the message
        value = os.environ.get(name)
        if value:
            redact.register(value)
    with_secrets = "".join(traceback.format_exception(exc))
    sys.stderr.write(redact.scrub(with_secrets))
    sys.stderr.flush()


def _logged(words: list[str]) -> bool:
    """Whether `send due WORDS` will write its log: `--log` among its words (before any
    `--`), or stdout and stderr both appended to .seriespub/cron.log; and stderr is no
    terminal (whoever typed it reads it there, as always)."""
    words = words[: words.index("--")] if "--" in words else words
    try:
        if os.isatty(2):
            return False
        if any(word == "--log" or word.startswith("--log=") for word in words):
            return True
        log = os.stat(".seriespub/cron.log")
        return all(os.path.samestat(os.fstat(fd), log) for fd in (1, 2))
    except OSError:
        return False


class _EarlyStamps(io.TextIOBase):
    """Each complete line written to it goes to `stream` stamped as `cli.cronlog`'s are
    (local time and offset): until the command's own log replaces it as sys.stderr. It
    imports nothing of seriespub's, which may be what failed."""

    def __init__(self, stream: "TextIO") -> None:
        super().__init__()
        self._stream, self._partial = stream, ""

    def write(self, text: str) -> int:
        done, newline, self._partial = (self._partial + text).rpartition("\n")
        if newline:
            self._put(done.split("\n"))
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._put([self._partial])
            self._partial = ""
        self._stream.flush()

    def _put(self, lines: list[str]) -> None:
        import datetime as dt

        stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        self._stream.write("".join(f"{stamp} {line}\n" for line in lines))
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


if __name__ == "__main__":
    run()
