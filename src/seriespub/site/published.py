"""The parts readers hold a link to, and which of them a build would drop.

A part is published once the ledger records it as started (every reader it went to has its
"View in browser" link) or once a build put its page up (it is in the build's file list,
`.seriespub/site-files.json`, under the URL recorded in `site.json`): web and feed readers
have it then. A build that would drop a published page by accident is refused instead: its
draft gone (or not loading), or a sent part's draft set back to `status: draft` (its emails
cannot be recalled). Setting an unsent part back to `status: draft` is how an author takes
its page down on purpose (no email links there). Pure but for reading those two records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from seriespub.ledger import InstalmentRecord
from seriespub.models import Instalment
from seriespub.site.urls import page_dir

MANIFEST = "site-files.json"


@dataclass(frozen=True)
class Stranded:
    """A published part that the drafts no longer publish."""

    number: int
    title: str | None  # None: never sent, and the site records no title
    sent: bool
    missing: bool  # no loaded draft (else its draft is set back to `status: draft`)

    @property
    def done(self) -> str:
        """What makes it published: "was sent" or "is on the site"."""
        return "was sent" if self.sent else "is on the site"

    @property
    def why(self) -> str:
        missing = "has no draft here" if self.missing else "is set to status: draft"
        return f"{self.done} but {missing}"

    def named(self) -> str:
        return f'part {self.number} "{self.title}"' if self.title else f"part {self.number}"


def written_before(state_dir: Path) -> set[str]:
    """The files earlier builds wrote (empty if the list is missing or unreadable)."""
    try:
        names = json.loads((state_dir / MANIFEST).read_text(encoding="utf-8"))
        return {n for n in names if isinstance(n, str)}
    except (OSError, ValueError, TypeError):
        return set()


def on_the_site(state_dir: Path, slugs: Mapping[int, str]) -> set[int]:
    """The parts whose page an earlier build put up at their recorded URL."""
    written = written_before(state_dir)
    return {n for n, slug in slugs.items() if f"{page_dir(n, slug)}/index.html" in written}


def stranded(
    instalments: list[Instalment],
    records: Mapping[int, InstalmentRecord],
    on_site: set[int],
) -> list[Stranded]:
    """The published parts (started per the ledger, or in `on_site`) whose draft is not
    loaded, or is not ready though the part was sent, in number order."""
    drafts = {i.number: i for i in instalments}
    sent = {n for n, r in records.items() if r.started_at is not None}
    found = []
    for number in sorted(sent | on_site):
        draft = drafts.get(number)
        if draft is None or (number in sent and not draft.is_ready):
            record = records.get(number)
            title = record.title if record else draft.title if draft else None
            found.append(Stranded(number, title, number in sent, draft is None))
    return found
