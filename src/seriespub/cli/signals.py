"""Ctrl-C, SIGTERM and SIGHUP during a send: stop between batches; a second one quits at once.

Exit codes follow the shell's rule, 128 + the signal: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

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


def _quit_now(signum: int) -> None:
    """Die by the signal itself, so the caller sees 128 + its number. What is in flight stays
    `pending` in the ledger, and the next run settles it, as after a kill."""
    with contextlib.suppress(Exception):
        err().print("Quitting now; the next run settles what was in flight.")
        err().show_cursor(True)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def signal_name(signum: int | None) -> tuple[str, int]:
    """The name and exit code of the signal that stopped a run (Ctrl-C when unknown)."""
    number = signum or signal.SIGINT
    return signal.Signals(number).name, 128 + number
