"""`preview` as library calls: an instalment as one reader will get it, and a live preview.

`prepare` renders the instalment exactly as a send would (the same rendering and checks),
for one subscriber: the first active one, or the address asked for (an unknown address is an
InputError). The size reported is the HTML part as it travels (encoded), which is what Gmail's
~102 KB clipping counts. `watch` serves the draft on 127.0.0.1 only, re-rendered on each edit.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seriespub import checking, outputs, publishing, schedule, subscribers
from seriespub.errors import InputError
from seriespub.message import SLOT_RE, PreparedMessage
from seriespub.models import Recipient, Subscriber
from seriespub.render.markdown import SlotTable
from seriespub.series import Series as Series  # re-exported for the CLI's types

if TYPE_CHECKING:
    from seriespub.site.serve import LivePreview

GMAIL_CLIP_BYTES = 102 * 1024


@dataclass(frozen=True)
class Preview:
    """One instalment rendered for one reader."""

    series_title: str
    message: PreparedMessage
    recipient: Recipient
    html: str  # the HTML part for this reader
    text: str  # the text part for this reader
    body: str  # the draft's Markdown with this reader's values filled in
    size_as_sent: int  # bytes of the HTML part, encoded as it travels
    reach: int  # active subscribers
    release: str | None  # "Tue 2026-12-01 09:00 GMT (in 3 days, planned)", if scheduled

    @property
    def sender(self) -> str:
        """The From line as the author wrote it: its name decoded, not RFC 2047-encoded."""
        box = self.message.sender
        return f"{box.name} <{box.address}>" if box.name else box.address


def prepare(
    series: Series, ref: str, address: str | None = None, now: dt.datetime | None = None
) -> Preview:
    """Render `ref` (next, a number or a draft file) for `address` or the first active reader."""
    drafts = publishing.drafts_of(series)
    instalment = publishing.resolve(series, drafts, ref)
    message = publishing.render(series, drafts, instalment, create_key=False)
    recipient = sample_recipient(series, message, address)
    return Preview(
        series.settings.series.title,
        message,
        recipient,
        message.html_for(recipient),
        message.text_for(recipient),
        filled_body(instalment.body, recipient),
        checking.sizes_as_sent(message, [], recipient)[0],
        subscribers.count_active(series.subscribers_path),
        release_line(series, instalment.number, now or dt.datetime.now(dt.UTC)),
    )


def sample_recipient(series: Series, message: PreparedMessage, address: str | None) -> Recipient:
    """`address`'s subscriber, or the first active one (a blank sample if there is none)."""
    for subscriber in subscribers.iter_subscribers(series.subscribers_path):
        if subscriber.key == address.lower() if address else subscriber.status == "active":
            return message.recipient(subscriber)
    if address:
        raise InputError(
            f"no subscriber {address}",
            path=series.subscribers_path,
            hint="seriespub subscribers list shows who is there",
        )
    return message.recipient(Subscriber("reader@example.com", ""))


def filled_body(body: str, recipient: Recipient) -> str:
    """The draft's Markdown with each merge tag replaced by this reader's value (or its
    default), escaped so that the value shows as typed."""
    slots = SlotTable()
    tokens = slots.replace_tags(body)

    def value(match: re.Match[str]) -> str:
        slot = slots.slots[int(match.group(1))]
        raw = recipient.values.get(slot.field) or slot.default
        return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", raw)

    return SLOT_RE.sub(value, tokens)


def release_line(series: Series, number: int, now: dt.datetime) -> str | None:
    """When the calendar releases part `number`, in words; None without a slot."""
    from seriespub.scheduling import releases_by_number

    drafts = publishing.drafts_of(series, strict=False)
    with publishing.open_ledger(series, readonly=True) as ledger:
        release = releases_by_number(series, drafts, ledger, now).get(number)
    if release is None:
        return None
    return (
        f"{schedule.format_local(release.shown)} "
        f"({schedule.relative(release.shown, now)}, {release.status.value})"
    )


def write_html(series: Series, path: Path, html: str) -> int:
    """Write the HTML part to `path` (`seriespub.outputs`: never over the series' own
    files, nor over a file that is not HTML); bytes written. A bad path is one line."""
    data = html.encode()
    outputs.write_output(series, path, data, outputs.HTML)
    return len(data)


def watch(series: Series, ref: str, address: str | None, port: int) -> LivePreview:
    """Serve the draft `ref` names on 127.0.0.1:`port`, re-rendered whenever it, the config
    or the series' template changes; the caller stops it (`.stop()`)."""
    from seriespub.drafts import read_draft
    from seriespub.site.serve import LivePreview

    path = publishing.resolve(series, publishing.drafts_of(series, strict=False), ref).path

    def render() -> str:
        drafts = publishing.drafts_of(series, strict=False)
        message = publishing.render(series, drafts, read_draft(path), create_key=False)
        return message.html_for(sample_recipient(series, message, address))

    watched = [path, series.config_path, series.root / "templates" / "email.mjml"]
    try:
        return LivePreview(render, watched, port)
    except OSError as exc:
        raise InputError(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", hint="choose another with --port"
        ) from None
