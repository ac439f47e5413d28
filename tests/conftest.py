"""Shared fixtures: every test gets its own series folder and a clean environment."""

from __future__ import annotations

import csv
import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fakes.dovecot import PASSWORD as IMAP_PASSWORD
from fakes.dovecot import Dovecot, running_dovecot
from fakes.httpserver import serve
from fakes.postmark import TOKEN as POSTMARK_TOKEN
from fakes.postmark import PostmarkHandler, PostmarkState
from fakes.resend import ResendState, fake_resend
from fakes.sendgrid import API_KEY as SENDGRID_KEY
from fakes.sendgrid import SendgridHandler, SendgridState
from seriespub.config import NOT_SECRET, known_secrets

RESEND_KEY = "re_cli_key"
TEST_SECRET = "test-secret-" + "0123456789abcdef" * 2  # the unsubscribe key of every test

# Every provider's secrets (from the specs), the settings read from the environment too,
# and what botocore would otherwise pick up from the machine.
SECRET_VARS = (*known_secrets(), *sorted(NOT_SECRET), "AWS_PROFILE")

DRAFT = """---
title: {title}
status: {status}
preheader: A short line shown in the inbox
---
Hello {{{{ name | default("reader") }}}},

This is **part {number}** of the series, with a [link](https://example.com/part-{number}).

- one
- two
"""


def pytest_configure(config: pytest.Config) -> None:
    """The suite started as a script's background job (`cmd &`) inherits SIGINT ignored, and
    so would every process a test starts: seriespub keeps an ignored signal ignored (as
    `nohup` asks), and the Ctrl-C tests would wait for a stop that never comes. The tests'
    own processes get Ctrl-C as from a terminal."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # A process a test starts that dies of a fatal signal (SIGSEGV) prints where each of its
    # threads was: the failure says more than "returncode -11".
    os.environ.setdefault("PYTHONFAULTHANDLER", "1")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No secret or provider setting leaks in from the machine; HOME points at tmp."""
    for name in SECRET_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("SERIESPUB_SECRET", TEST_SECRET)
    # Secrets read by an earlier in-process test must not be scrubbed from this one's output.
    from seriespub import redact

    redact.forget_all()


@pytest.fixture(autouse=True)
def close_providers() -> Iterator[None]:
    """Every provider a test built with `build_provider` is closed after it."""
    yield
    from fakes.messages import BUILT

    while BUILT:
        BUILT.pop().close()


def postmark_delivery(url: str, settle_delay: float | None = 0, **delivery: object) -> str:
    """The `[delivery]` tables of a series sending through the Postmark fake at `url`
    (the outbound stream, so no unsubscribe-stream look-up); `delivery` adds settings such
    as batch_size, concurrency or max_retry_seconds."""
    extra = "".join(f"{key} = {value}\n" for key, value in delivery.items())
    settle = "" if settle_delay is None else f"settle_delay = {settle_delay}\n"
    return (
        f'[delivery]\nprovider = "postmark"\n{extra}[delivery.postmark]\napi_url = "{url}"\n'
        f'message_stream = "outbound"\n{settle}'
    )


def sendgrid_delivery(url: str) -> str:
    """The `[delivery]` tables of a series sending through the SendGrid fake at `url`."""
    return f'[delivery]\nprovider = "sendgrid"\n[delivery.sendgrid]\napi_url = "{url}"\n'


def write_subscribers(
    path: Path,
    count: int,
    *,
    domain: str = "example.com",
    extra: list[dict[str, str]] | None = None,
) -> list[str]:
    """Write `count` active subscribers (reader0001@…); returns their addresses."""
    rows = [
        {
            "email": f"reader{i:04d}@{domain}",
            "name": f"Reader {i}",
            "status": "active",
            "subscribed_at": "2026-01-01",
        }
        for i in range(1, count + 1)
    ]
    rows += extra or []
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["email", "name", "status", "subscribed_at"])
        writer.writeheader()
        writer.writerows(rows)
    return [r["email"] for r in rows]


