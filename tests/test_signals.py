"""SIGTERM (systemd, `timeout`, Docker, CI cancellation) and SIGHUP (the terminal closed) stop
a send the way the first Ctrl-C does: the batches in flight finish and are recorded, and the
exit code (128 + the signal) and a resume hint say so. A second signal quits at once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import postmark_delivery
from fakes.httpserver import serve
from fakes.postmark import TOKEN, PostmarkHandler, PostmarkState

Cli = Callable[..., Any]
READERS = 120


class QuietPostmark(PostmarkHandler):
    """The fake Postmark API; a client that died before its answer is no error here."""

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):
            super().handle()


@pytest.fixture
def slow_postmark(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, PostmarkState]]:
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", TOKEN)
    state = PostmarkState()
    state.faults.delay = 0.4  # each answer comes after the messages were accepted
    with serve(QuietPostmark, state) as running:
        yield running


def postmark_series(make_series: Callable[..., Path], url: str, extra: str = "") -> Path:
    return make_series(
        drafts=1,
        subscribers=READERS,
        extra_toml=extra,
        delivery=postmark_delivery(url, settle_delay=0.5, batch_size=10, concurrency=2),
    )


def start(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "seriespub", "send", *args],
        cwd=root,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def statuses(cli: Cli, root: Path) -> Counter[str]:
    result = cli(root, "log", "1", "--json")
    return Counter(d["status"] for d in json.loads(result.stdout)["deliveries"])


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_mid_send_records_what_is_in_flight_and_says_how_to_resume(
    make_series: Callable[..., Path],
    cli: Cli,
    slow_postmark: tuple[str, PostmarkState],
    signum: int,
    code: int,
) -> None:
    url, state = slow_postmark
    root = postmark_series(make_series, url)
    proc = start(root, "next", "--yes")
    wait_for(lambda: bool(state.accepted))  # a request is in flight
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    stderr = err.decode()
    assert proc.returncode == code, stderr
    assert f"Interrupted by {signal.Signals(signum).name}" in stderr
    assert "every batch in flight was recorded" in stderr
    assert "Resume with: seriespub send next" in stderr
    assert "Traceback" not in stderr
    accepted = Counter(m["_to"] for m in state.accepted)
    recorded = statuses(cli, root)
    assert "pending" not in recorded and "unknown" not in recorded
    assert recorded["sent"] == len(accepted) < READERS  # stopped early, all recorded
    state.faults.delay = 0.0
    resumed = start(root, "next", "--yes")
    _, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err.decode()
    every = Counter(m["_to"] for m in state.accepted)
    assert len(every) == READERS and set(every.values()) == {1}  # exactly the missing ones
    assert statuses(cli, root) == {"sent": READERS}


@pytest.mark.slow
def test_send_due_stops_on_sigterm_too(
    make_series: Callable[..., Path], cli: Cli, slow_postmark: tuple[str, PostmarkState]
) -> None:
    url, state = slow_postmark
    root = postmark_series(
        make_series,
        url,
        extra=('[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "Europe/London"\n'),
    )
    proc = start(root, "due")
    wait_for(lambda: bool(state.accepted))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err.decode()
    assert "Resume with: seriespub send due" in err.decode()
    recorded = statuses(cli, root)
    assert "pending" not in recorded and "unknown" not in recorded
    state.faults.delay = 0.0
    resumed = start(root, "due")
    _, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err.decode()
    every = Counter(m["_to"] for m in state.accepted)
    assert len(every) == READERS and set(every.values()) == {1}


@pytest.mark.slow
def test_a_second_signal_quits_at_once_and_the_next_run_settles_it(
    make_series: Callable[..., Path], cli: Cli, slow_postmark: tuple[str, PostmarkState]
) -> None:
    url, state = slow_postmark
    state.faults.delay = 5.0  # the answers would take long: the author will not wait
    root = postmark_series(make_series, url)
    proc = start(root, "next", "--yes")
    wait_for(lambda: bool(state.accepted))
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 3, "the second signal did not quit at once"
    assert proc.returncode == -signal.SIGTERM, err.decode()  # died by the signal
    assert "Quitting now" in err.decode()
    assert statuses(cli, root)["pending"] > 0  # in flight, not recorded
    state.faults.delay = 0.0
    resumed = start(root, "next", "--yes")
    _, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err.decode()
    every = Counter(m["_to"] for m in state.accepted)
    assert len(every) == READERS and set(every.values()) == {1}  # settled, not resent


@pytest.mark.slow
def test_a_signal_ignored_by_the_caller_stays_ignored(
    make_series: Callable[..., Path], cli: Cli, slow_postmark: tuple[str, PostmarkState]
) -> None:
    """`nohup seriespub send due &`: closing the terminal must not stop the send."""
    url, state = slow_postmark
    state.faults.delay = 0.1
    root = postmark_series(make_series, url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "seriespub", "send", "next", "--yes"],
        cwd=root,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    wait_for(lambda: bool(state.accepted))
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert statuses(cli, root) == {"sent": READERS}


@pytest.mark.slow
def test_ctrl_c_while_the_command_line_starts_ends_quietly(
    make_series: Callable[..., Path],
) -> None:
    """Ctrl-C at instants across start-up (Python importing the command line, then the
    command running): never a traceback through seriespub's code; 130, or death by the
    signal itself. (Python's own start-up, before any of our code, may print one: `site`,
    `runpy`; nothing of ours can catch that.)"""
    root = make_series(drafts=1, subscribers=3)
    source = str(Path(__file__).parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    seen = []
    for step in range(24):
        proc = subprocess.Popen(
            [sys.executable, "-m", "seriespub", "status"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.015 * step)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        seen.append((round(0.015 * step, 3), proc.returncode, err.decode()))
    ours = [s for s in seen if "Traceback" in s[2] and f"seriespub{os.sep}" in s[2]]
    assert not ours, ours
    assert {code for _, code, err in seen if "Traceback" not in err} <= {130, -2, 0}, seen


def ends_quietly(root: Path, code: str) -> None:
    """`code` (which runs the command line with a Ctrl-C injected) exits 130, no traceback."""
    source = str(Path(__file__).parents[1] / "src")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**os.environ, "PYTHONPATH": source},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 130, done.stderr


CTRL_C_INSIDE_IMPORT = """
import builtins, sys
real = builtins.__import__
def importing(name, globals=None, locals=None, fromlist=(), level=0):
    wanted = {{name, *(name + "." + f for f in fromlist or ())}}
    if {target!r} in wanted:
        # What Python makes of a Ctrl-C inside a class body's __set_name__ (seen: a
        # cached_property of ipaddress): a RuntimeError whose cause is the KeyboardInterrupt.
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise RuntimeError("Error calling __set_name__ on 'cached_property'") from exc
    return real(name, globals, locals, fromlist, level)
