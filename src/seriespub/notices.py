"""Warnings the core gives while it carries on (a draft a report leaves out).

The core calls `warn(text)`; whoever runs it decides where the warnings go (`listening`):
the CLI prints each one once per command as `warning: …` on stderr. With nobody listening
they go to stderr as they come, so a library caller is never left unaware either.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

_listeners: list[Callable[[str], None]] = []


def warn(text: str) -> None:
    """Tell whoever listens (the innermost `listening`), else stderr."""
    if _listeners:
        _listeners[-1](text)
    else:
        sys.stderr.write(f"warning: {text}\n")


@contextlib.contextmanager
def listening(listener: Callable[[str], None]) -> Iterator[None]:
    """Send the warnings given inside the block to `listener`."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def muted() -> contextlib.AbstractContextManager[None]:
    """No warnings from the block: its caller reports the same things otherwise."""
    return listening(lambda text: None)
