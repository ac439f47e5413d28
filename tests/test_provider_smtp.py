"""The SMTP adapter against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import email.utils
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.messages import BUILT
from fakes.messages import make_message as build_message
from fakes.smtp import (
    FakeSmtpServer,
    TlsFiles,
    free_port,
    make_private_ca,
    make_tls_files,
    raw_smtp_server,
    running_smtp_server,
)
from seriespub.config import (
    DeliverySettings,
    Secret,
    Secrets,
    SeriesSettings,
    Settings,
    SmtpSettings,
)
from seriespub.errors import (
    ConfigError,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from seriespub.message import PreparedMessage, SlottedText
from seriespub.models import Outcome, Recipient, Subscriber, SubscriberStatus
from seriespub.providers import ProviderContext, make_provider
from seriespub.providers.base import Batch
from seriespub.providers.smtp import SmtpProvider


def prepared() -> PreparedMessage:
    return build_message(text="Hi %%SP0%%\n.a line that starts with a dot\nUnsubscribe: %%SP1%%")


def recipients(message: PreparedMessage, *addresses: str) -> list[Recipient]:
    return [message.recipient(Subscriber(a, f"Reader {a.split('@')[0]}")) for a in addresses]


def batch(message: PreparedMessage, *addresses: str, test: bool = False) -> Batch:
    return Batch(key="k", message=message, recipients=recipients(message, *addresses), test=test)


def provider_for(server: FakeSmtpServer, **settings: object) -> SmtpProvider:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "timeout": 5.0,
        **settings,
    }
    password = values.pop("password", None)
    tls_context = values.pop("tls_context", None)
    provider = SmtpProvider(
        SmtpSettings(**values),  # type: ignore[arg-type]
        Secret(str(password)) if password else None,
        tls_context=tls_context,  # type: ignore[arg-type]
    )
    BUILT.append(provider)  # closed after the test, as the sending core closes it
    return provider


@pytest.fixture
def server() -> Iterator[FakeSmtpServer]:
    with running_smtp_server() as running:
        yield running


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "tls")


def test_each_recipient_gets_exactly_one_personal_message(server: FakeSmtpServer) -> None:
    message = prepared()
    sent = batch(message, "ann@example.com", "bob@example.com", "cy@example.org")
    provider = provider_for(server)
    results = provider.send_batch(sent)
    provider.close()

    assert [r.outcome for r in results] == [Outcome.SENT] * 3
    assert [r.message_id for r in results] == [message.message_id(r) for r in sent.recipients]
    by_address = server.by_recipient()
    assert sorted(by_address) == ["ann@example.com", "bob@example.com", "cy@example.org"]
    for recipient in sent.recipients:
        [received] = by_address[recipient.email]
        assert received.mail_from == "author@example.com"
        assert received.rcpt_tos == [recipient.email]
        parsed = received.parsed()
        assert parsed["To"] == email.utils.formataddr((recipient.name, recipient.email))
        assert parsed["Subject"] == "Part 1"
        assert parsed["Message-ID"] == message.message_id(recipient)
        assert parsed["List-Unsubscribe"] == f"<{recipient.unsubscribe_url}>"
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert parsed.get_content_type() == "multipart/alternative"
        text = parsed.get_body(("plain",))
        html = parsed.get_body(("html",))
        assert text is not None and html is not None
        plain = text.get_content().replace("\r\n", "\n")
        assert f"Hi {recipient.name}\n.a line that starts with a dot\n" in plain
        assert f"Unsubscribe: {recipient.unsubscribe_url}" in plain
        assert f"<p>Hi {recipient.name}</p>" in html.get_content()


def test_long_lines_reach_the_server_as_crlf_lines(server: FakeSmtpServer) -> None:
    message = prepared()
    message.html = SlottedText.parse("<p>" + "long words " * 300 + "%%SP0%%</p>")
    provider = provider_for(server)
    [result] = provider.send_batch(batch(message, "a@example.com"))
    provider.close()

    assert result.outcome is Outcome.SENT
    [received] = server.received
    assert b"\n" not in received.data.replace(b"\r\n", b"")
    assert max(len(line) for line in received.data.split(b"\r\n")) <= 78
    html = received.parsed().get_body(("html",))
    assert html is not None and "long words " * 300 + "Reader a" in html.get_content()


def test_one_connection_is_reused_across_batches(server: FakeSmtpServer) -> None:
    message = prepared()
    provider = provider_for(server)
    provider.send_batch(batch(message, "a@example.com", "b@example.com"))
    provider.send_batch(batch(message, "c@example.com"))
    provider.close()

    assert server.connections == 1
    assert len(server.received) == 3


def test_refusals_map_to_failed_bounced_and_transient(server: FakeSmtpServer) -> None:
    server.handler.refuse.update(
        {
            "gone@example.com": "550 5.1.1 <gone@example.com>: user unknown",
            "later@example.com": "451 4.7.1 greylisted, try again later",
            "spam@example.com": "550 5.7.1 message rejected as spam",
            "old@example.com": "553 mailbox name not allowed",
        }
    )
    addresses = (
        "gone@example.com",
        "later@example.com",
        "spam@example.com",
        "old@example.com",
        "ok@example.com",
    )
    provider = provider_for(server)
    results = provider.send_batch(batch(prepared(), *addresses))
    provider.close()

    summary = [(r.outcome, r.new_status, r.reason[:3]) for r in results]
    assert summary == [
        (Outcome.FAILED, SubscriberStatus.BOUNCED, "550"),
        (Outcome.TRANSIENT, None, "451"),
        (Outcome.FAILED, None, "550"),
        (Outcome.FAILED, SubscriberStatus.BOUNCED, "553"),
        (Outcome.SENT, None, ""),
    ]
    assert results[0].reason == "550 5.1.1 <gone@example.com>: user unknown"
    assert [m.rcpt_tos for m in server.received] == [["ok@example.com"]]
    assert server.connections == 1  # RSET kept the session going


def test_lost_during_data_is_unknown_beside_the_results_so_far(server: FakeSmtpServer) -> None:
    server.handler.drop_after_data.add("b@example.com")
    provider = provider_for(server)
    results = provider.send_batch(
        batch(prepared(), "a@example.com", "b@example.com", "c@example.com")
    )
    provider.close()

    assert [(r.email, r.outcome) for r in results] == [
        ("a@example.com", Outcome.SENT),
        ("b@example.com", Outcome.UNKNOWN),
        ("c@example.com", Outcome.TRANSIENT),
    ]
    assert results[2].reason.startswith("not attempted: connection to 127.0.0.1")
    assert "may have accepted" in results[1].reason
    assert sorted(server.by_recipient()) == ["a@example.com", "b@example.com"]


def test_throttled_mid_batch_returns_what_was_sent(server: FakeSmtpServer) -> None:
    server.handler.sender_limit = 2
    provider = provider_for(server)
    results = provider.send_batch(
        batch(prepared(), "a@example.com", "b@example.com", "c@example.com", "d@example.com")
    )
    provider.close()

    assert [r.outcome for r in results] == [Outcome.SENT] * 2 + [Outcome.TRANSIENT] * 2
    assert "454 4.7.0 Throttling failure" in results[2].reason
    assert sorted(server.by_recipient()) == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("454 4.7.0 Throttling failure: Maximum sending rate exceeded", TransientSendError),
        ("550 5.7.1 sender not allowed", PermanentSendError),
    ],
)
def test_sender_refused_before_anything_went_out_raises(
    server: FakeSmtpServer, reply: str, error: type[Exception]
) -> None:
    server.handler.sender_limit, server.handler.sender_reply = 0, reply
    provider = provider_for(server)
    with pytest.raises(error, match=r"refused sender author@example\.com") as caught:
        provider.send_batch(batch(prepared(), "a@example.com", "b@example.com"))
    provider.close()
    assert reply in str(caught.value)


def test_reconnects_when_the_server_closed_an_idle_connection(server: FakeSmtpServer) -> None:
    message = prepared()
    provider = provider_for(server)
    provider.send_batch(batch(message, "a@example.com"))
    server.hang_up_all()
    results = provider.send_batch(batch(message, "b@example.com", "c@example.com"))
    provider.close()

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT]
    assert server.connections == 2
    assert sorted(server.by_recipient()) == ["a@example.com", "b@example.com", "c@example.com"]


def test_no_server_is_a_transient_error() -> None:
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout=5.0)
    with pytest.raises(TransientSendError, match="cannot connect"):
        SmtpProvider(settings).send_batch(batch(prepared(), "a@example.com"))


def test_each_thread_reuses_its_own_connection(server: FakeSmtpServer) -> None:
    message = prepared()
    provider = provider_for(server)
    addresses = [f"r{i:03d}@example.com" for i in range(60)]
    chunks = [addresses[i : i + 5] for i in range(0, 60, 5)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(mine: list[list[str]]) -> None:
        barrier.wait()
        try:
            for chunk in mine:
                provider.send_batch(batch(message, *chunk))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(chunks[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    provider.close()

    assert errors == []
    assert {a: len(m) for a, m in server.by_recipient().items()} == dict.fromkeys(addresses, 1)
    assert server.connections == 4


def test_a_changed_subject_is_used_only_for_that_message(server: FakeSmtpServer) -> None:
    message = prepared()
    provider = provider_for(server)
    provider.send_batch(batch(message.with_subject("[TEST] Part 1"), "me@example.com", test=True))
    provider.send_batch(batch(message, "a@example.com"))
    provider.close()

    subjects = {a: m[0].parsed()["Subject"] for a, m in server.by_recipient().items()}
    assert subjects == {"me@example.com": "[TEST] Part 1", "a@example.com": "Part 1"}


def test_login_with_username_and_password() -> None:
    with running_smtp_server(credentials={"mailer": "right-pw"}) as server:
        provider = provider_for(server, username="mailer", password="right-pw")
        results = provider.send_batch(batch(prepared(), "a@example.com"))
        provider.close()
    assert [r.outcome for r in results] == [Outcome.SENT]
    assert server.handler.logins == ["mailer"]


def test_wrong_password_is_permanent_and_never_shown() -> None:
    with running_smtp_server(credentials={"mailer": "right-pw"}) as server:
        provider = provider_for(server, username="mailer", password="wrong-pw-7f3a")
        with pytest.raises(PermanentSendError) as caught:
            provider.send_batch(batch(prepared(), "a@example.com"))
    error = caught.value
    assert "535" in str(error) and "mailer" in str(error)
    shown = " ".join([str(error), repr(error), error.hint or "", repr(error.__context__)])
    assert "wrong-pw-7f3a" not in shown
    assert error.__cause__ is None and error.__suppress_context__
    assert server.received == []


def test_starttls_with_a_trusted_certificate(tls_files: TlsFiles) -> None:
    with running_smtp_server(tls=tls_files, credentials={"mailer": "pw"}) as server:
        provider = provider_for(
            server,
            security="starttls",
            username="mailer",
            password="pw",
            tls_context=tls_files.client_context(),
        )
        results = provider.send_batch(batch(prepared(), "a@example.com", "b@example.com"))
        provider.close()
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT]
    assert server.connections == 1  # EHLO after STARTTLS is the same connection


def test_starttls_refuses_an_untrusted_certificate(tls_files: TlsFiles) -> None:
    with running_smtp_server(tls=tls_files) as server:
        provider = provider_for(server, security="starttls")  # system CAs only
        with pytest.raises(PermanentSendError, match="certificate not trusted") as caught:
            provider.send_batch(batch(prepared(), "a@example.com"))
    assert server.received == []
    assert 'ca_file = "ca.pem"' in str(caught.value.hint)


def test_starttls_missing_on_the_server_is_permanent(server: FakeSmtpServer) -> None:
    provider = provider_for(server, security="starttls")
    with pytest.raises(PermanentSendError, match="does not offer STARTTLS") as caught:
        provider.send_batch(batch(prepared(), "a@example.com"))
    assert 'security = "tls"' in str(caught.value.hint)


def test_implicit_tls(tls_files: TlsFiles) -> None:
    with running_smtp_server(tls=tls_files, implicit_tls=True) as server:
        provider = provider_for(server, security="tls", tls_context=tls_files.client_context())
        results = provider.send_batch(batch(prepared(), "a@example.com"))
        provider.close()
    assert [r.outcome for r in results] == [Outcome.SENT]


def test_create_requires_the_password_only_with_a_username(tmp_path: Path) -> None:
    def context(env: dict[str, str], username: str | None) -> ProviderContext:
        settings = Settings(
            SeriesSettings("T", "A <a@example.com>"),
            DeliverySettings(provider="smtp", smtp=SmtpSettings(username=username)),
        )
        return ProviderContext(settings, Secrets(env), tmp_path)

    assert make_provider("smtp", context({}, None)).name == "smtp"
    with pytest.raises(ConfigError, match="SMTP_PASSWORD"):
        make_provider("smtp", context({}, "mailer"))
    assert make_provider("smtp", context({"SMTP_PASSWORD": "pw"}, "mailer")).name == "smtp"


# -- misconfiguration: fast, and explained ---------------------------------------------------
def timed_open(
    provider: SmtpProvider,
    error: type[SendError],
    match: str,
) -> tuple[pytest.ExceptionInfo[SendError], float]:
    started = time.monotonic()
    with pytest.raises(error, match=match) as caught:
        provider.open()
    return caught, time.monotonic() - started


@pytest.mark.parametrize("security", ["starttls", "none"])
def test_plain_smtp_on_an_implicit_tls_port_fails_fast_with_the_hint(
    tls_files: TlsFiles, security: str
) -> None:
    # What port 465 with security = "starttls" does: the server waits for a TLS hello,
    # the client for a greeting. It used to hang for the whole timeout, then retry.
    with running_smtp_server(tls=tls_files, implicit_tls=True) as server:
        provider = provider_for(server, security=security, timeout=30.0)
        caught, elapsed = timed_open(
            provider, PermanentSendError, "expects TLS from the first byte"
        )
    assert elapsed < 4
    assert 'set security = "tls"' in str(caught.value.hint)
    assert "465" in str(caught.value)
    assert server.received == []


def test_tls_on_a_plain_port_fails_fast_with_the_hint(server: FakeSmtpServer) -> None:
    provider = provider_for(server, security="tls", timeout=30.0)
    caught, elapsed = timed_open(provider, PermanentSendError, "greets in plain text")
    assert elapsed < 4
    assert 'set security = "starttls"' in str(caught.value.hint)
    assert "'220 " in str(caught.value)


def test_a_server_that_never_greets_gives_up_after_the_short_wait() -> None:
    with raw_smtp_server(greet_after=None) as silent:
        settings = SmtpSettings(
            host="127.0.0.1", port=silent.port, security="starttls", timeout=2.0
        )
        caught, elapsed = timed_open(
            SmtpProvider(settings), TransientSendError, "sent no greeting within 2 s"
        )
    assert 1.9 < elapsed < 4
    assert "host and port" in str(caught.value.hint)
    assert silent.connections == 2  # ours, and the probe that found no TLS


def test_a_slow_greeting_is_still_accepted() -> None:
    with raw_smtp_server(greet_after=1.5) as slow:
        provider = SmtpProvider(
            SmtpSettings(host="127.0.0.1", port=slow.port, security="none", timeout=5.0)
        )
        provider.open()
        provider.close()
    assert slow.connections == 2  # the probe got a plain greeting: not TLS


def test_open_checks_the_server_and_its_connection_carries_the_first_batch(
    server: FakeSmtpServer,
) -> None:
    provider = provider_for(server)
    provider.open()
    assert server.connections == 1
    results = provider.send_batch(batch(prepared(), "a@example.com"))
    provider.close()
    assert [r.outcome for r in results] == [Outcome.SENT]
    assert server.connections == 1


def test_auth_offered_only_after_starttls_has_its_own_hint(tls_files: TlsFiles) -> None:
    with running_smtp_server(
        tls=tls_files, credentials={"mailer": "pw"}, auth_require_tls=True
    ) as server:
        provider = provider_for(server, security="none", username="mailer", password="pw")
        caught, _ = timed_open(provider, PermanentSendError, "AUTH only after STARTTLS")
    assert caught.value.hint is not None and 'set security = "starttls"' in caught.value.hint
    assert server.handler.logins == []


def test_no_auth_offered_at_all_says_so(server: FakeSmtpServer) -> None:
    provider = provider_for(server, username="mailer", password="pw")
    caught, _ = timed_open(provider, PermanentSendError, "does not offer AUTH")
    assert "remove delivery.smtp.username" in str(caught.value.hint)


def test_sending_in_clear_to_a_server_that_wants_starttls_has_a_hint(tls_files: TlsFiles) -> None:
    with running_smtp_server(tls=tls_files) as server:
        provider = provider_for(server, security="none")
        with pytest.raises(PermanentSendError, match="530") as caught:
            provider.send_batch(batch(prepared(), "a@example.com"))
    assert 'set security = "starttls"' in str(caught.value.hint)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_sending_without_a_login_where_one_is_required_has_a_hint() -> None:
    with running_smtp_server(credentials={"mailer": "pw"}, auth_required=True) as server:
        provider = provider_for(server)
        with pytest.raises(PermanentSendError, match="530") as caught:
            provider.send_batch(batch(prepared(), "a@example.com"))
    assert "username" in str(caught.value.hint) and "SMTP_PASSWORD" in str(caught.value.hint)


# -- ca_file -----------------------------------------------------------------------------------
def smtp_context(root: Path, **smtp: object) -> ProviderContext:
    settings = Settings(
        SeriesSettings("T", "A <a@example.com>"),
        DeliverySettings(provider="smtp", smtp=SmtpSettings(**smtp)),  # type: ignore[arg-type]
    )
    return ProviderContext(settings, Secrets({}), root / ".seriespub")


def test_ca_file_trusts_a_private_ca_relative_to_the_series(tmp_path: Path) -> None:
    root = tmp_path / "series"
    ca = make_private_ca(root / "certs")
    with running_smtp_server(tls=ca.server_files()) as server:
        provider = make_provider(
            "smtp",
            smtp_context(
                root,
                host=server.host,
                port=server.port,
                security="starttls",
                ca_file="certs/ca.pem",
            ),
        )
        results = provider.send_batch(batch(prepared(), "a@example.com"))
        provider.close()
        untrusted = make_provider(
            "smtp", smtp_context(root, host=server.host, port=server.port, security="starttls")
        )
        with pytest.raises(PermanentSendError, match="certificate not trusted"):
            untrusted.open()
        untrusted.close()
    assert [r.outcome for r in results] == [Outcome.SENT]
    assert len(server.received) == 1


@pytest.fixture
def strict_as_on_313(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verification as Python 3.13's default context does it (RFC 5280, strictly), on any
    Python: the refusal below is the real one OpenSSL makes there."""
    real = ssl.create_default_context

    def strict(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = real(*args, **kwargs)
        context.verify_flags |= ssl.VERIFY_X509_STRICT
        return context

    monkeypatch.setattr(ssl, "create_default_context", strict)


def refusal(root: Path, server: FakeSmtpServer, **smtp: object) -> PermanentSendError:
    provider = make_provider(
        "smtp", smtp_context(root, host=server.host, port=server.port, security="starttls", **smtp)
    )
    try:
        with pytest.raises(PermanentSendError, match="certificate not trusted") as caught:
            provider.open()
    finally:
        provider.close()
    return caught.value


def test_a_ca_file_whose_ca_a_strict_check_refuses_says_why_not_to_set_ca_file(
    tmp_path: Path, strict_as_on_313: None
) -> None:
    """A private CA made without key identifiers, already in ca_file: on Python 3.13 the
    hint used to say to set ca_file, which was set. It says what OpenSSL refused instead."""
    root = tmp_path / "series"
    ca = make_private_ca(root / "certs", key_identifiers=False)
    with running_smtp_server(tls=ca.server_files()) as server:
        error = refusal(root, server, ca_file="certs/ca.pem")
    hint = str(error.hint)
    assert "Key Identifier" in str(error)  # OpenSSL's own words, e.g. "Missing Authority …"
    assert "set ca_file" not in hint
    assert "certs/ca.pem" in hint and "RFC 5280" in hint and "key identifiers" in hint
    assert server.received == []


def test_a_ca_file_without_the_servers_ca_says_so(tmp_path: Path) -> None:
    root = tmp_path / "series"
    ca = make_private_ca(root / "certs")
    make_private_ca(root / "other")  # a CA, but not the one that signed the server's
    with running_smtp_server(tls=ca.server_files()) as server:
        error = refusal(root, server, ca_file="other/ca.pem")
        without = refusal(root, server)
    assert "other/ca.pem" in str(error.hint) and "does not hold" in str(error.hint)
    assert 'set ca_file = "ca.pem" under [delivery.smtp]' in str(without.hint)


@pytest.mark.parametrize(
    ("content", "reason"), [(None, "No such file"), ("not a certificate\n", "")]
)
def test_a_ca_file_that_cannot_be_loaded_is_a_config_error(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    if content is not None:
        (tmp_path / "ca.pem").write_text(content)
    with pytest.raises(ConfigError, match=f"delivery.smtp.ca_file.*{reason}") as caught:
        make_provider("smtp", smtp_context(tmp_path, ca_file="ca.pem"))
    assert str(tmp_path / "ca.pem") in str(caught.value)


def test_a_relay_refusal_stops_the_batch_instead_of_failing_each_reader(
    server: FakeSmtpServer,
) -> None:
    # Without a login a server refuses every reader alike: that is the settings' fault, and
    # marking each delivery failed would never send it.
    server.handler.refuse.update(
        {
            "b@example.com": "554 5.7.1 <b@example.com>: Relay access denied",
            "c@example.com": "554 5.7.1 <c@example.com>: Relay access denied",
        }
    )
    provider = provider_for(server)
    with pytest.raises(PermanentSendError, match="Relay access denied") as caught:
        provider.send_batch(batch(prepared(), "b@example.com", "c@example.com"))
    assert "username" in str(caught.value.hint)
    results = provider.send_batch(
        batch(prepared(), "a@example.com", "b@example.com", "c@example.com")
    )
    provider.close()
    assert [(r.outcome, r.reason[:3]) for r in results] == [
        (Outcome.SENT, ""),
        (Outcome.TRANSIENT, "127"),
        (Outcome.TRANSIENT, "127"),
    ]
    assert [m.rcpt_tos for m in server.received] == [["a@example.com"]]
