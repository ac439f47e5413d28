"""The ledger remembers which unsubscribe key a series sent with: a send with another key is
refused (readers' links would stop working), until the author changes keys on purpose."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_SECRET
from seriespub.message import UnsubscribeKey

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]

KEY_B = "another-key-" + "fedcba9876543210" * 2


def outbox_files(root: Path) -> list[str]:
    outbox = root / ".seriespub" / "outbox"
    return sorted(str(p.relative_to(outbox)) for p in outbox.rglob("*") if p.is_file())


def ledger_dump(root: Path) -> list[str]:
    conn = sqlite3.connect(root / ".seriespub" / "ledger.db")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def recorded_print(root: Path) -> str | None:
    conn = sqlite3.connect(root / ".seriespub" / "ledger.db")
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='unsubscribe_key'").fetchone()
    finally:
        conn.close()
    return row[0] if row else None


def sent_with_key_a(make_series: MakeSeries, cli: Cli, parts: int = 1) -> Path:
    root = make_series(drafts=4, subscribers=2)
    for _ in range(parts):
        result = cli(root, "send", "next", "--yes")
        assert result.exit_code == 0, result.output
    return root


def refused(result: Any, parts: str) -> None:
    assert result.exit_code == 1, result.output
    assert (
        f"error: the unsubscribe key (SERIESPUB_SECRET) differs from the one {parts} "
        "sent with: readers' unsubscribe links would stop working" in result.stderr
    )
    assert "--new-unsubscribe-key" in result.stderr  # how to change keys on purpose
    assert "Traceback" not in result.output


def test_a_send_with_another_key_is_refused_and_changes_nothing(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sent_with_key_a(make_series, cli, parts=2)
    before, ledger = outbox_files(root), ledger_dump(root)
    assert recorded_print(root) is not None
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    result = cli(root, "send", "next", "--yes")
    refused(result, "parts 1–2 were")
    assert outbox_files(root) == before
    assert ledger_dump(root) == ledger
    for args in (("send", "retry", "--yes"), ("send", "test", "--to", "me@example.org")):
        refused(cli(root, *args), "parts 1–2 were")
    assert outbox_files(root) == before and ledger_dump(root) == ledger
    assert KEY_B not in result.output and TEST_SECRET not in result.output


def test_send_due_from_cron_is_refused_too(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(
        drafts=3,
        subscribers=2,
        extra_toml='[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "UTC"\n',
    )
    assert cli(root, "send", "next", "--yes").exit_code == 0
    before, ledger = outbox_files(root), ledger_dump(root)
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    refused(cli(root, "send", "due"), "part 1 was")
    assert outbox_files(root) == before and ledger_dump(root) == ledger


def test_after_the_explicit_change_it_sends_and_the_old_key_is_refused(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sent_with_key_a(make_series, cli)
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    result = cli(root, "send", "next", "--yes", "--new-unsubscribe-key")
    assert result.exit_code == 0, result.output
    assert "002/" in " ".join(outbox_files(root))  # part 2 went out
    assert "unsubscribe key changed" in result.stderr  # said, not silent
    assert cli(root, "send", "next", "--yes").exit_code == 0  # part 3: the new key is the key
    monkeypatch.setenv("SERIESPUB_SECRET", TEST_SECRET)
    refused(cli(root, "send", "next", "--yes"), "parts 1–3 were")


def test_a_ledger_from_before_the_record_records_the_key_without_complaint(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sent_with_key_a(make_series, cli)
    conn = sqlite3.connect(root / ".seriespub" / "ledger.db")
    conn.execute("DELETE FROM meta WHERE key='unsubscribe_key'")  # as an older seriespub left it
    conn.commit()
    conn.close()
    assert cli(root, "check").exit_code == 0  # nothing to compare with: no error
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert "unsubscribe key" not in result.output
    assert recorded_print(root) is not None
    monkeypatch.setenv("SERIESPUB_SECRET", TEST_SECRET)  # from now on the ledger knows B
    refused(cli(root, "send", "next", "--yes"), "parts 1–2 were")


def test_check_reports_the_other_key_as_an_error_and_writes_nothing(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sent_with_key_a(make_series, cli)
    assert cli(root, "check").exit_code == 0
    ledger = ledger_dump(root)
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    result = cli(root, "check")
    assert result.exit_code == 1, result.output
    assert "the unsubscribe key (SERIESPUB_SECRET) differs from the one part 1 was" in (
        result.output
    )
    assert ledger_dump(root) == ledger


def test_a_dry_run_warns_in_one_line(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sent_with_key_a(make_series, cli)
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    result = cli(root, "send", "next", "--dry-run")
    assert result.exit_code == 0, result.output
    warnings = [ln for ln in result.stderr.splitlines() if "unsubscribe key" in ln]
    assert len(warnings) == 1 and warnings[0].startswith("warning: "), result.stderr
    assert "a real send would be refused" in warnings[0]


def test_a_checkout_without_the_key_is_refused_and_makes_no_new_key(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERIESPUB_SECRET")
    root = sent_with_key_a(make_series, cli)  # the key generated into .seriespub/secret
    key_file = root / ".seriespub" / "secret"
    key_file.unlink()  # a CI checkout: the ledger is committed, the key is not
    ledger = ledger_dump(root)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1, result.output
    assert (
        "error: no unsubscribe key here (SERIESPUB_SECRET is not set and .seriespub/secret "
        "is missing), but part 1 was sent with one" in result.stderr
    )
    assert not key_file.exists()  # a new key would have broken every link
    assert ledger_dump(root) == ledger
    assert cli(root, "check").exit_code == 1


def test_the_fingerprint_is_not_the_key_and_never_shown(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sent_with_key_a(make_series, cli)
    recorded = recorded_print(root)
    assert recorded is not None and len(recorded) == 16
    raw = (root / ".seriespub" / "ledger.db").read_bytes()
    assert TEST_SECRET.encode() not in raw
    tokens = "".join(p.read_text() for p in (root / ".seriespub" / "outbox").rglob("*.eml"))
    assert recorded not in tokens  # not any reader's token, nor part of one
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    for args in (("send", "next", "--yes"), ("send", "next", "--dry-run"), ("check",)):
        result = cli(root, *args)
        assert recorded[:8] not in result.output


# -- the tokens of an unsubscribe endpoint ----------------------------------------------------
def test_an_old_token_under_another_key_is_refused_saying_why(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sent_with_key_a(make_series, cli)
    token = UnsubscribeKey(TEST_SECRET.encode()).token("reader0002@example.com")
    assert cli(root, "subscribers", "verify", "reader0002@example.com", token).exit_code == 0
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    before = (root / "subscribers.csv").read_text()
    for command in ("verify", "unsubscribe-token"):
        result = cli(root, "subscribers", command, "reader0002@example.com", token)
        assert result.exit_code == 1, result.output
        assert (
            "error: the token does not match reader0002@example.com: the unsubscribe key "
            "(SERIESPUB_SECRET) differs from the one part 1 was sent with" in result.stderr
        )
        assert "hint: set the key the series sent with" in result.stderr
    assert (root / "subscribers.csv").read_text() == before


def test_verifying_a_token_makes_no_key(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERIESPUB_SECRET")
    root = make_series()
    result = cli(root, "subscribers", "verify", "reader0002@example.com", "0" * 32)
    assert result.exit_code == 1 and "does not match" in result.output
    assert not (root / ".seriespub" / "secret").exists()  # a new key matches no token sent


def test_cron_changes_keys_with_send_due_even_when_nothing_is_due(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    far = '[schedule]\nfirst_release = 2099-01-06T09:00:00\ntimezone = "UTC"\n'
    root = make_series(drafts=2, subscribers=2, extra_toml=far)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    result = cli(root, "send", "due")
    assert result.exit_code == 1
    assert "hint:" in result.stderr and "seriespub send due --new-unsubscribe-key" in result.stderr
    accepted = cli(root, "send", "due", "--new-unsubscribe-key")
    assert accepted.exit_code == 0, accepted.output
    assert "Nothing is due" in accepted.stderr
    assert "unsubscribe key changed on purpose" in accepted.stderr
    assert cli(root, "send", "due").exit_code == 0  # the next tick: the new key is the key


# -- old links after a key change: SERIESPUB_SECRET_PREVIOUS, .seriespub/secret.previous ------
READER = "reader0002@example.com"


def rotated_to_b(make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Part 1 sent under TEST_SECRET (key A), part 2 under KEY_B after the explicit change."""
    root = sent_with_key_a(make_series, cli)
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    result = cli(root, "send", "next", "--yes", "--new-unsubscribe-key")
    assert result.exit_code == 0, result.output
    return root