@pytest.fixture
def make_series(tmp_path: Path) -> Callable[..., Path]:
    """Build a series folder: seriespub.toml (+ extra TOML), N ready drafts, M subscribers."""

    def build(
        *,
        drafts: int = 2,
        subscribers: int = 3,
        delivery: str = "",
        extra_toml: str = "",
        ready: int | None = None,
        name: str = "series",
    ) -> Path:
        root = tmp_path / name
        (root / "drafts").mkdir(parents=True)
        toml = (
            '[series]\ntitle = "Test Series"\nfrom = "Author <author@example.com>"\n'
            'unsubscribe_url = "https://example.com/unsubscribe?token={token}"\n\n'
            + (delivery or '[delivery]\nprovider = "outbox"\n')
            + "\n"
            + extra_toml
        )
        (root / "seriespub.toml").write_text(toml, encoding="utf-8")
        ready = drafts if ready is None else ready
        for n in range(1, drafts + 1):
            status = "ready" if n <= ready else "draft"
            (root / "drafts" / f"{n:02d}-part-{n}.md").write_text(
                DRAFT.format(title=f"Part {n} title", status=status, number=n), encoding="utf-8"
            )
        write_subscribers(root / "subscribers.csv", subscribers)
        return root

    return build


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """Run the real CLI in-process: cli(series_dir, "send", "next", "--yes")."""
    from seriespub.cli import app

    runner = CliRunner()

    def invoke(series: Path, *args: str, input: str | None = None) -> object:
        monkeypatch.chdir(series)
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


# Local fakes of the mail APIs, each with its secret set: (base_url, state).
@pytest.fixture
def postmark(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, PostmarkState]]:
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", POSTMARK_TOKEN)
    with serve(PostmarkHandler, PostmarkState()) as running:
        yield running


@pytest.fixture
def sendgrid(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, SendgridState]]:
    monkeypatch.setenv("SENDGRID_API_KEY", SENDGRID_KEY)
    with serve(SendgridHandler, SendgridState()) as running:
        yield running


@pytest.fixture
def resend(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ResendState]]:
    monkeypatch.setenv("RESEND_API_KEY", RESEND_KEY)
    with fake_resend(ResendState(api_key=RESEND_KEY)) as running:
        yield running


def ok(result: Any) -> Any:
    """A CLI result that must have succeeded (its output in the failure), passed through."""
    assert result.exit_code == 0, result.output
    return result


