"""The scrubber: every registered secret, in every encoding, is masked wherever it goes."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from seriespub import redact, runlog
from seriespub.config import (
    DeliverySettings,
    MailgunSettings,
    Secret,
    Secrets,
    SeriesSettings,
    Settings,
    SmtpSettings,
)
from seriespub.errors import (
    AmbiguousSendError,
    ConfigError,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from seriespub.ledger import Ledger
from seriespub.models import DeliveryStatus, Outcome, RecipientResult
from seriespub.providers import ProviderContext, make_provider
from seriespub.providers.http import request

KEY = "sk-live-7Hq2/Zx+91kPw=Lm4"


@pytest.fixture(autouse=True)
def empty_registry() -> Iterator[None]:
    redact.forget_all()
    yield
    redact.forget_all()


def b64(text: str, alphabet: str = "standard") -> str:
    encode = base64.b64encode if alphabet == "standard" else base64.urlsafe_b64encode
    return encode(text.encode()).decode()


# -- the scrubber -----------------------------------------------------------------------------
def test_nothing_registered_leaves_text_alone() -> None:
    text = "401 Unauthorized: token c2stbGl2ZQ== was refused"
    assert redact.scrub(text) == text


@pytest.mark.parametrize(
    "form",
    [
        KEY,
        urllib.parse.quote(KEY, safe=""),
        urllib.parse.quote(KEY, safe="").replace("%2F", "%2f").replace("%2B", "%2b"),
        urllib.parse.quote_plus(KEY),
        json.dumps(KEY)[1:-1],
        b64(KEY),
        b64(KEY).rstrip("="),
        b64(KEY, "urlsafe"),
    ],
)
def test_a_registered_secret_is_masked_in_every_encoding(form: str) -> None:
    Secret(KEY)
    scrubbed = redact.scrub(f"gateway says: bad token [{form}] (request id 42)")
    assert form not in scrubbed
    assert scrubbed.startswith("gateway says: bad token [") and "(request id 42)" in scrubbed


@pytest.mark.parametrize("prefix", ["", "x", "xy", "Bearer ", "token=", "\0user\0"])
def test_base64_of_any_text_holding_the_secret_is_masked(prefix: str) -> None:
    """Base64 shifts with the bytes before the secret: every alignment is caught."""
    redact.register(KEY)
    blob = b64(f"{prefix}{KEY}; more")
    assert redact.scrub(f"echo: {blob}.") == "echo: ***."


def test_base64_glued_to_other_text_is_still_masked() -> None:
    redact.register(KEY)
    blob = b64(f"{{'auth': '{KEY}'}}")
    scrubbed = redact.scrub(f"data=abc{blob}")
    assert not any(core in scrubbed for core in redact.forms_of(KEY) if len(core) >= 8)


def test_base64_of_base64_is_masked() -> None:
    redact.register(KEY)
    twice = b64(b64(f"api:{KEY}"))
    assert twice not in redact.scrub(f"<{twice}>")


def test_basic_auth_and_smtp_auth_blobs_are_masked_whole() -> None:
    redact.register_basic_auth("api", KEY)
    redact.register_sasl_plain("mailer", "pw-short")
    basic = b64(f"api:{KEY}")
    plain = b64("\0mailer\0pw-short")
    login = b64("pw-short")
    text = redact.scrub(f"Authorization: Basic {basic} AUTH PLAIN {plain} LOGIN {login}")
    assert text == "Authorization: Basic *** AUTH PLAIN *** LOGIN ***"


def test_a_secret_cut_off_at_the_end_is_masked() -> None:
    redact.register(KEY)
    assert redact.scrub(f"denied: token {KEY[:12]}") == "denied: token ***"
    assert redact.scrub("denied: token sk-l") == "denied: token sk-l"  # too little to know


def test_a_short_secret_is_masked_only_as_a_whole_word() -> None:
    redact.register("pw")
    assert redact.scrub("login mailer/pw refused; upgrade pwned") == (
        "login mailer/*** refused; upgrade pwned"
    )


def test_sigv4_signatures_are_masked() -> None:
    signature = "ab" * 32
    text = f"Credential=AKIA/x, SignedHeaders=host, Signature={signature}"
    assert redact.scrub(text).endswith("Signature=***")


def test_scrub_data_masks_every_string_and_keeps_the_shape() -> None:
    redact.register(KEY)
    data = {"error": f"bad {KEY}", "n": 3, "items": [KEY, None, (KEY,)], KEY: True}
    assert redact.scrub_data(data) == {
        "error": "bad ***",
        "n": 3,
        "items": ["***", None, ["***"]],
        "***": True,
    }


def test_scrubbing_an_error_reason_is_fast() -> None:
    for i in range(9):  # as many secrets as seriespub knows
        redact.register_basic_auth("api", f"{KEY}-{i}")
    reason = (
        "denied: " + " | ".join(f"x-header-{i}: value-{i} " + b64(f"h{i}") for i in range(20))
    )[:500]
    start = time.perf_counter()
    for _ in range(1000):
        redact.scrub(reason)
    per_call = (time.perf_counter() - start) / 1000
    assert per_call < 0.002, f"{per_call * 1e6:.0f} µs per 500-character reason"


# -- where secrets are registered ------------------------------------------------------------
def test_reading_any_secret_registers_every_configured_one(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"SENDGRID_API_KEY={KEY}\n")
    secrets = Secrets({"POSTMARK_SERVER_TOKEN": "pm-token-abcdef123"}, tmp_path / ".env")
    assert redact.scrub(KEY) == KEY  # nothing read yet
    secrets.require("POSTMARK_SERVER_TOKEN", "postmark")
    assert redact.scrub(f"{KEY} pm-token-abcdef123") == "*** ***"


def test_an_endpoint_url_read_with_the_secrets_is_not_masked() -> None:
    url = "http://127.0.0.1:4566"
    secrets = Secrets({"AWS_ENDPOINT_URL_SESV2": url})
    assert secrets.get("AWS_ENDPOINT_URL_SESV2") is not None
    assert redact.scrub(f"cannot reach {url}") == f"cannot reach {url}"


# -- where text is scrubbed ------------------------------------------------------------------
def test_errors_scrub_message_reason_and_hint() -> None:
    redact.register(KEY)
    for cls in (SendError, PermanentSendError, TransientSendError, AmbiguousSendError):
        exc = cls(f"gateway echoed {KEY}", provider="postmark", status=401)
        assert KEY not in str(exc) and KEY not in exc.reason
        assert str(exc) == "postmark (HTTP 401): gateway echoed ***"
    config = ConfigError(f"bad {KEY}", hint=f"try {KEY}")
    assert (str(config), config.hint) == ("bad ***", "try ***")


def test_recipient_reasons_are_scrubbed() -> None:
    redact.register(KEY)
    result = RecipientResult("a@example.com", Outcome.FAILED, reason=f"550 no {b64(KEY)}")
    assert result.reason == "550 no ***"


def test_the_run_log_never_stores_a_secret(tmp_path: Path) -> None:
    redact.register_basic_auth("api", KEY)
    when = dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC)
    event = {
        "event": "error",
        "error": f"401 {KEY}",
        "extra": [b64(f"api:{KEY}")],
        "obj": Path(KEY),
    }
    runlog.append(tmp_path, event, when)
    text = (tmp_path / "log.jsonl").read_text()
    assert KEY not in text and b64(f"api:{KEY}") not in text
    assert runlog.read(tmp_path) == [
        {
            "ts": "2026-03-03T09:00:00+00:00",
            "event": "error",
            "error": "401 ***",
            "extra": ["***"],
            "obj": "***",
        }
    ]


def test_the_ledger_never_stores_a_secret(tmp_path: Path) -> None:
    redact.register(KEY)
    path = tmp_path / "ledger.db"
    ledger = Ledger.open(path)
    try:
        ledger.begin_batch(1, "b1", "postmark", ["a@example.com", "b@example.com"])
        # A result made before the secret was known is still scrubbed on the way in.
        late = object.__new__(RecipientResult)
        for name, value in (
            ("email", "a@example.com"),
            ("outcome", Outcome.FAILED),
            ("message_id", ""),
            ("reason", f"no {KEY}"),
            ("new_status", None),
        ):
            object.__setattr__(late, name, value)
        ledger.record_results(1, "b1", [late])
        ledger.set_status(1, ["b@example.com"], DeliveryStatus.DEFERRED, f"401 {KEY}")
    finally:
        ledger.close()
    conn = sqlite3.connect(path)
    reasons = sorted(r[0] for r in conn.execute("SELECT reason FROM deliveries"))
    conn.close()
    assert reasons == ["401 ***", "no ***"]
    assert KEY.encode() not in path.read_bytes()


def test_cli_fail_and_json_are_a_last_line_of_defence(capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from seriespub.cli.common import fail, print_json

    redact.register(KEY)
    print_json({"error": f"401 {KEY}", "when": dt.date(2026, 1, 1), "path": Path(KEY)})
    with pytest.raises(typer.Exit):
        fail(f"stopped: {KEY}", hint=f"check {KEY}")
    captured = capsys.readouterr()
    assert KEY not in captured.out + captured.err
    assert json.loads(captured.out) == {"error": "401 ***", "when": "2026-01-01", "path": "***"}
    assert "stopped: ***" in captured.err and "check ***" in captured.err


def test_an_http_reason_is_scrubbed_before_it_is_cut() -> None:
    """A secret straddling the 500-character cut must not leave its first half behind."""
    redact.register(KEY)
    body = {"message": "x" * 490 + KEY + " and more"}
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(401, json=body)))
    with pytest.raises(PermanentSendError) as caught:
        request(client, "GET", "http://127.0.0.1/", provider="test")
    assert KEY[:8] not in caught.value.reason
    assert caught.value.reason == "x" * 490 + "*** and mo"


# -- repr never shows a secret ---------------------------------------------------------------
PROVIDER_ENV = {
    "POSTMARK_SERVER_TOKEN": "repr-postmark-token-1",
    "SENDGRID_API_KEY": "repr-sendgrid-key-2",
    "MAILGUN_API_KEY": "repr-mailgun-key-3",
    "RESEND_API_KEY": "repr-resend-key-4",
    "AWS_ACCESS_KEY_ID": "AKIAREPRKEYID5",
    "AWS_SECRET_ACCESS_KEY": "repr-aws-secret-6",
    "AWS_SESSION_TOKEN": "repr-aws-session-7",
    "SMTP_PASSWORD": "repr-smtp-password-8",
    "SERIESPUB_SECRET": "repr-unsubscribe-secret-9",
}


def test_repr_of_secrets_and_secret_shows_no_value(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RESEND_API_KEY=repr-dotenv-key\n")
    secrets = Secrets(PROVIDER_ENV, tmp_path / ".env")
    shown = repr(secrets) + str(secrets) + repr(secrets.get("SMTP_PASSWORD"))
    shown += str(secrets.get("AWS_SECRET_ACCESS_KEY")) + repr(Secret(KEY))
    assert not [v for v in [*PROVIDER_ENV.values(), "repr-dotenv-key", KEY] if v in shown]


@pytest.mark.parametrize(
    "provider", ["outbox", "smtp", "postmark", "sendgrid", "mailgun", "resend", "ses"]
)
def test_repr_of_every_provider_shows_no_secret(provider: str, tmp_path: Path) -> None:
    delivery = DeliverySettings(
        provider=provider,
        smtp=SmtpSettings(username="mailer"),
        mailgun=MailgunSettings(domain="mg.example.com"),
    )
    settings = Settings(SeriesSettings("T", "A <a@example.com>"), delivery)
    context = ProviderContext(settings, Secrets(PROVIDER_ENV), tmp_path)
    adapter = make_provider(provider, context)
    try:
        shown = repr(adapter) + str(adapter) + repr(vars(adapter)) + repr(context)
        shown += repr(getattr(getattr(adapter, "client", None), "auth", None))
    finally:
        adapter.close()
    assert not [v for v in PROVIDER_ENV.values() if v in shown], shown


def test_a_one_letter_secret_is_not_found_in_random_base64() -> None:
    """Random bytes hold a given 1-3 character word too often to look for one there."""
    redact.register("a")
    path = "/tmp/pytest-of-root/pytest-50/test_bad_config_names_the_key0/series/seriespub.toml"
    assert redact.scrub(f"{path}: 'series.title' must be a string") == (
        f"{path}: 'series.title' must be *** string"
    )
