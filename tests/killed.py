"""A send killed mid-request with its batch pending: the arrangement the resume tests share.

`killed_send` makes a series sending through the Postmark fake in batches of 10, starts a
real `seriespub send next`, and SIGKILLs it once the fake has taken its first request (whose
answer is held back), so that batch is left `pending`; the fake then answers at once again
while the test edits something and resumes. `kill_mid_round` does the same to a `send due`
on a clock the test sets, after any number of requests (a round's late runs, its front's).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import postmark_delivery
from fakes.httpserver import serve
from fakes.postmark import TOKEN, PostmarkHandler, PostmarkState
from fakes.resend import ResendHandler, ResendState
from instalments import start_seriespub

READERS = 40
RUN_BETWEEN_CHECKS = 0.05  # seconds a stopped send runs between two checks


def kill_once_accepted(root: Path, state: PostmarkState) -> set[str]:
    """Start `send next`, SIGKILL it once the fake has taken its first request: that batch
    is left `pending`. Returns its readers."""
    kill_when(root, lambda: bool(state.accepted))
    assert state.accepted, "the killed run never reached the provider"
    return {m["_to"] for m in state.accepted}


def kill_when(root: Path, taken: Callable[[], bool], after: float = 0.0) -> None:
    """Start `send next` in `root` and SIGKILL it `after` seconds once `taken()` is true
    (a fake has the request), or after a minute."""
    proc = _send_next(root)
    deadline = time.monotonic() + 60
    while not taken() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(after)
    proc.kill()
    proc.wait()


def kill_stopped_when(root: Path, taken: Callable[[], bool]) -> None:
    """Start `send next` in `root` and SIGKILL it once `taken()` is true, asking `taken()`
    only while the send is stopped (SIGSTOP): it cannot go on, nor finish, between the
    answer and the kill, however loaded the machine. Fails if it ended first."""
    proc = _send_next(root)
    deadline = time.monotonic() + 120
    try:
        while _stopped(proc) and not taken():
            assert time.monotonic() < deadline, "the send never got there in two minutes"
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(RUN_BETWEEN_CHECKS)
    finally:
        proc.kill()
        code = proc.wait()
    assert code == -signal.SIGKILL, f"the send ended ({code}) before it could be killed"


def _stopped(proc: subprocess.Popen[bytes]) -> bool:
    """SIGSTOP `proc` and wait until it is stopped; False if it has ended instead."""
    os.kill(proc.pid, signal.SIGSTOP)
    while proc.poll() is None:
        with open(f"/proc/{proc.pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0]
        if state in (b"T", b"t"):
            return True
        time.sleep(0.001)
    return False


@contextmanager
def killed_send(
    make_series: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    *,
    drafts: int = 2,
    **delivery: object,
) -> Iterator[tuple[Path, PostmarkState, set[str]]]:
    """(the series, the fake's state, the pending batch's readers); READERS readers."""
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", TOKEN)
    state = PostmarkState()
    state.faults.delay = 30.0  # the first answer never arrives before the kill
    with serve(PostmarkHandler, state) as (url, _):
        settings = {"batch_size": 10, "concurrency": 1, **delivery}
        root = make_series(
            drafts=drafts, subscribers=READERS, delivery=postmark_delivery(url, 0, **settings)
        )
        pending = kill_once_accepted(root, state)
        state.faults.delay = 0.0
        yield root, state, pending


@contextmanager
def killed_resend_send(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, ResendState, set[str]]]:
    """As `killed_send`, through the Resend fake (whose idempotency keys settle)."""
    state = ResendState()
    monkeypatch.setenv("RESEND_API_KEY", state.api_key)
    state.faults.delay = 30.0
    with serve(ResendHandler, state) as (url, _):
        delivery = (
            '[delivery]\nprovider = "resend"\nbatch_size = 10\nconcurrency = 1\n'
            f'[delivery.resend]\napi_url = "{url}"\n'
        )
        root = make_series(drafts=2, subscribers=READERS, delivery=delivery)
        # Its key is kept once the whole batch is created: killed a little after.
        kill_when(root, lambda: bool(state.emails), after=0.2)
        state.faults.delay = 0.0
        yield root, state, {e.to[0] for e in state.emails.values()}


def resend_counts(state: ResendState) -> Counter[str]:
    """How many emails the Resend fake created for each reader, under any key."""
    return Counter(e.to[0] for e in state.emails.values())


# `seriespub ARGS…` in a child process whose clock starts at argv[1] (and runs on).
ON_CLOCK = (
    "import sys, time_machine\n"
    "from seriespub.__main__ import run\n"
    "with time_machine.travel(sys.argv[1], tick=True):\n"
    "    sys.argv = ['seriespub', *sys.argv[2:]]\n"
    "    run()\n"
)


def send_due_at(root: Path, at: dt.datetime) -> subprocess.Popen[bytes]:
    """`send due` in a real process of this checkout's sources, its clock at `at`."""
    return seriespub_at(root, at, "send", "due")


def seriespub_at(root: Path, at: dt.datetime, *args: str) -> subprocess.Popen[bytes]:
    """`seriespub ARGS…` in a real process of this checkout's sources, its clock at `at`."""
    src = str(Path(__file__).parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", ON_CLOCK, at.isoformat(), *args],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill_mid_round(root: Path, state: PostmarkState, at: dt.datetime, taken: int) -> None:
    """`send due` in a real process at `at`, SIGKILLed once the fake has taken `taken`
    requests in all (the last one's answer held back: its batch is left pending)."""
    kill_after(send_due_at(root, at), state, taken)


def kill_after(proc: subprocess.Popen[bytes], state: PostmarkState, taken: int) -> None:
    """SIGKILL `proc` once the fake has taken `taken` requests in all (the last one's
    answer held back: its batch is left pending)."""
    deadline = time.monotonic() + 60
    while len(state.accepted) < taken and time.monotonic() < deadline:
        if len(state.accepted) == taken - 1:
            state.faults.delay = 5.0  # the request that reaches `taken` waits: killed then
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    state.faults.delay = 0.0
    assert len(state.accepted) >= taken, "the killed run never got that far"


def _send_next(root: Path) -> subprocess.Popen[bytes]:
    """`send next --yes` started in `root`, its output dropped."""
    started: subprocess.Popen[bytes] = start_seriespub(
        root, "send", "next", "--yes", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return started