def statuses(root: Path) -> dict[str, str]:
    lines = (root / "subscribers.csv").read_text().splitlines()[1:]
    return {ln.split(",")[0]: ln.split(",")[2] for ln in lines}


def test_an_old_token_unsubscribes_after_a_change_with_the_old_key_as_previous(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = rotated_to_b(make_series, cli, monkeypatch)
    old = UnsubscribeKey(TEST_SECRET.encode()).token(READER)
    other = "spare-old-key-" + "5" * 40
    monkeypatch.setenv("SERIESPUB_SECRET_PREVIOUS", f"{other}, {TEST_SECRET}")
    assert cli(root, "subscribers", "verify", READER, old).exit_code == 0
    new = UnsubscribeKey(KEY_B.encode()).token(READER)
    assert cli(root, "subscribers", "verify", READER, new).exit_code == 0
    forged = cli(root, "subscribers", "verify", "reader0001@example.com", old)
    assert forged.exit_code == 1  # an old key verifies its own reader's token only
    result = cli(root, "subscribers", "unsubscribe-token", READER, old)
    assert result.exit_code == 0, result.output
    assert statuses(root)[READER] == "unsubscribed"
    assert TEST_SECRET not in result.output and other not in result.output


def test_previous_keys_come_from_dotenv_too_and_never_make_a_token(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = rotated_to_b(make_series, cli, monkeypatch)
    (root / ".env").write_text(f"SERIESPUB_SECRET_PREVIOUS={TEST_SECRET}\n")
    assert cli(root, "send", "next", "--yes").exit_code == 0  # part 3, under B
    sent = "".join(p.read_text() for p in (root / ".seriespub" / "outbox" / "003").rglob("*.eml"))
    assert UnsubscribeKey(KEY_B.encode()).token(READER) in sent
    assert UnsubscribeKey(TEST_SECRET.encode()).token(READER) not in sent
    old = UnsubscribeKey(TEST_SECRET.encode()).token(READER)
    assert cli(root, "subscribers", "verify", READER, old).exit_code == 0


def test_without_the_old_key_an_old_token_is_refused_saying_how_to_keep_it(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sent_with_key_a(make_series, cli)
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    result = cli(root, "send", "next", "--yes", "--new-unsubscribe-key")
    assert result.exit_code == 0, result.output
    assert "SERIESPUB_SECRET_PREVIOUS" in result.stderr  # the warning says how to keep them
    old = UnsubscribeKey(TEST_SECRET.encode()).token(READER)
    before = statuses(root)
    refused = cli(root, "subscribers", "unsubscribe-token", READER, old)
    assert refused.exit_code == 1
    assert "the unsubscribe key was changed on purpose" in refused.stderr
    assert "SERIESPUB_SECRET_PREVIOUS" in refused.stderr
    assert "hint: set the key the series sent with" not in refused.stderr  # it is set
    assert statuses(root) == before


def test_the_refusal_of_another_key_says_how_to_keep_old_links(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sent_with_key_a(make_series, cli)
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1
    assert "SERIESPUB_SECRET_PREVIOUS" in result.stderr.split("hint:")[1]


def test_a_weak_previous_key_is_refused_by_name_without_showing_it(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sent_with_key_a(make_series, cli)
    monkeypatch.setenv("SERIESPUB_SECRET_PREVIOUS", f"{TEST_SECRET} shortkey1")
    result = cli(root, "subscribers", "verify", READER, "0" * 32)
    assert result.exit_code == 1
    assert "error: SERIESPUB_SECRET_PREVIOUS: key 2 has 9 bytes" in result.stderr
    assert "shortkey1" not in result.output and "Traceback" not in result.output


def test_a_generated_key_replaced_on_purpose_is_kept_for_old_links(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERIESPUB_SECRET")
    root = sent_with_key_a(make_series, cli)
    key_file = root / ".seriespub" / "secret"
    old_key = key_file.read_bytes().strip()
    result = cli(root, "send", "next", "--yes", "--new-unsubscribe-key")
    assert result.exit_code == 0, result.output
    new_key = key_file.read_bytes().strip()
    assert new_key != old_key and len(new_key) >= 32  # a new key, really
    kept = root / ".seriespub" / "secret.previous"
    assert kept.read_bytes().split() == [old_key]
    assert kept.stat().st_mode & 0o777 == 0o600
    assert old_key.decode() not in result.output and new_key.decode() not in result.output
    sent = "".join(p.read_text() for p in (root / ".seriespub" / "outbox" / "002").rglob("*.eml"))
    assert UnsubscribeKey(new_key).token(READER) in sent
    old = UnsubscribeKey(old_key).token(READER)
    assert cli(root, "subscribers", "unsubscribe-token", READER, old).exit_code == 0
    assert statuses(root)[READER] == "unsubscribed"
    assert cli(root, "send", "next", "--yes").exit_code == 0  # the new key is the key now


# -- send test: its links are real, so it records the key as any real send ------------------
def test_a_send_test_before_anything_else_records_the_key(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERIESPUB_SECRET")
    root = make_series(drafts=2, subscribers=2)
    result = cli(root, "send", "test", "--to", "author@example.com")
    assert result.exit_code == 0, result.output
    key = (root / ".seriespub" / "secret").read_bytes().strip()
    assert recorded_print(root) == UnsubscribeKey(key).fingerprint()
    token = UnsubscribeKey(key).token("author@example.com")
    sent = "".join(p.read_text() for p in (root / ".seriespub" / "outbox").rglob("*.eml"))
    assert token in sent  # the test's links are the real ones
    assert cli(root, "subscribers", "verify", "author@example.com", token).exit_code == 0
    assert cli(root, "send", "next", "--yes").exit_code == 0
    assert recorded_print(root) == UnsubscribeKey(key).fingerprint()  # the same key, kept


def test_a_send_test_beside_a_running_send_still_goes_out(
    make_series: MakeSeries, cli: Cli
) -> None:
    from seriespub.lock import series_lock

    root = make_series(drafts=2, subscribers=2)
    with series_lock(root / ".seriespub", "send next"):  # a long send holds the series
        result = cli(root, "send", "test", "--to", "author@example.com")
    assert result.exit_code == 0, result.output
    assert cli(root, "send", "next", "--yes").exit_code == 0
    assert recorded_print(root) == UnsubscribeKey(TEST_SECRET.encode()).fingerprint()


def test_check_reports_a_weak_previous_key_without_showing_it(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sent_with_key_a(make_series, cli)
    monkeypatch.setenv("SERIESPUB_SECRET_PREVIOUS", "shortkey1")
    result = cli(root, "check")
    assert result.exit_code == 1, result.output
    assert "error SERIESPUB_SECRET_PREVIOUS: key 1 has 9 bytes" in result.output
    assert "shortkey1" not in result.output and "Traceback" not in result.output


def test_moving_from_a_generated_key_to_seriespub_secret_says_the_old_links_are_kept(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The series sent with its generated .seriespub/secret; the author now sets
    SERIESPUB_SECRET (for cron or CI). The refusal does not send them to copy the old key
    into SERIESPUB_SECRET_PREVIOUS: the option keeps the generated one itself, and the
    old links keep working once it is given."""
    monkeypatch.delenv("SERIESPUB_SECRET")
    root = sent_with_key_a(make_series, cli)
    old = UnsubscribeKey((root / ".seriespub" / "secret").read_bytes().strip()).token(READER)
    monkeypatch.setenv("SERIESPUB_SECRET", KEY_B)
    result = cli(root, "send", "next", "--yes")
    hint = result.stderr.split("hint:")[1]
    assert "SERIESPUB_SECRET_PREVIOUS" not in hint, hint
    assert (
        "the links already sent keep working: the key in .seriespub/secret they were made "
        "with is kept as a previous key" in " ".join(hint.split())
    ), hint
    ok = cli(root, "send", "next", "--yes", "--new-unsubscribe-key")
    assert ok.exit_code == 0, ok.output
    assert cli(root, "subscribers", "verify", READER, old).exit_code == 0
