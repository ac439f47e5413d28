"""`python -m seriespub`, and `run`, the `seriespub` script. A Ctrl-C while Python is still
importing the command line (its first tenth of a second), or while typer builds it before any
command's own handler is in place, ends as one during a command does: exit 130, no traceback.
Nothing has been read or written by then.

A bug's traceback (every error seriespub expects is one line; see `cli.common`) is printed for
the report, exit 1, with every secret scrubbed: those read before it (`.env`'s among them
once any was read) and every one set in the environment (`redact`)."""

import sys


def run() -> None:
    """Import the command line and run it."""
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


if __name__ == "__main__":
    run()
