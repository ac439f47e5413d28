"""seriespub against a real Postfix on 127.0.0.1: STARTTLS with a private CA, implicit TLS,
SASL logins, the port/security mix-ups, and delivery into mbox files read back with Python's
`mailbox`. One Postfix instance serves the module (start and stop take about 4 s); it
relays nowhere (see fakes/postfix.py). Skipped, with the reason, where Postfix cannot run.
"""

from __future__ import annotations

import email
import re
import shutil
import time
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from conftest import delivery_log, write_subscribers
from fakes.messages import make_message
from fakes.postfix import DOMAIN, MAILBOXES, PASSWORD, USER, Postfix, running_postfix, unavailable
from seriespub.config import Secret, SmtpSettings
from seriespub.errors import PermanentSendError
from seriespub.models import Outcome, Subscriber, SubscriberStatus
from seriespub.providers.base import Batch
from seriespub.providers.smtp import SmtpProvider
from seriespub.providers.smtp_connect import tls_context

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(unavailable() is not None, reason=str(unavailable())),
]

READERS = ("reader0001", "reader0002", "reader0003")

DRAFT = """---
title: From the ground up
status: ready
---
Hello {{ name | default("there") }},

From the ground up: this line starts with From and a space.

From here on, every part is a week apart.
"""


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    with running_postfix((*MAILBOXES, *READERS)) as running:
        yield running


def provider(
    postfix: Postfix,
    *,
    port: int | None = None,
    security: str = "starttls",
    login: bool = True,
    password: str = PASSWORD,
    trust: bool = True,
) -> SmtpProvider:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=port or postfix.port,
        security=security,
        username=USER if login else None,
        timeout=10.0,
    )
    context = tls_context(postfix.ca.ca_cert if trust else None)
    return SmtpProvider(settings, Secret(password) if login else None, tls_context=context)


def send(smtp: SmtpProvider, *local_parts: str) -> list[Any]:
    message = make_message(subject="Through Postfix")
    recipients = [message.recipient(Subscriber(f"{p}@{DOMAIN}", p.title())) for p in local_parts]
    try:
        return smtp.send_batch(Batch("k", message, recipients))
    finally:
        smtp.close()


def parsed(postfix: Postfix, local_part: str, count: int = 1) -> list[EmailMessage]:
    found = postfix.wait_for(local_part, count)
    assert len(found) == count, postfix.log()[-3000:]
    return [email.message_from_bytes(m.as_bytes(), policy=policy.default) for m in found]


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_starttls_with_a_private_ca_and_a_login(postfix: Postfix) -> None:
    results = send(provider(postfix), "ann", "bob")
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT]
    for name in ("ann", "bob"):
        [message] = parsed(postfix, name)
        assert message["Delivered-To"] == f"{name}@{DOMAIN}"
        received = " ".join(message.get_all("Received", []))
        assert f"Authenticated sender: {USER}@{DOMAIN}" in received
        assert "with ESMTPSA" in received  # S: TLS, A: authenticated
        assert message["Subject"] == "Through Postfix"
        assert message["Message-ID"] == results[0 if name == "ann" else 1].message_id
        text, html = text_and_html(message)
        assert f"Hi {name.title()}" in text and f"<p>Hi {name.title()}</p>" in html


def test_implicit_tls_with_a_login(postfix: Postfix) -> None:
    results = send(provider(postfix, port=postfix.tls_port, security="tls"), "cy")
    assert [r.outcome for r in results] == [Outcome.SENT]
    [message] = parsed(postfix, "cy")
    assert "with ESMTPSA" in " ".join(message.get_all("Received", []))


def test_without_the_ca_the_certificate_is_not_trusted(postfix: Postfix) -> None:
    with pytest.raises(PermanentSendError, match="certificate not trusted") as caught:
        provider(postfix, trust=False).open()
    assert "ca_file" in str(caught.value.hint)


def test_starttls_on_the_implicit_tls_port_fails_fast_with_the_hint(postfix: Postfix) -> None:
    started = time.monotonic()
    with pytest.raises(PermanentSendError, match="expects TLS from the first byte") as caught:
        provider(postfix, port=postfix.tls_port, security="starttls").open()
    assert time.monotonic() - started < 5
    assert 'set security = "tls"' in str(caught.value.hint)


def test_tls_on_the_plain_port_fails_fast_with_the_hint(postfix: Postfix) -> None:
    started = time.monotonic()
    with pytest.raises(PermanentSendError, match="greets in plain text") as caught:
        provider(postfix, security="tls").open()
    assert time.monotonic() - started < 5
    assert "mail.seriespub.test ESMTP" in str(caught.value)
    assert 'set security = "starttls"' in str(caught.value.hint)


