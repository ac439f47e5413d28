"""Token commands for unsubscribe endpoints, `[inbox]` and `bounce_address` settings, and
the VERP envelope sender on the wire (a local aiosmtpd). No IMAP server needed."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import TEST_SECRET
from fakes.messages import make_message
from fakes.smtp import running_smtp_server
from seriespub.config import SmtpSettings, load_settings
from seriespub.errors import ConfigError
from seriespub.message import UnsubscribeKey
from seriespub.models import Subscriber
from seriespub.providers.base import Batch
from seriespub.providers.smtp import SmtpProvider

Cli = Callable[..., Any]
TOKEN = UnsubscribeKey(TEST_SECRET.encode()).token("reader0002@example.com")


def statuses(root: Path) -> dict[str, str]:
    with open(root / "subscribers.csv", encoding="utf-8") as handle:
        return {row["email"]: row["status"] for row in csv.DictReader(handle)}


def test_verify_exits_0_for_the_readers_token_and_1_otherwise(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series()
    assert cli(root, "subscribers", "verify", "reader0002@example.com", TOKEN).exit_code == 0
    assert cli(root, "subscribers", "verify", "READER0002@example.com", TOKEN).exit_code == 0
    for address, token in (
        ("reader0001@example.com", TOKEN),
        ("reader0002@example.com", "0" * 32),
        ("reader0002@example.com", TOKEN[:-1]),
        ("reader0002@example.com", "é" * 32),
    ):
        result = cli(root, "subscribers", "verify", address, token)
        assert result.exit_code == 1, result.output
        assert "does not match" in result.output


def test_unsubscribe_token_marks_only_the_tokens_owner(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series()
    before = statuses(root)
    forged = cli(root, "subscribers", "unsubscribe-token", "reader0001@example.com", TOKEN)
    assert forged.exit_code == 1 and "nothing changed" in forged.output
    assert statuses(root) == before
    done = cli(root, "subscribers", "unsubscribe-token", "reader0002@example.com", TOKEN)
    assert done.exit_code == 0, done.output
    assert statuses(root) == {**before, "reader0002@example.com": "unsubscribed"}
    again = cli(root, "subscribers", "unsubscribe-token", "reader0002@example.com", TOKEN)
    assert again.exit_code == 0 and "nothing to change" in again.output


def test_sync_without_the_imap_password_is_one_line(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(extra_toml='[inbox]\nhost = "127.0.0.1"\nusername = "a@b.example"\n')
    result = cli(root, "subscribers", "sync")
    assert result.exit_code == 1
    assert "IMAP_PASSWORD is not set" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[inbox]\nhost = "h"\n', "missing required key 'inbox.username'"),
        ('[inbox]\nhost = "h"\nusername = "u"\nsecurity = "ssl"\n', "'inbox.security' must be one"),
        ('[inbox]\nhost = "h"\nusername = "u"\nport = 0\n', "'inbox.port' must be 1 to 65535"),
        ('[inbox]\nhost = "h"\nusername = "u"\ndone_folder = "INBOX"\n', "must differ"),
        ('[inbox]\nhost = "h"\nusername = "u"\nfolder = "Boîte"\n', "printable ASCII"),
        ('[inbox]\nhost = "h"\nusername = "u"\nimap = 1\n', "unknown key 'inbox.imap'"),
        ('[delivery.smtp]\nbounce_address = "bounces"\n', "must be an address"),
        ('[delivery.smtp]\nbounce_address = "b+{token}@{token}.example"\n', "may appear once"),
        ('[delivery.smtp]\nbounce_address = "b <x>@example.com"\n', "not a plain ASCII address"),
        (
            '[delivery.smtp]\nbounce_address = "' + "a" * 40 + '+{token}@example.com"\n',
            "over 64 characters",
        ),
    ],
)
def test_bad_inbox_and_bounce_settings_are_refused_by_name(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "seriespub.toml"
    path.write_text('[series]\ntitle = "T"\nfrom = "a@example.com"\n' + toml)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings(path)


def test_the_envelope_sender_is_the_verp_bounce_address() -> None:
    message = make_message()
    readers = [message.recipient(Subscriber(a)) for a in ("ann@example.com", "bob@example.com")]
    with running_smtp_server() as server:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=server.port,
            security="none",
            bounce_address="author+b-{token}@example.com",
        )
        provider = SmtpProvider(settings)
        try:
            provider.send_batch(Batch("k", message, readers))
        finally:
            provider.close()
        senders = [r.mail_from for r in server.received]
    assert senders == [
        f"author+b-{message.key.token(a)}@example.com"
        for a in ("ann@example.com", "bob@example.com")
    ]


def test_unsubscribe_token_takes_the_token_alone_from_a_url_that_carries_no_address(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """`unsubscribe_url = ".../unsubscribe?token={token}"` (what `init` writes) gives the
    endpoint a token and no address: the token alone finds its reader."""
    root = make_series()
    before = statuses(root)
    unknown = cli(root, "subscribers", "unsubscribe-token", "0" * 32)
    assert unknown.exit_code == 1, unknown.output
    assert "no reader" in unknown.output and "Traceback" not in unknown.output
    assert statuses(root) == before
    assert cli(root, "subscribers", "verify", TOKEN).exit_code == 0
    done = cli(root, "subscribers", "unsubscribe-token", TOKEN.upper())
    assert done.exit_code == 0, done.output
    assert "unsubscribed reader0002@example.com" in done.output
    assert statuses(root) == {**before, "reader0002@example.com": "unsubscribed"}
    again = cli(root, "subscribers", "unsubscribe-token", TOKEN)
    assert again.exit_code == 0 and "nothing to change" in again.output
    lone = cli(root, "subscribers", "unsubscribe-token", "reader0002@example.com")
    assert lone.exit_code == 2 and "token" in lone.output
