"""When each published part last changed as readers see it: the date of an edit.

A part's *shown* fingerprint is a hash of its own title, summary (the preheader) and text as
rendered (merge fields at their defaults), before the feed makes its links absolute. That is
what "changed significantly" (RFC 4287 §4.2.15) means here: a fixed typo, a mended link, a
new title or summary. What is not the part's own leaves its date alone: "Part N of M" and the
previous/next links (a new part), the series' title, the templates, `base_url`.

The build keeps each part's fingerprint, and when it last changed, in `.seriespub/site.json`
(`urls.record_slugs`). A part with no usable fingerprint there (first published, or a record
from before they were kept, or a damaged entry) is taken as unchanged since its release; one
whose fingerprint differs is dated `now`, the build that publishes the edit, and that date is
kept until its next edit. So a rebuild with nothing new changes no byte. Pure.
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
    """What a build recorded of a part: its fingerprint, and when it last changed (None:
    not since its release)."""

    sha256: str
    changed: dt.datetime | None = None

    def as_json(self) -> dict[str, str]:
        data = {"sha256": self.sha256}
        if self.changed is not None:
            data["changed"] = self.changed.isoformat()
        return data


def from_json(value: object) -> Shown | None:
    """A recorded entry, or None if it is not one this build can trust (then the part is
    taken as unchanged: a damaged record never dates every part as edited, nor fails)."""
    if not isinstance(value, dict) or not isinstance(value.get("sha256"), str):
        return None
    changed = value.get("changed")
    if changed is None:
        return Shown(value["sha256"])
    try:
        when = dt.datetime.fromisoformat(changed) if isinstance(changed, str) else None
    except ValueError:
        return None
    return Shown(value["sha256"], when) if when and when.tzinfo else None


def fingerprint(part: Part) -> str:
    shown = json.dumps([part.title, part.summary, part.content], ensure_ascii=False)
    return hashlib.sha256(shown.encode("utf-8")).hexdigest()


def dated(parts: list[Part], recorded: Mapping[int, Shown], now: dt.datetime) -> list[Part]:
    """`parts` with `changed` set: the recorded date while the fingerprint matches, `now`
    (to the second) if it does not, None if nothing usable is recorded."""
    now = now.astimezone(dt.UTC).replace(microsecond=0)
    out = []
    for part in parts:
        before = recorded.get(part.number)
        if before is None:
            changed = None
        elif before.sha256 == fingerprint(part):
            changed = before.changed
        else:
            changed = now
        out.append(dataclasses.replace(part, changed=changed))
    return out


def shown(parts: list[Part]) -> dict[int, Shown]:
    """What to record of `parts` (dated by `dated`)."""
    return {p.number: Shown(fingerprint(p), p.changed) for p in parts}
