"""The series as readers receive it: the feed as a feed reader resolves it.

Feed readers show an entry away from its page: a relative link in its content (a footnote's
`#fn-1`, a link written as `../02-part-2/`) would resolve against the feed's own URL and land
on nothing, so every link in an entry's content must be absolute, to its page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from seriespub.ops import site
from seriespub.series import find_series
from sitehelp import Links, site_series

feedparser = pytest.importorskip("feedparser", reason="feedparser is not installed (dev extra)")

BASE = "https://example.org/teaming/"
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
RELATIVE_LINKS = """
A note.[^1] See [the next part](../02-part-2/), [the top](#top) and ![a chart](chart.png).

[^1]: The note's text.
"""


def entry_links(root: Path) -> dict[str, list[str]]:
    """Each feed entry's id → every href/src in its content, as written (unresolved)."""
    feed = feedparser.parse((root / "site" / "feed.xml").read_bytes(), resolve_relative_uris=False)
    assert not feed.bozo, feed.get("bozo_exception")
    links = {}
    for entry in feed.entries:
        parser = Links()
        parser.feed(entry.content[0].value)
        links[entry.id] = parser.links
    return links


def test_feed_content_links_are_absolute_to_the_entrys_page(
    make_series: Callable[..., Path],
) -> None:
    root = site_series(make_series(drafts=4, ready=3, subscribers=1))
    first = root / "drafts" / "01-part-1.md"
    first.write_text(first.read_text(encoding="utf-8") + RELATIVE_LINKS, encoding="utf-8")
    site.build(find_series(explicit=root), NOW)
    links = entry_links(root)[f"{BASE}01-part-1/"]
    page = f"{BASE}01-part-1/"
    assert f"{page}#fn-1" in links and f"{page}#fnref-1" in links
    assert f"{BASE}02-part-2/" in links and f"{page}#top" in links
    assert f"{page}chart.png" in links
    assert "https://example.com/part-1" in links  # absolute links stay as written
    assert all(link.startswith(("https://", "mailto:")) for link in links), links
