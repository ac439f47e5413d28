"""`python -m seriespub`, and `run`, the `seriespub` script. A Ctrl-C while Python is still
importing the command line (its first tenth of a second), or while typer builds it before any
command's own handler is in place, ends as one during a command does: exit 130, no traceback.
Nothing has been read or written by then."""

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
        raise


if __name__ == "__main__":
    run()