def test_a_login_without_tls_gets_the_auth_after_starttls_hint(postfix: Postfix) -> None:
    with pytest.raises(PermanentSendError, match="AUTH only after STARTTLS") as caught:
        provider(postfix, security="none").open()
    assert 'set security = "starttls"' in str(caught.value.hint)


def test_a_wrong_password_is_refused_with_the_login_hint(postfix: Postfix) -> None:
    with pytest.raises(PermanentSendError, match=f"refused the login of '{USER}': 535") as caught:
        provider(postfix, password="not-the-password").open()
    assert caught.value.hint == "check delivery.smtp.username and SMTP_PASSWORD"
    assert "not-the-password" not in str(caught.value)


def test_an_unknown_mailbox_bounces_and_the_others_arrive(postfix: Postfix) -> None:
    results = send(provider(postfix), "dee", "no.such.reader", "eve")
    summary = [(r.outcome, r.new_status, r.reason[:9]) for r in results]
    assert summary == [
        (Outcome.SENT, None, ""),
        (Outcome.FAILED, SubscriberStatus.BOUNCED, "550 5.1.1"),
        (Outcome.SENT, None, ""),
    ]
    assert len(parsed(postfix, "dee")) == len(parsed(postfix, "eve")) == 1


def test_without_a_login_a_relay_refusal_stops_the_batch(postfix: Postfix) -> None:
    smtp = provider(postfix, login=False)
    message = make_message()
    outside = [message.recipient(Subscriber(a)) for a in ("x@example.com", "y@example.com")]
    with pytest.raises(PermanentSendError, match="Relay access denied") as caught:
        smtp.send_batch(Batch("k", message, outside))
    smtp.close()
    assert "set username" in str(caught.value.hint)
    rejected = "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1"
    log = postfix.log(holding=rejected)
    assert rejected in log
    assert "to=<x@example.com>, relay=" not in log  # never queued or delivered
    assert "y@example.com" not in log  # the batch stopped at once


@pytest.fixture
def series_via_postfix(
    postfix: Postfix, make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """`seriespub.toml` sending through Postfix with STARTTLS, a login and `ca_file`."""
    delivery = (
        f'[delivery]\nprovider = "smtp"\n[delivery.smtp]\nhost = "127.0.0.1"\n'
        f'port = {postfix.port}\nsecurity = "starttls"\nusername = "{USER}"\n'
        'ca_file = "certs/ca.pem"\n'
    )
    for name in READERS:  # each test starts with empty mailboxes
        postfix.mbox_path(name).unlink(missing_ok=True)
    root = make_series(delivery=delivery, drafts=0)
    (root / "certs").mkdir()
    shutil.copy(postfix.ca.ca_cert, root / "certs" / "ca.pem")
    (root / "drafts" / "01-from.md").write_text(DRAFT, encoding="utf-8")
    write_subscribers(root / "subscribers.csv", len(READERS), domain=DOMAIN)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    return root


def test_send_next_through_postfix_lands_in_each_mbox_intact(
    postfix: Postfix, series_via_postfix: Path, cli: Callable[..., Any]
) -> None:
    result = cli(series_via_postfix, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    log = delivery_log(cli, series_via_postfix)
    for n, name in enumerate(READERS, 1):
        [message] = parsed(postfix, name)
        assert message.defects == []
        assert message["To"] == f"Reader {n} <{name}@{DOMAIN}>"
        assert message["Subject"] == "From the ground up"
        assert message["Message-ID"] == log[f"{name}@{DOMAIN}"]["message_id"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text, html = text_and_html(message)
        assert f"Hello Reader {n}," in text and f"Hello Reader {n}," in html
    assert {d["status"] for d in log.values()} == {"sent"}


def test_lines_starting_with_from_survive_mbox_delivery(
    postfix: Postfix, series_via_postfix: Path, cli: Callable[..., Any]
) -> None:
    result = cli(series_via_postfix, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    [stored] = postfix.wait_for(READERS[0], 1)
    assert not re.search(rb"^>+From ", stored.as_bytes(), re.MULTILINE)
    [message] = parsed(postfix, READERS[0])
    text, html = text_and_html(message)
    assert "\nFrom the ground up\n" in text  # the title
    assert "\nFrom the ground up: this line starts with From and a space.\n" in text
    assert "\nFrom here on, every part" in text
    assert ">From the ground up: this line" in html  # after <p>, not mbox-quoted
