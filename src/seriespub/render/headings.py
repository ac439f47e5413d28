"""Headings get an id an author can link to: `## A heading` → `<h2 id="a-heading">`.

pulldown-cmark writes headings without ids, so `[see below](#a-heading)` (the anchor GitHub
and most Markdown sites make) led nowhere, on the site and in the email. `add_ids` gives
each heading GitHub's id: its text lower-cased, punctuation dropped, spaces as hyphens,
letters of every script kept; a repeated one gets `-1`, `-2`. An id that the page already
uses for something else (the site's `content`) gets a suffix the same way, and one that
looks like a footnote's (`fn-1`) a prefix (`section-fn-1`), so no id is ever given twice.
A merge field in a heading counts for nothing (its value differs per reader). Like
footnotes, a heading in an email also gets an empty `<a name>` for the mail clients that
follow a local link only to a named anchor.
"""

from __future__ import annotations

import html
import re

from seriespub.message import SLOT_RE

# Ids seriespub's own pages and notes use: a heading never takes one.
RESERVED = frozenset({"content", "subscribe", "parts", "email"})
_NOTE_ID = re.compile(r"fn(?:ref)?-\d+(?:-\d+)?")
_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_DROPPED = re.compile(r"[^\w\- ]")


def heading_id(inner_html: str) -> str:
    """GitHub's anchor for a heading whose content is `inner_html`."""
    text = html.unescape(_TAG.sub("", SLOT_RE.sub("", inner_html))).strip().lower()
    return _DROPPED.sub("", text).replace(" ", "-")


def add_ids(fragment: str, named_anchors: bool = True) -> str:
    """`fragment` with an id on each heading (and an `<a name>` before it if asked)."""
    taken: set[str] = set()

    def with_id(match: re.Match[str]) -> str:
        level, inner = match.groups()
        base = heading_id(inner) or "section"
        if _NOTE_ID.fullmatch(base):  # `## Fn 1`: the note's id stays the note's
            base = f"section-{base}"
        target, n = base, 0
        while target in taken or target in RESERVED:
            n += 1
            target = f"{base}-{n}"
        taken.add(target)
        anchor = f'<a name="{target}"></a>' if named_anchors else ""
        return f'{anchor}<h{level} id="{html.escape(target)}">{inner}</h{level}>'

    return _HEADING.sub(with_id, fragment)