def due_now(cli: Callable[..., Any], root: Path) -> bool:
    """Whether `status` says the next `send due` sends something now, before the next slot
    (a slot passed unsent, a reader back since it, a part written after its slot)."""
    result = cli(root, "status", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["readers"]["due_now"] is not None


def set_active(root: Path, address: str) -> None:
    """The author sets a reader who asked to come back to active by hand (`subscribers add`
    will not), editing their row of subscribers.csv."""
    path = root / "subscribers.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    mine = [i for i, line in enumerate(lines) if line.startswith(address + ",")]
    assert len(mine) == 1 and ",unsubscribed," in lines[mine[0]], lines
    lines[mine[0]] = lines[mine[0]].replace(",unsubscribed,", ",active,")
    path.write_text("".join(lines), encoding="utf-8")


def parts_by_reader(messages: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Address → the parts of the Postmark fake's accepted `messages` (their `part-N` tag)
    addressed to it, in the order accepted."""
    got: dict[str, list[int]] = {}
    for message in messages:
        got.setdefault(message["_to"], []).append(int(message["Tag"].split("-")[1]))
    return got


def delivery_log(
    cli: Callable[..., Any],
    root: Path,
    number: int = 1,
) -> dict[str, dict[str, Any]]:
    """`seriespub log N --json` as address → delivery record."""
    result = cli(root, "log", str(number), "--json")
    assert result.exit_code == 0, result.output
    return {d["email"]: d for d in json.loads(result.stdout)["deliveries"]}


# A real Dovecot for the inbox tests (started once per module that asks).
@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot() as running:
        yield running


@pytest.fixture
def inbox(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Dovecot:
    """An empty INBOX and no done folder; IMAP_PASSWORD set."""
    conn = dovecot.connect()
    try:
        _, data = conn.select("INBOX")
        if data[0] != b"0":
            conn.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
            conn.expunge()
        conn.delete('"seriespub"')
    finally:
        conn.logout()
    monkeypatch.setenv("IMAP_PASSWORD", IMAP_PASSWORD)
    return dovecot


def seriespub_process(root: Path, *args: str, output: bool = False) -> subprocess.Popen[bytes]:
    """`seriespub ARGS` as a real process in `root`, running this checkout's sources
    (stdout and stderr piped with `output`, else discarded)."""
    src = str(Path(__file__).parents[1] / "src")
    path = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH", "")]))
    stream = subprocess.PIPE if output else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "seriespub", *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": path},
        stdout=stream,
        stderr=stream,
    )


def rewrite_in_place_of(path: Path) -> None:
    """What `subscribers import` or an editor's save does: a new file under the same name."""
    fresh = path.with_suffix(".new")
    fresh.write_bytes(path.read_bytes())
    fresh.replace(path)


def rewritten_mid_read(monkeypatch: pytest.MonkeyPatch, path: Path, times: int) -> list[int]:
    """Replace the list at `path` under each of the first `times` reads of it, once its first
    row has been read (`subscribers.iter_subscribers`, or `active_joined`: a plan's pass);
    returns [reads so far]."""
    from seriespub import subscribers

    reads = [0]

    def rewriting(real: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def read(*args: Any, **kwargs: Any) -> Iterator[Any]:
            reads[0] += 1
            for number, row in enumerate(real(*args, **kwargs)):
                yield row
                if number == 0 and reads[0] <= times:
                    rewrite_in_place_of(path)

        return read

    for name in ("iter_subscribers", "active_joined"):
        monkeypatch.setattr(subscribers, name, rewriting(getattr(subscribers, name)))
    return reads


@pytest.fixture(autouse=True)
def _lookups_stay_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Name look-ups in this process reach only 127.0.0.1 (and ::1, `localhost`), in every
    test: no code path, ours or a library's (smtplib's and aiosmtpd's `getfqdn()` were one),
    sends a DNS query off this machine. A refused look-up fails as an unknown name would.
    Returns the names it refused."""
    refused: list[str] = []
    real_info, real_addr = socket.getaddrinfo, socket.gethostbyaddr
    real_name, real_name_ex = socket.gethostbyname, socket.gethostbyname_ex

    def allowed(host: Any) -> bool:
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
        if name is None or name == "localhost" or _loopback(str(name)):
            return True
        refused.append(str(name))
        return False

    def guard(real: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not allowed(host):
                raise socket.gaierror(socket.EAI_NONAME, f"{host}: the tests reach only 127.0.0.1")
            return real(host, *args, **kwargs)

        return guarded

    for name, real in (
        ("getaddrinfo", real_info),
        ("gethostbyaddr", real_addr),
        ("gethostbyname", real_name),
        ("gethostbyname_ex", real_name_ex),
    ):
        monkeypatch.setattr(socket, name, guard(real))
    return refused


@pytest.fixture
def loopback_only(_lookups_stay_on_this_machine: list[str]) -> list[str]:
    """The names this test tried to look up off this machine, refused (every test is held to
    loopback: `_lookups_stay_on_this_machine`); a test that feeds the CLI hostile settings (a
    fuzzer's `api_url` or `inbox.host`) asserts on it."""
    return _lookups_stay_on_this_machine


def _loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _close_what_tests_left() -> Iterator[None]:
    """Ledgers helpers handed to the test open (`sqlitefile.closed_after_test`), closed."""
    from sqlitefile import close_what_tests_left

    yield
    close_what_tests_left()
