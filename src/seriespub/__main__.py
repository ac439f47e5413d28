"""`python -m seriespub`, and `run`, the `seriespub` script. A Ctrl-C while Python is still
importing the command line (its first tenth of a second) ends as one during a command does:
exit 130, no traceback. Nothing has been read or written by then."""

import sys


def interrupted(exc: BaseException) -> bool:
    """`exc` is a Ctrl-C, or an error Python raised because of one: a KeyboardInterrupt
    inside a class body's `__set_name__` (a cached_property being created) comes out as a
    RuntimeError whose cause is the interrupt."""
    seen: BaseException | None = exc
    for _ in range(16):  # chains are short; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def run() -> None:
    """Import the command line and run it."""
    try:
        from seriespub.cli import main
    except BaseException as exc:
        if interrupted(exc):
            sys.exit(130)
        raise
    main()


if __name__ == "__main__":
    run()
