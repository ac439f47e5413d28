"""Ctrl-C, SIGTERM and SIGHUP during a send: stop between batches; a second one quits at once.
During `init` (`signals_raise`): SIGTERM and SIGHUP raise as Ctrl-C does, so its undo runs.

Exit codes follow the shell's rule, 128 + the signal: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from seriespub.cli.common import err

# Ctrl-C; systemd, `timeout`, Docker and CI cancellation; the terminal going away.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Received:
    """The signal that asked the run to stop, if any (the exit code is 128 + its number)."""

    signum: int | None = None


@contextlib.contextmanager
def signals_stop(stop: threading.Event, received: Received) -> Iterator[Received]:
    """The first SIGINT, SIGTERM or SIGHUP asks the send to stop between batches (each one
    in flight is then recorded whole); a second one quits at once."""
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            _quit_now(signum)
        received.signum = signum
        stop.set()
        again = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        # After SIGHUP the terminal may be gone: a failed print must not break the run.
        with contextlib.suppress(Exception):
            err().print(f"Stopping after the batches in flight ({again} again to quit now)…")

    # A signal the caller ignores stays ignored (`nohup`, `cmd &` in a script).
    previous = {
        s: signal.signal(s, on_signal)
        for s in STOP_SIGNALS
        if signal.getsignal(s) is not signal.SIG_IGN
    }
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class Stopped(BaseException):
    """SIGTERM or SIGHUP, raised where the main thread was (as Python raises Ctrl-C)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP raise `Stopped`, so that the work's own clean-up (an `except
    BaseException` that undoes) runs; then the process dies by that signal (128 + its
    number), as it would have at once. Without a handler they end Python unwound."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: object) -> None:
        raise Stopped(signum)

    raising = [s for s in STOP_SIGNALS if s != signal.SIGINT]
    previous: dict[int, Any] = {
        s: signal.signal(s, on_signal) for s in raising if signal.getsignal(s) is not signal.SIG_IGN
    }
    try:
        yield
    except Stopped as stopped:
        _restore(previous)
        _die_by(stopped.signum)
        raise SystemExit(128 + stopped.signum) from None  # should the signal not end us
    finally:
        _restore(previous)


def _restore(previous: dict[int, Any]) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler)


def _die_by(signum: int) -> None:
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _quit_now(signum: int) -> None:
    """Die by the signal itself, so the caller sees 128 + its number. What is in flight stays
    `pending` in the ledger, and the next run settles it, as after a kill."""
    with contextlib.suppress(Exception):
        err().print("Quitting now; the next run settles what was in flight.")
        err().show_cursor(True)
    _die_by(signum)


def signal_name(signum: int | None) -> tuple[str, int]:
    """The name and exit code of the signal that stopped a run (Ctrl-C when unknown)."""
    number = signum or signal.SIGINT
    return signal.Signals(number).name, 128 + number
