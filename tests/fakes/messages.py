"""A small prepared instalment, batches of it, and providers built as the CLI builds them,
for provider tests without the renderer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

from seriespub.config import DeliverySettings, Secrets, SeriesSettings, Settings
from seriespub.message import PreparedMessage, Slot, SlottedText
from seriespub.models import Subscriber
from seriespub.providers import Provider, ProviderContext, make_provider
from seriespub.providers.base import Batch

NASTY = '<b>Ann & "Bo"</b>'  # a name that must be escaped in HTML, not in text
HTML = '<p>Hi %%SP0%%</p><a href="%%SP1%%">unsubscribe</a>'
TEXT = "Hi %%SP0%%\nUnsubscribe: %%SP1%%"
# Providers `build_provider` made; conftest closes them after each test, as the CLI closes
# the one it builds (an open httpx client is an open socket).
BUILT: list[Provider] = []


def make_message(
    number: int = 1,
    subject: str = "Part 1",
    *,
    reply_to: str | None = None,
    html: str = HTML,
    text: str = TEXT,
    unsubscribe_url: str = "https://example.com/u?t={token}",
) -> PreparedMessage:
    """An instalment whose two slots are the reader's name and unsubscribe link."""
    return PreparedMessage(
        number=number,
        subject=subject,
        from_header="Author <author@example.com>",
        reply_to=reply_to,
        html=SlottedText.parse(html),
        text=SlottedText.parse(text),
        slots=(Slot("name", "reader"), Slot("unsubscribe_url")),
        unsubscribe_url=unsubscribe_url,
        secret=b"k",
    )


def make_batch(
    message: PreparedMessage,
    *people: tuple[str, str],
    key: str = "key-1",
    test: bool = False,
    send_at: dt.datetime | None = None,
) -> Batch:
    """One batch of `message` to (address, name) pairs."""
    recipients = [message.recipient(Subscriber(email, name)) for email, name in people]
    return Batch(key, message, recipients, send_at=send_at, test=test)


def build_provider(
    name: str,
    delivery: DeliverySettings,
    secrets: dict[str, str],
    transport: httpx.BaseTransport | None = None,
    state_dir: Path = Path("."),
) -> Provider:
    """Provider `name` as the CLI would build it, with these settings and secrets."""
    settings = Settings(SeriesSettings("T", "Author <author@example.com>"), delivery)
    context = ProviderContext(settings, Secrets(secrets), state_dir, http_transport=transport)
    provider = make_provider(name, context)
    BUILT.append(provider)
    return provider
