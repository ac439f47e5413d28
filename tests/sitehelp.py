"""A series with every case the site must tell apart, for the site tests and the benchmark."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from pathlib import Path

from seriespub.ledger import Ledger

SITE_TOML = """
[schedule]
first_release = 2026-01-06T09:00:00
timezone = "Europe/London"
catch_up = "all"

[site]
base_url = "https://example.org/teaming/"
subscribe = "mailto:author@example.com?subject=Subscribe"
"""
DESCRIPTION = 'description = "A series about *leading* across [systems](https://example.com)."\n'
FUTURE = "2099-01-01T09:00:00"


def site_series(root: Path) -> Path:
    """Parts: 1 sent (ledger), 2 ready with its slot passed, 3 ready but pinned in the future,
    4 a draft whose slot has passed. Only 1 and 2 may appear on the site."""
    toml = root / "seriespub.toml"
    text = toml.read_text(encoding="utf-8").replace("[series]\n", "[series]\n" + DESCRIPTION, 1)
    toml.write_text(text + SITE_TOML, encoding="utf-8")
    third = root / "drafts" / "03-part-3.md"
    third.write_text(
        third.read_text(encoding="utf-8")
        .replace("status: ready", f"status: ready\nrelease: {FUTURE}")
        .replace("of the series", "of the series, SECRET-UNSENT-READY"),
        encoding="utf-8",
    )
    fourth = root / "drafts" / "04-part-4.md"
    fourth.write_text(
        fourth.read_text(encoding="utf-8").replace(
            "of the series", "of the series, SECRET-DRAFT-TEXT"
        ),
        encoding="utf-8",
    )
    (root / ".seriespub").mkdir(exist_ok=True)
    with Ledger.open(root / ".seriespub" / "ledger.db") as ledger:
        when = dt.datetime(2026, 1, 6, 9, 2, tzinfo=dt.UTC)
        ledger.mark_started(1, "Part 1 title", "Part 1 title", when)
        ledger.mark_finished(1, when + dt.timedelta(minutes=3))
    return root


class Links(HTMLParser):
    """Every href/src, the lang attribute, headings in order, and images without alt."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.lang: str | None = None
        self.headings: list[int] = []
        self.missing_alt = 0
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("href", "src", "action"):
            if a.get(key):
                self.links.append(str(a[key]))
        if tag == "html":
            self.lang = a.get("lang")
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.headings.append(int(tag[1]))
        if tag == "img" and not a.get("alt"):
            self.missing_alt += 1
        if tag == "meta" and (a.get("property") or a.get("name")):
            self.meta[str(a.get("property") or a.get("name"))] = str(a.get("content"))
