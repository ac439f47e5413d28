"""A bound on glibc's malloc arenas, set before a send starts its threads.

glibc gives each new thread that allocates an arena of its own, up to eight per core, and
each arena keeps what its thread freed for reuse. A send's workers build and drop request
bodies of hundreds of kilobytes: with eight of them in flight the arenas held about 10 MB
more at 1,000,000 readers than at 10,000 (`bench/bench_scale.py`), which took `send next`
past 1.5× its memory at 1,000. Two arenas are enough: the workers allocate mostly while they
hold the GIL, so they seldom wait for each other's.

Only on glibc (elsewhere nothing changes) and only for threads started afterwards: a thread
keeps the arena it was given. A MALLOC_ARENA_MAX in the environment wins.
"""

from __future__ import annotations

import contextlib
import os

MAX_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_arenas() -> None:
    """At most MAX_ARENAS malloc arenas for the rest of the process (glibc only)."""
    if "MALLOC_ARENA_MAX" in os.environ or not _on_glibc():
        return
    import ctypes

    # A C library without mallopt keeps its own policy.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, MAX_ARENAS)  # the process's own C library


def _on_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (AttributeError, ValueError, OSError):
        return False
