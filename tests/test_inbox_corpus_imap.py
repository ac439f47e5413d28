"""The whole corpus (tests/bounces/) in one real Dovecot INBOX, read by `subscribers sync`:
exactly the right readers change, temporary failures and auto-replies change nobody, the
unreadable reports are one warning each and stay, and the rest of the inbox is still
processed. Skipped where Dovecot cannot run."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_SECRET
from fakes.dovecot import Dovecot, unavailable
from seriespub.message import UnsubscribeKey
from test_inbox_imap import ids, inbox_toml, statuses

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(unavailable() is not None, reason=str(unavailable())),
]

CORPUS = Path(__file__).parent / "bounces"
KEY = UnsubscribeKey(TEST_SECRET.encode())
Cli = Callable[..., Any]
# Mixed case as the author typed them: the reports use other cases.
READERS = {
    "Left.Company@corp.example": "bounced",  # postfix-nouser
    "old.friend@uni.example.edu": "bounced",  # sendmail-dsn
    "slow.server@uni.example.edu": "active",  # sendmail-delayed (soft)
    "slow.box@hosting.example": "active",  # exim-delayed
    "Dana.Alias@Fabrikam.example": "bounced",  # exchange-ndr-forwarded
    "later.reader@example.net": "active",  # gmail-delayed (soft)
    "nobody.here@isp.example": "bounced",  # ses-dsn
    "busy.reader@contoso.com": "active",  # outlook-autoreply, vacation-autoreply
    "aol.reader@aol.com": "complained",  # aol-arf-redacted
    "sore.reader@yahoo.com": "complained",  # yahoo-arf
    "hot.reader@hotmail.com": "complained",  # microsoft-jmrp
    "gone.twin@isp.example": "bounced",  # postfix-two-recipients
    "here.twin@isp.example": "active",  # postfix-two-recipients (delivered)
    "quiet@example.com": "active",  # named by nothing
    "ses.gone@isp.example": "bounced",  # ses-sns-bounce
    "ses.full@isp.example": "active",  # ses-sns-transient (soft)
    "ses.annoyed@isp.example": "complained",  # ses-sns-complaint
    "ses.fine@isp.example": "active",  # ses-sns-delivery
    "ses.both@isp.example": "active",  # ses-sns-bounce about another series' message
}
MOVED = {
    "20261111080003.4Tq1Zt2abcz9sW",
    "202611110911.1AB8x2Qm012345",
    "202611111311.1AB8x2Qm012346",
    "f1d2c3b4-a596-4877-8a9b-0c1d2e3f4a5b",
    "5e5e5e5e.delay",
    "0100018c2a3b4c5d-aa11bb22-cc33-dd44-ee55-ff6677889900-000000",
    "aol.fbl.1",
    "yahoo.cfl.1",
    "jmrp.1",
    "20261115080003.4TwoRcpt",
    "0100018c2a3b4c5e-sns-0001",
    "0100018d00000000-sns-bounce",
    "0100018d00000000-sns-transient",
    "0100018d00000000-sns-complaint",
}
LEFT = {
    "E1tAbCd-000XyZ-7Q",
    "DB9PR01MB0001.autoreply",
    "vacation.1",
    "0100018d00000000-sns-delivery",
    "0100018d00000000-sns-other",
    "empty.1",
    "broken.1",
}
NAMES = [
    "postfix-nouser.eml",
    "sendmail-dsn.eml",
    "sendmail-delayed.eml",
    "exim-delayed.eml",
    "exchange-ndr-forwarded.eml",
    "gmail-delayed.eml",
    "ses-dsn.eml",
    "ses-notification-bounce.eml",
    "ses-sns-bounce.eml",
    "ses-sns-transient.eml",
    "ses-sns-complaint.eml",
    "ses-sns-delivery.eml",
    "outlook-autoreply.eml",
    "vacation-autoreply.eml",
    "aol-arf-redacted.eml",
    "yahoo-arf.eml",
    "microsoft-jmrp.eml",
    "postfix-two-recipients.eml",
    "no-parts.eml",
    "broken-mime.eml",
]


def _about_another_series(raw: bytes) -> bytes:
    """The SES bounce about another series' message (its List-Id) to ses.both."""
    raw = raw.replace(b"test-series.example.com", b"another-series.example.com")
    raw = raw.replace(b"ses.gone@", b"ses.both@").replace(b"-sns-bounce@", b"-sns-other@")
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_the_corpus_marks_exactly_the_right_readers_and_moves_only_those_messages(
    make_series: Callable[..., Path], inbox: Dovecot, cli: Cli
) -> None:
    root: Path = make_series(subscribers=0, extra_toml=inbox_toml(inbox))
    with open(root / "subscribers.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "status"])
        writer.writerows([r, "", "active"] for r in READERS)
    token = KEY.token("aol.reader@aol.com").encode()
    for name in NAMES:
        raw = (CORPUS / name).read_bytes().replace(b"@TOKEN@", token)
        inbox.append(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    inbox.append(_about_another_series((CORPUS / "ses-sns-bounce.eml").read_bytes()))

    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert statuses(root) == READERS
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 2, result.stderr
    assert set(ids(inbox.folder_flags("seriespub"))) == MOVED
    assert set(ids(inbox.folder_flags("INBOX"))) == LEFT

    again = cli(root, "subscribers", "sync")
    assert again.exit_code == 0, again.output
    assert "0 subscriber(s) updated from the inbox" in again.stdout
    assert set(ids(inbox.folder_flags("INBOX"))) == LEFT
