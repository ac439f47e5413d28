"""A send killed mid-request, then the provider credential set to another account's.

Postmark keeps messages per server (the Server API token chooses the server), Resend its
idempotency keys per team (the API key's account). Asked with the new credential, neither
can tell what the killed run's request did: Postmark's "not found" and Resend's accepted
replay would each send the pending batch again. The resume leaves those readers unknown,
says why in words, and stops there until the author decides, as for any unknown delivery.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import delivery_log, sendgrid_delivery
from fakes.postmark import MAIN, TOKEN, PostmarkState
from fakes.sendgrid import SendgridState
from killed import READERS, killed_resend_send, killed_send, resend_counts
from seriespub.ledger import Ledger

OTHER_SERVER_TOKEN = "pm-token-of-another-server"
OTHER_TEAM_KEY = "re_key_of_another_team"


def key_id(credential: str) -> str:
    """How seriespub names a credential in the ledger and its messages: a short digest."""
    return hashlib.sha256(b"seriespub account\0" + credential.encode()).hexdigest()[:8]


def part_counts(state: PostmarkState) -> Counter[str]:
    return Counter(m["_to"] for m in state.accepted if "Part 1" in m.get("Subject", ""))


def unknown_readers(cli: Callable[..., Any], root: Path) -> set[str]:
    return {a for a, d in delivery_log(cli, root).items() if d["status"] == "unknown"}


def state_bytes(root: Path) -> bytes:
    """Everything seriespub keeps in .seriespub/ (the ledger and its journal, the logs)."""
    return b"".join(p.read_bytes() for p in (root / ".seriespub").rglob("*") if p.is_file())


def test_a_postmark_batch_pending_under_another_servers_token_is_not_resent(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new server has never seen the batch: its search finds nothing, which read as
    "never sent" resent it. Its readers are unknown, the log says another token sent it,
    naming both by digest only, and the send stops until the author decides."""
    with killed_send(make_series, monkeypatch) as (root, state, pending):
        state.tokens[OTHER_SERVER_TOKEN] = "another server"
        monkeypatch.setenv("POSTMARK_SERVER_TOKEN", OTHER_SERVER_TOKEN)
        resumed = cli(root, "send", "next", "--yes")
        again = cli(root, "send", "next", "--yes")
        held_back = part_counts(state)
        logged = " ".join(cli(root, "log", "1", "--unknown").output.split())
        unknown = unknown_readers(cli, root)
        assert cli(root, "send", "settle", "1", "--assume-delivered").exit_code == 0
        assert cli(root, "send", "next", "--yes").exit_code == 0
        counts = part_counts(state)
    assert held_back == Counter(pending), "a reader of the pending batch got part 1 twice"
    assert unknown == pending
    assert resumed.exit_code == 1 and again.exit_code == 1
    assert f"part 1 has {len(pending)} deliveries whose outcome is unknown" in resumed.output
    assert "outcome is unknown" in again.output
    assert (
        f"sent with another POSTMARK_SERVER_TOKEN (key #{key_id(TOKEN)}) than the one set "
        f"now (key #{key_id(OTHER_SERVER_TOKEN)})"
    ) in logged, logged
    assert len(counts) == READERS and set(counts.values()) == {1}
    stored = state_bytes(root)
    assert TOKEN.encode() not in stored and OTHER_SERVER_TOKEN.encode() not in stored


def test_a_resend_batch_pending_under_another_teams_key_is_not_replayed(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another team's key: Resend takes the replayed request as a new one and sends it."""
    with killed_resend_send(make_series, monkeypatch) as (root, state, pending):
        old_key = state.api_key
        state.keys[OTHER_TEAM_KEY] = "another team"
        monkeypatch.setenv("RESEND_API_KEY", OTHER_TEAM_KEY)
        resumed = cli(root, "send", "next", "--yes")
        counts = resend_counts(state)
    assert resumed.exit_code == 1, resumed.output
    logged = " ".join(cli(root, "log", "1", "--unknown").output.split())
    assert set(counts.values()) == {1}, "a reader of the pending batch got part 1 twice"
    assert unknown_readers(cli, root) == pending
    assert f"{len(pending)} deliveries whose outcome is unknown" in resumed.output
    assert f"another RESEND_API_KEY (key #{key_id(old_key)})" in logged, logged
    stored = state_bytes(root)
    assert old_key.encode() not in stored and OTHER_TEAM_KEY.encode() not in stored


def test_a_rotated_token_of_the_same_server_is_unknown_and_says_how_to_decide(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new token of the same server cannot be told from another server's: the safe
    side. The log says what to type (the author can see in Postmark's activity)."""
    with killed_send(make_series, monkeypatch) as (root, state, pending):
        state.tokens["pm-rotated-token"] = MAIN
        monkeypatch.setenv("POSTMARK_SERVER_TOKEN", "pm-rotated-token")
        assert cli(root, "send", "next", "--yes").exit_code == 1
        assert unknown_readers(cli, root) == pending
        logged = " ".join(cli(root, "log", "1", "--unknown").output.split())
        assert "seriespub send settle 1 --assume-delivered" in logged, logged
        assert "seriespub send retry 1 --unknown" in logged, logged
        assert cli(root, "send", "settle", "1", "--assume-delivered").exit_code == 0
        assert cli(root, "send", "next", "--yes").exit_code == 0
        counts = part_counts(state)
    assert len(counts) == READERS and set(counts.values()) == {1}


def test_a_batch_recorded_without_a_key_digest_settles_as_before(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger row from a seriespub that recorded the route without the key's digest:
    nothing to compare the key with, so the batch is asked about as it always was."""
    with killed_send(make_series, monkeypatch) as (root, state, _):
        url = re.search(r'api_url = "([^"]*)"', (root / "seriespub.toml").read_text())
        assert url is not None
        conn = sqlite3.connect(root / ".seriespub" / "ledger.db")
        with conn:
            conn.execute(
                "UPDATE batches SET provider=? WHERE settled=0",
                (f"postmark via {url[1]} stream outbound",),
            )
        conn.close()
        resumed = cli(root, "send", "next", "--yes")
        counts = part_counts(state)
    assert resumed.exit_code == 0, resumed.output
    assert len(counts) == READERS and set(counts.values()) == {1}
    assert not unknown_readers(cli, root)


def test_a_sendgrid_batch_pending_is_unknown_whatever_the_key(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    sendgrid: tuple[str, SendgridState],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SendGrid cannot be asked (nor can SMTP, SES or Mailgun: `can_settle` is False): a
    pending batch is unknown on the resume, whichever account's key is set now."""
    url, state = sendgrid
    root = make_series(drafts=1, subscribers=3, delivery=sendgrid_delivery(url))
    with Ledger.open(root / ".seriespub" / "ledger.db") as ledger:  # what a kill leaves
        ledger.begin_batch(1, "001-killed", "sendgrid", ["reader0001@example.com"], route=url)
    state.key = "SG.key-of-another-account"
    monkeypatch.setenv("SENDGRID_API_KEY", state.key)
    resumed = cli(root, "send", "next", "--yes")
    assert resumed.exit_code == 1, resumed.output
    assert "error: part 1 has 1 deliveries whose outcome is unknown" in resumed.output
    assert unknown_readers(cli, root) == {"reader0001@example.com"}
    assert not state.accepted, "sent on while a delivery was unknown"