builtins.__import__ = importing
sys.argv = ["seriespub", *{argv!r}]
from seriespub.__main__ import run
run()
"""


@pytest.mark.parametrize(
    ("target", "argv"),
    [
        ("seriespub.cli", ["status"]),  # while the command line is imported
        ("seriespub.ops.status", ["status"]),  # while the command imports its own module
    ],
)
def test_a_ctrl_c_that_python_wraps_in_another_error_still_ends_quietly(
    make_series: Callable[..., Path], target: str, argv: list[str]
) -> None:
    root = make_series(drafts=1, subscribers=1)
    ends_quietly(root, CTRL_C_INSIDE_IMPORT.format(target=target, argv=argv))


CTRL_C_WHILE_TYPER_BUILDS = """
import sys
import typer.main
def building(*args, **kwargs):
    raise KeyboardInterrupt  # the instant after import, before any command's own handler
typer.main.get_command = building
sys.argv = ["seriespub", "status"]
from seriespub.__main__ import run
run()
"""


def test_ctrl_c_while_typer_builds_the_command_line_ends_quietly(
    make_series: Callable[..., Path],
) -> None:
    """Seen in CI: a Ctrl-C 75 ms into `seriespub status`, inside typing.get_origin while
    typer built the root group, printed a traceback through seriespub/__main__.py."""
    root = make_series(drafts=1, subscribers=1)
    ends_quietly(root, CTRL_C_WHILE_TYPER_BUILDS)


def test_the_entry_point_imports_nothing_before_its_ctrl_c_guard() -> None:
    """`python -m seriespub` runs `seriespub/__main__.py`'s module level before `run()` can
    turn a Ctrl-C into exit 130: anything it imports that the interpreter has not loaded
    already is a window in which Ctrl-C prints a traceback through seriespub's code. An
    import of `typing` there was one (test above, failing now and then on a busy machine)."""
    probe = (
        "import sys; before = set(sys.modules); import seriespub.__main__; "
        "print(sorted(set(sys.modules) - before - {'seriespub', 'seriespub.__main__'}))"
    )
    source = str(Path(__file__).parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": source}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
