"""Bounds on running the author's code (a template): a deadline and a memory ceiling.

Guarantees, for the block under `bounded(seconds, memory)` on the calling thread:
- The first line of template code (frames compiled from a string, `<template>`) run after
  `seconds` raises OverBudget: a loop that prints nothing cannot run on. Other code is not
  traced (its cost is bounded by the sandbox's size checks). The thread's trace hook (a
  debugger's, coverage's) is set again after the block.
- Where the platform has RLIMIT_AS and says how much address space the process holds
  (Linux), the soft limit is lowered to that plus `memory` for the block, so an allocation
  past it raises MemoryError here instead of taking the machine's memory; the limit is
  put back after. A lower limit already set is kept. Elsewhere only the deadline holds.
- Template code may nest at most DEPTH frames below the block's own (a macro that calls
  itself ends in RecursionError there), whatever recursion limit the process has: a caller
  that had raised it (Hypothesis does) let such a macro run the C stack out, a segfault.
  The limit is put back after (it is the interpreter's: other threads see it meanwhile,
  lowered only to DEPTH frames below this one, far more than theirs use).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

TEMPLATE_FILE = "<template>"  # what Jinja names the code it compiles from a string
DEPTH = 900  # frames a render may nest (Python's default limit is 1,000 in all)


class OverBudget(Exception):
    """The template ran past its deadline."""


@contextmanager
def bounded(seconds: float, memory: int) -> Iterator[None]:
    """Run the block with template code stopped after `seconds` and at most `memory` more
    bytes of address space."""
    previous = sys.gettrace()
    sys.settrace(_deadline_hook(time.monotonic() + seconds, seconds))
    try:
        with _address_space(memory), _depth(DEPTH):
            yield
    finally:
        sys.settrace(previous)


@contextmanager
def _depth(frames: int) -> Iterator[None]:
    """The recursion limit at most `frames` below the caller's frame, for the block."""
    limit = sys.getrecursionlimit()
    depth, frame = 0, sys._getframe()  # this thread's stack, this frame included
    while True:
        depth += 1
        if frame.f_back is None:
            break
        frame = frame.f_back
    sys.setrecursionlimit(min(limit, depth + frames))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def _deadline_hook(deadline: float, seconds: float) -> Any:
    def line(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise OverBudget(f"stopped after {seconds:g} s (a loop that runs too long?)")
        return line

    def call(frame: FrameType, event: str, arg: Any) -> Any:
        return line(frame, event, arg) if frame.f_code.co_filename == TEMPLATE_FILE else None

    return call


@contextmanager
def _address_space(memory: int) -> Iterator[None]:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        held = _held_bytes()
    except (ImportError, OSError, ValueError):
        yield
        return
    ceiling = held + memory
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    if soft != resource.RLIM_INFINITY and soft <= ceiling:
        yield  # a lower limit is already set: keep it
        return
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _held_bytes() -> int:
    """The process's address space now (Linux: /proc/self/statm, in pages)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")
