"""Real DSNs: a real Postfix on 127.0.0.1 accepts a message for a mailbox it does not have,
bounces it to the VERP envelope sender (`[delivery.smtp] bounce_address`), and the DSN it
wrote is read from a real Dovecot by `subscribers sync`: the reader is bounced and the
delivery failed in the ledger. Skipped where Postfix or Dovecot cannot run."""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_SECRET, delivery_log
from fakes import dovecot as dovecot_fake
from fakes import postfix as postfix_fake
from fakes.dovecot import Dovecot, running_dovecot
from fakes.postfix import DOMAIN, MAILBOXES, PASSWORD, USER, Postfix, running_postfix
from seriespub.inbox.classify import Bounce, Lookup, classify, parse
from seriespub.message import UnsubscribeKey

_WHY = postfix_fake.unavailable() or dovecot_fake.unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_WHY is not None, reason=str(_WHY))]

KEY = UnsubscribeKey(TEST_SECRET.encode())
DEAD = f"dead@{DOMAIN}"
LIVE = f"ann@{DOMAIN}"


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    """Postfix that takes mail for unknown mailboxes and bounces it later, as a relay does,
    and files `author+anything@` in the author's mailbox."""
    with running_postfix((*MAILBOXES, "author")) as running:
        config = str(running.config)
        subprocess.run(
            [
                "postconf",
                "-c",
                config,
                "-e",
                "smtpd_reject_unlisted_recipient = no",
                "recipient_delimiter = +",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(["postfix", "-c", config, "reload"], check=True, capture_output=True)
        yield running


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot() as running:
        yield running


@pytest.fixture(scope="module")
def sent(
    postfix: Postfix,
    dovecot: Dovecot,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, bytes]:
    """A series that sent part 1 to LIVE and DEAD through Postfix; the DSN Postfix wrote."""
    from typer.testing import CliRunner

    from seriespub.cli import app

    root = tmp_path_factory.mktemp("dsn") / "series"
    (root / "drafts").mkdir(parents=True)
    (root / "drafts" / "01-one.md").write_text("---\ntitle: One\nstatus: ready\n---\nHello\n")
    (root / "seriespub.toml").write_text(
        f'[series]\ntitle = "T"\nfrom = "Author <author@{DOMAIN}>"\n'
        f'[delivery]\nprovider = "smtp"\n[delivery.smtp]\nhost = "127.0.0.1"\n'
        f'port = {postfix.port}\nsecurity = "starttls"\nusername = "{USER}"\n'
        f'ca_file = "{postfix.ca.ca_cert}"\nbounce_address = "author+bounce-{{token}}@{DOMAIN}"\n'
        f'[inbox]\nhost = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "starttls"\n'
        f'username = "{dovecot_fake.USER}"\nca_file = "{dovecot.ca.ca_cert}"\n'
    )
    with open(root / "subscribers.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(
            [["email", "name", "status"], [LIVE, "Ann", "active"], [DEAD, "Dead", "active"]]
        )
    env = {
        "SMTP_PASSWORD": PASSWORD,
        "SERIESPUB_SECRET": TEST_SECRET,
        "IMAP_PASSWORD": dovecot_fake.PASSWORD,
    }
    result = CliRunner().invoke(
        app, ["send", "next", "--yes", "--series", str(root)], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    [bounce] = postfix.wait_for("author", 1)
    return root, bounce.as_bytes()


def test_postfix_bounces_to_the_verp_address(sent: tuple[Path, bytes]) -> None:
    _, raw = sent
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/report"
    token = KEY.token(DEAD)
    assert f"author+bounce-{token}@{DOMAIN}" in str(msg["To"])


def test_the_real_dsn_names_the_reader_and_a_permanent_failure(
    sent: tuple[Path, bytes],
) -> None:
    _, raw = sent
    lookup = Lookup(
        {KEY.token(a): a for a in (LIVE, DEAD)}.get, lambda a: a if a in (LIVE, DEAD) else None
    )
    [outcome] = classify(raw, lookup)
    assert isinstance(outcome, Bounce)
    assert (outcome.email, outcome.permanent, outcome.instalment) == (DEAD, True, 1)
    assert "5.1.1" in outcome.reason


def test_a_mangled_real_dsn_still_maps_by_the_verp_token(sent: tuple[Path, bytes]) -> None:
    _, raw = sent
    head, _, _ = raw.partition(b"\n\n")
    # A relay that rewrote the report into one line of text and dropped the attachments.
    lines = [
        line
        for line in head.split(b"\n")
        if not line.lower().startswith((b"content-type", b"mime-version", b"\t", b" "))
    ]
    mangled = b"\n".join(lines) + b"\n\nYour mail could not be delivered: 550 5.1.1 gone\n"
    lookup = Lookup({KEY.token(DEAD): DEAD}.get, lambda a: None)
    [outcome] = classify(mangled, lookup)
    assert isinstance(outcome, Bounce) and outcome.email == DEAD and outcome.permanent


def test_sync_reads_the_postfix_dsn_from_dovecot(
    sent: tuple[Path, bytes],
    dovecot: Dovecot,
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, raw = sent
    dovecot.append(raw)
    monkeypatch.setenv("IMAP_PASSWORD", dovecot_fake.PASSWORD)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    log = delivery_log(cli, root)
    assert log[DEAD]["status"] == "failed" and "5.1.1" in log[DEAD]["reason"]
    assert log[LIVE]["status"] == "sent"
    with open(root / "subscribers.csv") as handle:
        rows = {r["email"]: r["status"] for r in csv.DictReader(handle)}
    assert rows == {LIVE: "active", DEAD: "bounced"}
    assert dovecot.folder_flags("INBOX") == []
