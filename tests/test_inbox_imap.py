"""`subscribers sync` and `send` reading a real Dovecot IMAP server on 127.0.0.1: the
three security modes, what is moved and what is left (unread state included), idempotence,
ledger marks, temporary bounces, forged requests and malformed reports. One Dovecot serves
the module; each test empties its mailbox first. Skipped where Dovecot cannot run."""

from __future__ import annotations

import csv
import email
import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_SECRET, delivery_log
from fakes.dovecot import PASSWORD, USER, Dovecot, unavailable
from seriespub.message import UnsubscribeKey

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(unavailable() is not None, reason=str(unavailable())),
]

CORPUS = Path(__file__).parent / "bounces"
KEY = UnsubscribeKey(TEST_SECRET.encode())
Cli = Callable[..., Any]


def inbox_toml(dovecot: Dovecot, security: str = "tls", ca: bool = True) -> str:
    port = dovecot.tls_port if security == "tls" else dovecot.port
    return (
        f'[inbox]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "{security}"\n'
        f'username = "{USER}"\nfolder = "INBOX"\ndone_folder = "seriespub"\n'
        + (f'ca_file = "{dovecot.ca.ca_cert}"\n' if ca else "")
    )


def series_with(
    make_series: Callable[..., Path],
    dovecot: Dovecot,
    readers: list[str],
    security: str = "tls",
    delivery: str = "",
    name: str = "series",
) -> Path:
    root: Path = make_series(
        subscribers=0, extra_toml=inbox_toml(dovecot, security), delivery=delivery, name=name
    )
    with open(root / "subscribers.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "status"])
        writer.writerows([r, r.split("@")[0], "active"] for r in readers)
    return root


def statuses(root: Path) -> dict[str, str]:
    with open(root / "subscribers.csv", encoding="utf-8") as handle:
        return {row["email"]: row["status"] for row in csv.DictReader(handle)}


def unsubscribe_request(sender: str, token: str, mid: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: author@example.com\r\nSubject: unsubscribe {token}\r\n"
        f"Message-ID: <{mid}@x>\r\n\r\n\r\n"
    ).encode()


def note(mid: str) -> bytes:
    return (
        f"From: friend@example.org\r\nTo: author@example.com\r\nSubject: Lunch?\r\n"
        f"Message-ID: <{mid}@x>\r\n\r\nSee you.\r\n"
    ).encode()


def dsn(
    address: str,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    number: int = 1,
    mid: str = "dsn",
    list_id: str | None = None,
    text: str = "It did not work.",
    returned: bool = True,
) -> bytes:
    """A delivery report for `address`; `returned`: with the sent message's headers (its
    Message-ID, and `list_id`'s List-Id), else none (what `text` says is all there is)."""
    diagnostic = f"smtp; {status[0]}50 {status} test said no"
    returned_list = f"List-Id: A series <{list_id}>\n" if list_id else ""
    headers = (
        f"""--b
Content-Type: text/rfc822-headers

Message-ID: <{"ab" * 16}.{number}@example.com>
{returned_list}To: {address}

"""
        if returned
        else ""
    )
    return f"""From: MAILER-DAEMON@relay.example (Mail Delivery System)
To: author@example.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <{mid}@relay.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

{text}

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example

Final-Recipient: rfc822; {address}
Action: {action}
Status: {status}
Diagnostic-Code: {diagnostic}

{headers}--b--
""".replace("\n", "\r\n").encode()


def ids(pairs: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {m.decode().split("<")[1].split("@")[0]: f.decode() for m, f in pairs}


@pytest.mark.parametrize("security", ["tls", "starttls", "none"])
def test_sync_marks_readers_moves_what_it_used_and_leaves_the_rest(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli, security: str
) -> None:
    readers = [
        "ann@example.com",
        "bob@example.com",
        "gone.reader@gmail.com",
        "annoyed@isp.example",
        "cy@example.com",
    ]
    root = series_with(make_series, inbox, readers, security)
    inbox.append(unsubscribe_request("ann@example.com", KEY.token("ann@example.com"), "u-ann"))
    inbox.append(unsubscribe_request("bob@example.com", "0" * 32, "u-forged"))
    inbox.append(
        unsubscribe_request("mallory@evil.example", KEY.token("mallory@evil.example"), "u-mallory"),
        flags=r"(\Seen)",
    )
    inbox.append((CORPUS / "gmail-nosuchuser.eml").read_bytes())
    inbox.append((CORPUS / "arf-complaint.eml").read_bytes(), flags=r"(\Seen)")
    inbox.append(note("n-read"), flags=r"(\Seen \Flagged)")
    inbox.append(note("n-unread"))

    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert "3 subscriber(s) updated from the inbox" in result.stdout
    assert statuses(root) == {
        "ann@example.com": "unsubscribed",
        "bob@example.com": "active",
        "gone.reader@gmail.com": "bounced",
        "annoyed@isp.example": "complained",
        "cy@example.com": "active",
    }
    left = ids(inbox.folder_flags("INBOX"))
    assert set(left) == {"u-forged", "u-mallory", "n-read", "n-unread"}
    assert "\\Seen" not in left["u-forged"] and "\\Seen" not in left["n-unread"]
    assert "\\Seen" in left["u-mallory"] and "\\Flagged" in left["n-read"]
    done = ids(inbox.folder_flags("seriespub"))
    assert set(done) == {"u-ann", "6543210.bounce", "arf-0001"}
    assert "\\Seen" not in done["u-ann"] and "\\Seen" in done["arf-0001"]

    again = cli(root, "subscribers", "sync")
    assert again.exit_code == 0, again.output
    assert "0 subscriber(s) updated from the inbox" in again.stdout
    assert "0 message(s) moved" in again.stdout
    assert set(ids(inbox.folder_flags("INBOX"))) == set(left)


def test_a_permanent_bounce_fails_the_delivery_in_the_ledger(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli
) -> None:
    root = series_with(make_series, inbox, ["ann@example.com", "bob@example.com"])
    sent = cli(root, "send", "next", "--yes")
    assert sent.exit_code == 0, sent.output
    inbox.append(dsn("bob@example.com", number=1))
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert "1 delivery(ies) marked failed" in result.stdout
    log = delivery_log(cli, root)
    assert log["bob@example.com"]["status"] == "failed"
    assert "bounced: 5.1.1" in log["bob@example.com"]["reason"]
    assert log["ann@example.com"]["status"] == "sent"
    assert statuses(root)["bob@example.com"] == "bounced"


def test_a_bounce_of_another_series_message_is_left_for_that_series(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli
) -> None:
    """Two series sharing one inbox, readers on both lists: each bounce is applied by the
    series whose List-Id its returned message carries, and left in the inbox for the other."""
    root = series_with(make_series, inbox, ["ann@example.com", "bob@example.com"])
    inbox.append(dsn("ann@example.com", mid="ours", list_id="test-series.example.com"))
    inbox.append(dsn("bob@example.com", mid="theirs", list_id="another-series.example.com"))
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert statuses(root) == {"ann@example.com": "bounced", "bob@example.com": "active"}
    conn = inbox.connect()
    try:
        conn.select("INBOX")
        _, found = conn.search(None, "HEADER", "Message-ID", "theirs@relay.example")
    finally:
        conn.logout()
    assert found[0].split(), "the other series' bounce was moved out of the inbox"


def test_send_reads_the_inbox_before_it_plans(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli
) -> None:
    root = series_with(make_series, inbox, ["ann@example.com", "bob@example.com"])
    inbox.append(unsubscribe_request("x@y.example", KEY.token("bob@example.com"), "u-bob"))
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert set(delivery_log(cli, root)) == {"ann@example.com"}
    assert statuses(root)["bob@example.com"] == "unsubscribed"


def test_three_instalments_bouncing_temporarily_mark_the_reader_bounced(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli
) -> None:
    root = series_with(make_series, inbox, ["full@example.com"])
    # Postfix warns, then warns again about the same instalment: that is one, not two.
    for mid, number in (("d1", 1), ("d1b", 1), ("d2", 2)):
        inbox.append(
            dsn("full@example.com", status="4.2.2", action="delayed", number=number, mid=mid)
        )
    assert cli(root, "subscribers", "sync").exit_code == 0
    assert statuses(root)["full@example.com"] == "active"
    counts = json.loads((root / ".seriespub" / "soft-bounces.json").read_text())
    assert counts == {"full@example.com": ["#1", "#2"]}
    inbox.append(dsn("full@example.com", status="4.2.2", action="delayed", number=3, mid="d3"))
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert statuses(root)["full@example.com"] == "bounced"


def test_a_malformed_dsn_is_skipped_with_a_warning_and_left(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli
) -> None:
    root = series_with(make_series, inbox, ["ann@example.com"])
    inbox.append((CORPUS / "malformed-dsn.eml").read_bytes())
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "skipped" in result.output
    assert "Traceback" not in result.output
    assert len(inbox.folder_flags("INBOX")) == 1


def test_a_wrong_password_is_one_line_and_exit_1(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = series_with(make_series, inbox, ["ann@example.com"])
    monkeypatch.setenv("IMAP_PASSWORD", "wrong-password-x")
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 1
    assert "login as author@seriespub.test refused" in result.output
    assert "wrong-password-x" not in result.output and "Traceback" not in result.output


def test_an_untrusted_certificate_is_refused(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli
) -> None:
    root: Path = make_series(extra_toml=inbox_toml(inbox, "tls", ca=False))
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 1
    assert "certificate not trusted" in result.output
    assert (
        'hint: if the server\'s certificate comes from a private CA, set ca_file = "ca.pem" '
        in result.stderr
    )
    assert "under [inbox]" in result.stderr


def test_the_done_folder_is_found_when_it_exists(
    inbox: Dovecot, make_series: Callable[..., Path], cli: Cli
) -> None:
    conn = inbox.connect()
    try:
        assert conn.create('"seriespub"')[0] == "OK"
    finally:
        conn.logout()
    root = series_with(make_series, inbox, ["ann@example.com"])
    inbox.append(unsubscribe_request("a@x", KEY.token("ann@example.com"), "u1"))
    assert cli(root, "subscribers", "sync").exit_code == 0
    assert set(ids(inbox.folder_flags("seriespub"))) == {"u1"}


@pytest.mark.parametrize("without", [("MOVE",), ("MOVE", "UIDPLUS")])
def test_servers_without_move_get_copy_and_the_rest_is_untouched(
    inbox: Dovecot, without: tuple[str, ...]
) -> None:
    from seriespub.config import InboxSettings, Secret
    from seriespub.inbox.imap import open_inbox

    inbox.append(note("keep"), flags=r"(\Deleted)")  # the author's own deleted mail
    inbox.append(dsn("x@example.com", mid="processed"))
    settings = InboxSettings(host="127.0.0.1", username=USER, port=inbox.port, security="none")
    with open_inbox(settings, Secret(PASSWORD, scrub=False), inbox.ssl_context()) as box:
        box._conn.capabilities = tuple(c for c in box._conn.capabilities if c not in without)
        [uid] = box.candidates()
        box.move([uid])
        assert box.candidates() == []  # a copied, \Deleted one is not read again
    assert set(ids(inbox.folder_flags("seriespub"))) == {"processed"}
    left = ids(inbox.folder_flags("INBOX"))
    assert "\\Deleted" in left["keep"]  # never expunged by us
    if "UIDPLUS" in without:
        assert "\\Deleted" in left["processed"]
    else:
        assert "processed" not in left


def test_sync_under_another_key_says_why_token_unsubscribes_are_left(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = series_with(make_series, inbox, ["ann@example.com"])
    assert cli(root, "send", "next", "--yes").exit_code == 0
    monkeypatch.setenv("SERIESPUB_SECRET", "another-key-" + "0" * 32)
    inbox.append(unsubscribe_request("ann@example.com", KEY.token("ann@example.com"), "u-ann"))
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert (
        "warning: the unsubscribe key (SERIESPUB_SECRET) differs from the one part 1 was "
        "sent with" in result.stderr
    )
    assert "token unsubscribes are left in the inbox" in result.stderr
    assert statuses(root) == {"ann@example.com": "active"}
    assert set(ids(inbox.folder_flags("INBOX"))) == {"u-ann"}  # kept for the right key


def sent_message_ids(root: Path, number: int = 1) -> dict[str, str]:
    """Reader → the Message-ID the outbox sent them instalment `number` with."""
    from email.parser import BytesHeaderParser

    found = {}
    for path in (root / ".seriespub" / "outbox" / f"{number:03d}").glob("*.eml"):
        headers = BytesHeaderParser().parsebytes(path.read_bytes())
        found[str(headers["To"]).rpartition("<")[2].strip(">")] = str(headers["Message-ID"])
    return found


def headerless_dsn(address: str, message_id: str, mid: str) -> bytes:
    """A delivery report that returns no headers: the sent Message-ID only in its text."""
    text = f"Your message {message_id} could not be delivered to {address}."
    return dsn(address, mid=mid, text=text, returned=False)


def test_a_headerless_bounce_is_read_by_the_series_whose_message_id_it_cites(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli
) -> None:
    """Two series sharing an inbox, both readers on both lists. A report that returns no
    headers (no List-Id) still quotes the Message-ID it is about: only the series that sent
    that Message-ID reads it; the other leaves it in the inbox."""
    readers = ["ann@example.com", "bob@example.com"]
    ours = series_with(make_series, inbox, readers)
    theirs: Path = make_series(name="other", subscribers=0, extra_toml=inbox_toml(inbox))
    toml = theirs / "seriespub.toml"
    toml.write_text(toml.read_text().replace("Test Series", "Other Series"), encoding="utf-8")
    (theirs / "subscribers.csv").write_text(
        "email,name,status\n" + "".join(f"{r},,active\n" for r in readers), encoding="utf-8"
    )
    for root in (ours, theirs):
        sent = cli(root, "send", "next", "--yes")
        assert sent.exit_code == 0, sent.output
    inbox.append(headerless_dsn("ann@example.com", sent_message_ids(ours)["ann@example.com"], "a"))
    theirs_id = sent_message_ids(theirs)["bob@example.com"]
    inbox.append(headerless_dsn("bob@example.com", theirs_id, "b"))

    result = cli(ours, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert statuses(ours) == {"ann@example.com": "bounced", "bob@example.com": "active"}
    assert set(ids(inbox.folder_flags("INBOX"))) == {"b"}
    result = cli(theirs, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert statuses(theirs) == {"ann@example.com": "active", "bob@example.com": "bounced"}
    assert set(ids(inbox.folder_flags("INBOX"))) == set()
    assert delivery_log(cli, theirs)["bob@example.com"]["status"] == "failed"


def test_a_headerless_bounce_is_read_after_the_series_title_changed(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli
) -> None:
    """The Message-IDs derive from the series id the ledger kept from the first send: a
    report quoting one is still this series' after the title (or sender) was edited."""
    root = series_with(make_series, inbox, ["ann@example.com"])
    assert cli(root, "send", "next", "--yes").exit_code == 0
    inbox.append(headerless_dsn("ann@example.com", sent_message_ids(root)["ann@example.com"], "a"))
    toml = root / "seriespub.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("Test Series", "Renamed Series"), encoding="utf-8"
    )
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert statuses(root) == {"ann@example.com": "bounced"}
    assert set(ids(inbox.folder_flags("INBOX"))) == set()


def test_under_another_key_a_headerless_bounce_is_still_read(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under another key no delivery id of the series' own matches: the Message-ID it
    quotes cannot tell, so the report is read as one that quotes none (the key warning
    says why tokens fail)."""
    root = series_with(make_series, inbox, ["ann@example.com"])
    assert cli(root, "send", "next", "--yes").exit_code == 0
    inbox.append(headerless_dsn("ann@example.com", sent_message_ids(root)["ann@example.com"], "a"))
    monkeypatch.setenv("SERIESPUB_SECRET", "another-key-" + "0" * 32)
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert "differs from the one part 1 was sent with" in result.stderr
    assert statuses(root) == {"ann@example.com": "bounced"}


def test_after_a_key_change_an_old_token_unsubscribes_with_the_old_key_as_previous(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = series_with(make_series, inbox, ["ann@example.com", "bob@example.com"])
    assert cli(root, "send", "next", "--yes").exit_code == 0  # part 1 under TEST_SECRET
    monkeypatch.setenv("SERIESPUB_SECRET", "another-key-" + "0" * 32)
    assert cli(root, "send", "next", "--yes", "--new-unsubscribe-key").exit_code == 0
    inbox.append(unsubscribe_request("ann@example.com", KEY.token("ann@example.com"), "u-ann"))
    without = cli(root, "subscribers", "sync")
    assert without.exit_code == 0, without.output
    assert "the unsubscribe key was changed on purpose" in without.stderr
    assert "SERIESPUB_SECRET_PREVIOUS" in without.stderr  # how to keep old links working
    assert statuses(root)["ann@example.com"] == "active"
    assert set(ids(inbox.folder_flags("INBOX"))) == {"u-ann"}  # left for the old key
    monkeypatch.setenv("SERIESPUB_SECRET_PREVIOUS", TEST_SECRET)
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert "unsubscribe key" not in result.stderr
    assert statuses(root) == {"ann@example.com": "unsubscribed", "bob@example.com": "active"}
    assert set(ids(inbox.folder_flags("seriespub"))) == {"u-ann"}
    assert TEST_SECRET not in result.output


def test_syncs_and_a_send_reading_the_inbox_at_once_all_finish_and_agree(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli
) -> None:
    """Three `subscribers sync` and a `send next` (which reads the inbox first), as real
    processes at once over 40 readers' reports: each ends without an error, the temporary
    bounces are counted once each, and every report ends in the done folder."""
    from conftest import seriespub_process

    readers = [f"r{i:02d}@example.com" for i in range(40)]
    root = series_with(make_series, inbox, readers)
    for i, reader in enumerate(readers[:30]):
        for number in (1, 2, 3):
            report = dsn(
                reader, status="4.2.2", action="delayed", number=number, mid=f"d{i}-{number}"
            )
            inbox.append(report)
    for i, reader in enumerate(readers[30:35]):
        inbox.append(dsn(reader, mid=f"hard{i}"))
    commands = [["subscribers", "sync"]] * 3 + [["send", "next", "--yes"]]
    procs = [seriespub_process(root, *words, output=True) for words in commands]
    results = [(p.communicate(timeout=120)[1].decode(), p.returncode) for p in procs]
    for err, code in results:
        assert code == 0 and "Traceback" not in err and "error" not in err, results
    expected = dict.fromkeys(readers, "active") | dict.fromkeys(readers[:35], "bounced")
    assert statuses(root) == expected
    counts = json.loads((root / ".seriespub" / "soft-bounces.json").read_text())
    assert counts == {reader: ["#1", "#2", "#3"] for reader in readers[:30]}
    assert inbox.folder_flags("INBOX") == []
    assert not list((root / ".seriespub").glob("*.tmp"))


def mailto_request(root: Path, reader: str, mid: str) -> bytes:
    """What `reader`'s client sends from the mailto: List-Unsubscribe of the part 1 that
    `root` sent them (its outbox): the subject the link sets, as the link sets it."""
    for path in (root / ".seriespub" / "outbox" / "001").glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes())
        if reader in str(msg["To"]):
            link = str(msg["List-Unsubscribe"]).strip("<>")
            target, _, query = link.removeprefix("mailto:").partition("?")
            subject = urllib.parse.parse_qs(query)["subject"][0]
            return (
                f"From: {reader}\r\nTo: {target}\r\nSubject: {subject}\r\n"
                f"Message-ID: <{mid}@x>\r\n\r\n\r\n"
            ).encode()
    raise AssertionError(f"no part 1 for {reader} in {root}")


def test_two_series_sharing_a_key_and_an_inbox_each_take_only_their_own_unsubscribes(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli
) -> None:
    """One author, two series, one SERIESPUB_SECRET and one mailbox, Ann on both lists: her
    token is the same in both. Leaving one series by its mailto: link leaves her on the
    other, whichever series reads the inbox first."""
    roots = {}
    for name, title in (("first", "Test Series"), ("second", "Another Series")):
        root = series_with(make_series, inbox, ["ann@example.com", "bob@example.com"], name=name)
        toml = (root / "seriespub.toml").read_text(encoding="utf-8")
        toml = toml.replace('title = "Test Series"', f'title = "{title}"')
        toml = "\n".join(line for line in toml.splitlines() if "unsubscribe_url" not in line)
        (root / "seriespub.toml").write_text(toml + "\n", encoding="utf-8")
        sent = cli(root, "send", "next", "--yes")
        assert sent.exit_code == 0, sent.output
        roots[name] = root
    inbox.append(mailto_request(roots["second"], "ann@example.com", "ann-leaves-second"))
    inbox.append(mailto_request(roots["first"], "bob@example.com", "bob-leaves-first"))
    # Retitled since: its tag is still the one its readers' links carry.
    config = roots["first"] / "seriespub.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("Test Series", "Renamed Series"),
        encoding="utf-8",
    )

    first = cli(roots["first"], "subscribers", "sync")
    assert first.exit_code == 0, first.output
    assert statuses(roots["first"]) == {
        "ann@example.com": "active",
        "bob@example.com": "unsubscribed",
    }
    assert set(ids(inbox.folder_flags("INBOX"))) == {"ann-leaves-second"}
    assert "without a valid token" not in first.output  # another series' request, not a forgery

    second = cli(roots["second"], "subscribers", "sync")
    assert second.exit_code == 0, second.output
    assert statuses(roots["second"]) == {
        "ann@example.com": "unsubscribed",
        "bob@example.com": "active",
    }
    assert not ids(inbox.folder_flags("INBOX"))
