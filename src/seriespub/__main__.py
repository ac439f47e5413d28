"""`python -m seriespub`, and `run`, the `seriespub` script. A Ctrl-C while Python is still
importing the command line (its first tenth of a second) ends as one during a command does:
exit 130, no traceback. Nothing has been read or written by then."""

import sys


def run() -> None:
    """Import the command line and run it."""
    try:
        from seriespub.cli import main
    except BaseException as exc:
        from seriespub.errors import interrupted

        if interrupted(exc):
            sys.exit(130)
        raise
    main()


if __name__ == "__main__":
    run()
