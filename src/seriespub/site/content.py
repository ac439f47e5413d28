"""What the site publishes: the released parts, each rendered once with its merge defaults.

Pure: takes the drafts, the ledger's records, the calendar and `now`; reads no subscriber.
A part's content in the feed has every link absolute (`absolute_links`): a feed reader shows
it away from its page, where a footnote's `#fn-1` would resolve against the feed's URL.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import urllib.parse
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from seriespub.ledger import InstalmentRecord
from seriespub.message import SLOT_RE, UNSUBSCRIBE_FIELD
from seriespub.models import Instalment
from seriespub.render import markdown
from seriespub.render.footnotes import NoteWords
from seriespub.schedule import PlannedRelease
from seriespub.site.urls import page_dir, slug_for


@dataclass(frozen=True)
class Part:
    """One released instalment as the site shows it."""

    number: int
    title: str
    summary: str  # the preheader: meta description, feed summary
    released: dt.datetime  # aware: when it went out, else its release slot
    slug: str
    content: str  # HTML fragment, merge fields filled with their defaults
    changed: dt.datetime | None = None  # its last edit readers see (`edits`); None: none
    body: str = ""  # the draft's Markdown as the author wrote it (`edits`)

    @property
    def path(self) -> str:
        return page_dir(self.number, self.slug)

    @property
    def updated(self) -> dt.datetime:
        """When it last changed: its release, or a later edit (never before its release)."""
        return max(self.released, self.changed or self.released)

    @property
    def edited(self) -> bool:
        """Whether an edit since its release shows (to the second, as every date is written)."""
        return self.updated.replace(microsecond=0) > self.released.replace(microsecond=0)


def released_at(
    instalment: Instalment,
    record: InstalmentRecord | None,
    release: PlannedRelease | None,
    now: dt.datetime,
    went_up: dt.datetime | None = None,
    held: bool = False,
) -> dt.datetime | None:
    """When `instalment` was released, or None while it is not (drafts never are).
    `went_up`: when its page, still on the site, first went up (it stays released).
    `held`: its send is only held by the provider until `record.started_at`, still ahead,
    and no reader has it yet: released then, when mail readers get it, not at the hand-over
    (nor at its slot, if that passed before the hand-over)."""
    if not instalment.is_ready:
        return None
    if held:
        return went_up
    if record is not None and record.started_at is not None:
        return record.started_at
    if release is not None and release.release <= now:
        return release.release
    return went_up


def released_parts(
    instalments: list[Instalment],
    records: Mapping[int, InstalmentRecord],
    releases: Mapping[int, PlannedRelease],
    slugs: Mapping[int, str],
    now: dt.datetime,
    notes: NoteWords,
    went_up: Mapping[int, dt.datetime] | None = None,
    held: Collection[int] = (),
) -> list[Part]:
    """The released parts in number order, rendered; `went_up`: pages on the site now and
    when each first went up; `held`: parts only held until a time ahead (see `released_at`)."""
    parts = []
    for instalment in instalments:
        number = instalment.number
        when = released_at(
            instalment,
            records.get(number),
            releases.get(number),
            now,
            (went_up or {}).get(number),
            number in held,
        )
        if when is not None:
            parts.append(
                Part(
                    instalment.number,
                    instalment.title,
                    instalment.preheader,
                    when,
                    slug_for(instalment, slugs),
                    render_body(instalment.body, notes),
                    body=instalment.body,
                )
            )
    return parts


def render_body(body: str, notes: NoteWords) -> str:
    """The draft's Markdown as HTML, every merge field replaced by its default (escaped)."""
    slots = markdown.SlotTable()
    rendered = markdown.to_html(slots.replace_tags(body), notes, named_anchors=False)

    def default(match: re.Match[str]) -> str:
        slot = slots.slots[int(match.group(1))]
        return "" if slot.field == UNSUBSCRIBE_FIELD else html.escape(slot.default)

    return SLOT_RE.sub(default, rendered)


# An href/src attribute the Markdown renderer (or the author's raw HTML) writes.
_LINK_ATTRIBUTE = re.compile(r"""(\s(?:href|src)=)("[^"]*"|'[^']*')""", re.IGNORECASE)


def absolute_links(fragment: str, page_url: str) -> str:
    """`fragment` with each relative href/src resolved against `page_url`; absolute ones
    (https:, mailto:) stay exactly as written."""

    def resolved(match: re.Match[str]) -> str:
        attribute, quoted = match.groups()
        value = quoted[1:-1]
        in_tag = fragment.rfind("<", 0, match.start()) > fragment.rfind(">", 0, match.start())
        if not in_tag or urllib.parse.urlsplit(html.unescape(value)).scheme:
            return match.group(0)  # text that only looks like one, or already absolute
        return f"{attribute}{quoted[0]}{urllib.parse.urljoin(page_url, value)}{quoted[0]}"

    return _LINK_ATTRIBUTE.sub(resolved, fragment)
