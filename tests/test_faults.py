"""Fault injection: real `seriespub send next` processes stopped at random instants by SIGKILL
or SIGTERM, 20 times per provider, then resumed; every copy each reader received is counted.

Providers: the outbox (copies = complete .eml files, and any rewrite of a complete one),
Postmark and Resend (copies = messages their local fakes accepted). After the trials the send
is resumed to the end: zero duplicates and zero losses, and after every SIGTERM nothing is left
pending or unknown. A clock that steps back during a resume must not stall it.

Figures: `python -m pytest -q -m slow tests/test_faults.py -s` prints one line per run and a
table at the end (the README's "Faults we test" table comes from it).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import email
import email.policy
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from conftest import postmark_delivery
from fakes.httpserver import serve
from fakes.postmark import TOKEN, PostmarkHandler, PostmarkState
from fakes.resend import ResendHandler, ResendState
from fakes.sendgrid import API_KEY as SENDGRID_KEY
from fakes.sendgrid import SendgridHandler, SendgridState
from instalments import start_seriespub

pytestmark = pytest.mark.slow

TRIALS = 20
READERS = 400
BATCH = 4
SETTLE_DELAY = 0.3  # Postmark: seconds before a lost answer is looked up
SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM}
PROVIDERS = ("outbox", "postmark", "resend", "sendgrid")
RESEND_KEY = "re_fault_key"


@dataclass
class Figures:
    provider: str
    signal: str
    trials: int = 0
    mid_send: int = 0  # SIGKILL: requests of this run were cut off (left pending);
    #                            SIGTERM: the run caught it and stopped between batches
    before_send: int = 0  # the process died before sending anything (startup, plan)
    finished_first: int = 0  # the run had finished before the signal came
    duplicates: int = 0
    losses: int = 0
    unknown: int = 0  # left for the author to decide (none of these providers)

    def line(self) -> str:
        return (
            f"{self.provider:<9}{self.signal:<9}{self.trials:>7}{self.mid_send:>10}"
            f"{self.duplicates:>12}{self.losses:>8}{self.unknown:>9}"
        )


HEADER = (
    f"{'provider':<9}{'signal':<9}{'trials':>7}{'mid-send':>10}{'duplicates':>12}"
    f"{'losses':>8}{'unknown':>9}"
)
FIGURES: list[Figures] = []


@pytest.fixture(scope="module", autouse=True)
def print_figures() -> Iterator[None]:
    yield
    if FIGURES:
        print("\n" + HEADER)
        for figures in FIGURES:
            print(figures.line())


class Target(Protocol):
    name: str

    def delivery(self) -> str: ...
    def received(self) -> int: ...
    def copies(self) -> Counter[str]: ...
    def after_trial(self) -> None: ...
    def rewrites(self) -> int: ...


class QuietPostmark(PostmarkHandler):
    """The fake Postmark API; a client killed before the answer is not an error here."""

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):
            super().handle()


class PostmarkTarget:
    name = "postmark"

    def __init__(self, url: str, state: PostmarkState) -> None:
        self.url, self.state = url, state

    def delivery(self) -> str:
        return postmark_delivery(
            self.url, settle_delay=SETTLE_DELAY, batch_size=BATCH, concurrency=2
        )

    def received(self) -> int:
        return len(self.state.accepted)

    def copies(self) -> Counter[str]:
        return Counter(m["_to"] for m in self.state.accepted)

    def after_trial(self) -> None:
        pass

    def rewrites(self) -> int:
        return 0


class QuietSendgrid(SendgridHandler):
    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):
            super().handle()


class SendgridTarget:
    """SendGrid cannot be asked afterwards: a request cut off by a kill becomes `unknown`,
    and the author decides (here: `send settle --assume-delivered`, counted)."""

    name = "sendgrid"
    can_settle = False

    def __init__(self, url: str, state: SendgridState) -> None:
        self.url, self.state = url, state

    def delivery(self) -> str:
        return (
            f'[delivery]\nprovider = "sendgrid"\nbatch_size = {BATCH}\nconcurrency = 2\n'
            f'[delivery.sendgrid]\napi_url = "{self.url}"\n'
        )

    def received(self) -> int:
        return len(self.state.accepted)

    def copies(self) -> Counter[str]:
        return Counter(m["to"].lower() for m in self.state.accepted)

    def after_trial(self) -> None:
        pass

    def rewrites(self) -> int:
        return 0


class SlowResend(ResendHandler):
    """The fake Resend API, answering a batch `faults.delay` seconds after creating it."""

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):
            super().handle()

    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        reply = super().handle_request(method, path, headers, body)
        if path == "/emails/batch":
            time.sleep(self.server.state.faults.delay)
        return reply


class ResendTarget:
    name = "resend"

    def __init__(self, url: str, state: ResendState) -> None:
        self.url, self.state = url, state

    def delivery(self) -> str:
        return (
            f'[delivery]\nprovider = "resend"\nbatch_size = {BATCH}\nconcurrency = 2\n'
            f'[delivery.resend]\napi_url = "{self.url}"\n'
        )

    def received(self) -> int:
        return len(self.state.emails)

    def copies(self) -> Counter[str]:
        return Counter({address: len(emails) for address, emails in self.state.accepted.items()})

    def after_trial(self) -> None:
        pass

    def rewrites(self) -> int:
        return 0


class OutboxTarget:
    """A copy is a complete .eml file; rewriting a complete file would be a second copy."""

    name = "outbox"

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.complete: dict[str, tuple[int, int]] = {}  # name → (inode, mtime_ns)
        self.rewritten = 0

    def delivery(self) -> str:
        # Paced so that a run lasts long enough to be stopped part-way.
        return f'[delivery]\nprovider = "outbox"\nbatch_size = {BATCH}\nmax_rate = 150\n'

    def files(self) -> list[Path]:
        assert self.folder is not None
        return list(self.folder.glob("*.eml")) if self.folder.is_dir() else []

    def received(self) -> int:
        return len(self.files())

    def after_trial(self) -> None:
        for path in self.files():
            stat = path.stat()
            seen = self.complete.get(path.name)
            if seen is not None and seen != (stat.st_ino, stat.st_mtime_ns):
                self.rewritten += 1
            if _complete(path.read_bytes()):
                self.complete[path.name] = (stat.st_ino, stat.st_mtime_ns)

    def copies(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for path in self.files():
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            found[message["To"].addresses[0].addr_spec.lower()] += 1
        return found

    def rewrites(self) -> int:
        return self.rewritten


def _complete(data: bytes) -> bool:
    """Ends with the closing MIME boundary, `--<boundary>--` (a cut file does not)."""
    last = data.rstrip().rsplit(b"\n", 1)[-1].strip()
    return len(last) > 4 and last.startswith(b"--") and last.endswith(b"--")


def pending_rows(root: Path) -> set[tuple[str, str]]:
    """(batch key, address) of every delivery left `pending`."""
    path = root / ".seriespub" / "ledger.db"
    if not path.exists():
        return set()
    conn = sqlite3.connect(path, timeout=30)
    try:
        return set(conn.execute("SELECT batch_key, email FROM deliveries WHERE status='pending'"))
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()


def ledger_counts(root: Path) -> Counter[str]:
    path = root / ".seriespub" / "ledger.db"
    if not path.exists():
        return Counter()
    conn = sqlite3.connect(path, timeout=30)
    try:
        return Counter(
            dict(
                conn.execute(
                    "SELECT status, COUNT(*) FROM deliveries WHERE instalment=1 GROUP BY status"
                )
            )
        )
    except sqlite3.OperationalError:  # no table yet: the run died before creating it
        return Counter()
    finally:
        conn.close()


def start(root: Path) -> subprocess.Popen[bytes]:
    """`send next --yes` started in `root`, its output piped."""
    started: subprocess.Popen[bytes] = start_seriespub(root, "send", "next", "--yes")
    return started


def stop_at_random(
    proc: subprocess.Popen[bytes], target: Target, signum: int, rng: random.Random
) -> None:
    """A random instant: a quarter anywhere in the first second (start-up, settling the last
    trial's leftovers, the first requests), the rest a few messages into the sending; never
    more than a few batches in, so that 20 trials do not finish the send."""
    quick = rng.random() < 0.25
    deadline = time.monotonic() + (rng.uniform(0.0, 1.0) if quick else 60)
    wanted = target.received() + rng.randint(1, 2 * BATCH)
    while proc.poll() is None and target.received() < wanted and time.monotonic() < deadline:
        time.sleep(0.005)
    if not quick:
        time.sleep(rng.uniform(0.0, 0.1))
    if proc.poll() is None:
        proc.send_signal(signum)


def one_trial(root: Path, target: Target, name: str, rng: random.Random, figures: Figures) -> None:
    before, left_before = target.received(), pending_rows(root)
    proc = start(root)
    stop_at_random(proc, target, SIGNALS[name], rng)
    _, err = proc.communicate(timeout=120)
    stderr = err.decode(errors="replace")
    target.after_trial()
    counts = ledger_counts(root)
    figures.trials += 1
    if proc.returncode == 0:
        figures.finished_first += 1
        return
    if name == "SIGKILL":
        assert proc.returncode == -signal.SIGKILL, stderr
        # Requests of this run (new batches, or replays settling the last one's) were cut off.
        left = pending_rows(root)
        figures.mid_send += bool(left) and left != left_before
    else:
        # Before the send starts, SIGTERM's default still applies (nothing is in flight).
        assert proc.returncode in (143, -signal.SIGTERM), stderr
        assert "Traceback" not in stderr
        assert counts["pending"] == counts["unknown"] == 0, (counts, stderr)
        if proc.returncode == 143:
            assert "Resume with: seriespub send next" in stderr
            figures.mid_send += 1
    figures.before_send += target.received() == before


def seriespub(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seriespub", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def decide(root: Path) -> int:
    """The author of a provider that cannot be asked: a run turns what a kill left pending
    into `unknown` (and stops, asking), then they record those as delivered. How many."""
    if ledger_counts(root)["pending"]:
        asked = seriespub(root, "send", "next", "--yes")
        assert asked.returncode == 1 and "unknown" in asked.stderr, asked.stderr
    unknown = ledger_counts(root)["unknown"]
    if unknown:
        assert seriespub(root, "send", "settle", "1", "--assume-delivered").returncode == 0
    return unknown


def finish(root: Path) -> tuple[Counter[str], int]:
    """Resume until the ledger has nothing open; the `unknown` deliveries the author decided
    on the way."""
    decided = 0
    for _ in range(5):
        done = seriespub(root, "send", "next", "--yes")
        counts = ledger_counts(root)
        if counts["unknown"]:
            decided += decide(root)
            continue
        if done.returncode == 0 and set(counts) == {"sent"}:
            return counts, decided
    raise AssertionError(f"the send never finished: {done.stderr}")


@contextlib.contextmanager
def running(provider: str) -> Iterator[Target]:
    """A target with its local fake (if any) running."""
    if provider == "outbox":
        yield OutboxTarget()
    elif provider == "postmark":
        state = PostmarkState()
        state.faults.delay = 0.05  # the answer comes after the messages were accepted
        with serve(QuietPostmark, state) as (url, _):
            yield PostmarkTarget(url, state)
    elif provider == "sendgrid":
        sendgrid = SendgridState()
        sendgrid.faults.delay = 0.05
        with serve(QuietSendgrid, sendgrid) as (url, _):
            yield SendgridTarget(url, sendgrid)
    else:
        resend = ResendState(api_key=RESEND_KEY)
        resend.faults.delay = 0.1
        with serve(SlowResend, resend) as (url, _):
            yield ResendTarget(url, resend)


def chain(make_series: Callable[..., Path], provider: str, name: str) -> Figures:
    """TRIALS runs of one provider, each stopped at a random instant, then the resume."""
    with running(provider) as target:
        root = make_series(
            drafts=1, subscribers=READERS, delivery=target.delivery(), name=f"{provider}-{name}"
        )
        if isinstance(target, OutboxTarget):
            target.folder = root / ".seriespub" / "outbox" / "001"
        rng = random.Random(f"{provider}/{name}/20261128")
        figures = Figures(provider, name)
        for _ in range(TRIALS):
            one_trial(root, target, name, rng, figures)
            if not getattr(target, "can_settle", True):
                figures.unknown += decide(root)
        counts, decided = finish(root)
        assert counts == {"sent": READERS}
        figures.unknown += decided
        copies = target.copies()
        figures.duplicates = sum(n - 1 for n in copies.values()) + target.rewrites()
        figures.losses = READERS - len(copies)
    return figures


@pytest.fixture
def provider_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", TOKEN)
    monkeypatch.setenv("RESEND_API_KEY", RESEND_KEY)
    monkeypatch.setenv("SENDGRID_API_KEY", SENDGRID_KEY)


@pytest.mark.parametrize("name", list(SIGNALS))
def test_stopped_at_random_instants_then_resumed_every_reader_gets_one_copy(
    make_series: Callable[..., Path], provider_secrets: None, name: str
) -> None:
    # The three providers' runs go side by side: most of a trial is waiting.
    with cf.ThreadPoolExecutor(len(PROVIDERS)) as pool:
        results = list(pool.map(lambda p: chain(make_series, p, name), PROVIDERS))
    FIGURES.extend(results)
    print("\n" + HEADER)
    for figures in results:
        print(
            f"{figures.line()}  (died before sending: {figures.before_send}, "
            f"finished before the signal: {figures.finished_first})"
        )
    for figures in results:
        assert figures.trials == TRIALS
        assert figures.mid_send >= 3, f"too few signals landed mid-send: {figures}"
        assert figures.duplicates == 0, figures
        if figures.provider == "sendgrid" and name == "SIGKILL":
            # Only a delivery assumed delivered can be lost (its request never arrived).
            assert figures.losses <= figures.unknown, figures
        else:
            assert figures.losses == figures.unknown == 0, figures


def test_a_clock_stepped_back_during_the_resume_does_not_stall_it(
    make_series: Callable[..., Path], provider_secrets: None
) -> None:
    """Killed mid-request, then the clock goes back an hour: the resume settles the pending
    batches after its own settle_delay, not an hour later."""
    with running("postmark") as target:
        assert isinstance(target, PostmarkTarget)
        clock_step_back(make_series, target)


def clock_step_back(make_series: Callable[..., Path], target: PostmarkTarget) -> None:
    state = target.state
    state.faults.delay = 2.0
    root = make_series(
        drafts=1,
        subscribers=40,
        delivery=target.delivery().replace(f"settle_delay = {SETTLE_DELAY}", "settle_delay = 1.5"),
    )
    proc = start(root)
    deadline = time.monotonic() + 60
    while not state.accepted and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.communicate(timeout=30)
    assert ledger_counts(root)["pending"] > 0
    conn = sqlite3.connect(root / ".seriespub" / "ledger.db")
    with conn:  # written before the clock went back one hour
        for key, created in conn.execute("SELECT key, created_at FROM batches").fetchall():
            ahead = dt.datetime.fromisoformat(created) + dt.timedelta(hours=1)
            conn.execute(
                "UPDATE batches SET created_at=? WHERE key=?",
                (ahead.isoformat(timespec="seconds"), key),
            )
    conn.close()
    state.faults.delay = 0.0
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "seriespub", "send", "next", "--yes"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert took < 1.5 + 10, took  # its settle_delay, plus a loaded machine's start-up
    copies = target.copies()
    assert len(copies) == 40 and set(copies.values()) == {1}
    assert ledger_counts(root) == {"sent": 40}
    FIGURES.append(Figures("postmark", "clock-1h", 1, 1, duplicates=0, losses=0))
