"""When each published part last changed as readers see it: the date of an edit.

An edit is a change the author made that readers see. So a build compares two fingerprints
of each part with what the last build recorded: its *source* (a hash of the title, the
summary (the preheader) and the Markdown, as written) and its *shown* (a hash of the same
title and summary and the text as rendered, merge fields at their defaults, before the feed
makes its links absolute). A part is dated only when both differ: a fixed typo, a mended
link, a new title or summary. That is what "changed significantly" (RFC 4287 §4.2.15) means
here. A source change that renders the same (`__x__` for `**x**`) dates nothing, nor does a
seriespub upgrade that renders the same Markdown otherwise (its source is unchanged), nor
what is not the part's own: "Part N of M" and the previous/next links (a new part), the
series' title, the templates, `base_url`.

The build keeps each part's fingerprints, and when it last changed, in
`.seriespub/site.json` (`urls.record_slugs`). A part with no usable entry there (first
published, or a record from before they were kept, or a damaged entry) is taken as unchanged
since its release; an entry with no source fingerprint (kept by an earlier version) is
compared by what it shows alone. A part dated as edited is dated `now`, the build that
publishes the edit, and that date is kept until its next edit. So a rebuild with nothing new
changes no byte. Pure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping

from seriespub.site.content import Part


@dataclasses.dataclass(frozen=True)
class Shown:
    """What a build recorded of a part: its fingerprints (`sha256`: what it showed;
    `source`: what the author wrote, None in an earlier version's record), and when it last
    changed (None: not since its release)."""

    sha256: str
    changed: dt.datetime | None = None
    source: str | None = None

    def as_json(self) -> dict[str, str]:
        data = {"sha256": self.sha256}
        if self.source is not None:
            data["source"] = self.source
        if self.changed is not None:
            data["changed"] = self.changed.isoformat()
        return data


def from_json(value: object) -> Shown | None:
    """A recorded entry, or None if it is not one this build can trust (then the part is
    taken as unchanged: a damaged record never dates every part as edited, nor fails)."""
    if not isinstance(value, dict) or not isinstance(value.get("sha256"), str):
        return None
    source = value.get("source")
    if not isinstance(source, str | None):
        return None
    changed = value.get("changed")
    if changed is None:
        return Shown(value["sha256"], source=source)
    try:
        when = dt.datetime.fromisoformat(changed) if isinstance(changed, str) else None
    except ValueError:
        return None
    return Shown(value["sha256"], when, source) if when and when.tzinfo else None


def fingerprint(part: Part) -> str:
    """What readers see of the part's own: its title, summary and rendered text."""
    return _sha256([part.title, part.summary, part.content])


def source_fingerprint(part: Part) -> str:
    """What the author wrote of it: its title, summary and Markdown."""
    return _sha256([part.title, part.summary, part.body])


def _sha256(values: list[str]) -> str:
    return hashlib.sha256(json.dumps(values, ensure_ascii=False).encode("utf-8")).hexdigest()


def dated(parts: list[Part], recorded: Mapping[int, Shown], now: dt.datetime) -> list[Part]:
    """`parts` with `changed` set: the recorded date while either fingerprint matches, `now`
    (to the second) when both differ, None if nothing usable is recorded."""
    now = now.astimezone(dt.UTC).replace(microsecond=0)
    out = []
    for part in parts:
        before = recorded.get(part.number)
        if before is None:
            changed = None
        elif before.sha256 == fingerprint(part) or before.source == source_fingerprint(part):
            changed = before.changed
        else:
            changed = now
        out.append(dataclasses.replace(part, changed=changed))
    return out


def shown(parts: list[Part]) -> dict[int, Shown]:
    """What to record of `parts` (dated by `dated`)."""
    return {p.number: Shown(fingerprint(p), p.changed, source_fingerprint(p)) for p in parts}
