"""The series as readers receive it: the feed as a feed reader resolves it.

Feed readers show an entry away from its page: a relative link in its content (a footnote's
`#fn-1`, a link written as `../02-part-2/`) would resolve against the feed's own URL and land
on nothing, so every link in an entry's content must be absolute, to its page.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from collections.abc import Callable
from email.message import EmailMessage
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import ok
from seriespub.ops import site
from seriespub.series import find_series
from sitehelp import Links, site_series

feedparser = pytest.importorskip("feedparser", reason="feedparser is not installed (dev extra)")

BASE = "https://example.org/teaming/"
Cli = Callable[..., Any]
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


# -- a front reader and a late joiner, slot by slot ---------------------------------------------

LONDON = ZoneInfo("Europe/London")
FRONT, LATE = "reader0001@example.com", "late@example.com"
WEEKLY_SITE = (
    '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
    f'[site]\nbase_url = "{BASE}"\n'
)
URL = re.compile(re.escape(BASE) + r"[^\s\"'<>]*")
PREVIOUSLY = re.compile(r"^- Part (\d+): (.+)\n  (\S+)$", re.MULTILINE)


def slot(week: int, minutes: int = 1) -> dt.datetime:
    start = dt.datetime(2026, 12, 1, 9, tzinfo=LONDON)
    return start + dt.timedelta(weeks=week - 1, minutes=minutes)


def new_mail(root: Path, seen: set[Path]) -> list[tuple[int, EmailMessage]]:
    """The outbox's messages not seen before: (part number, message)."""
    found = []
    for path in sorted((root / ".seriespub" / "outbox").glob("[0-9]*/*.eml")):
        if path not in seen:
            seen.add(path)
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append((int(path.parent.name), message))
    return found


def body(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def page_of(site_dir: Path, url: str) -> str:
    """The built page a link in an email lands on (it must exist on disk)."""
    page = site_dir / url.removeprefix(BASE) / "index.html"
    assert page.is_file(), f"{url} lands on no page of this week's build"
    return page.read_text(encoding="utf-8")


def assert_links_land(site_dir: Path, number: int, message: EmailMessage) -> None:
    """Every site link in both parts lands on a built page, and each page is the part (and
    the title) the email says it is."""
    html, text = body(message, "html"), body(message, "plain")
    assert f"· Part {number}\n" in text
    for url in set(URL.findall(html)) | set(URL.findall(text)):
        page_of(site_dir, url)
    view = re.search(r"^View in browser: (\S+)$", text, re.MULTILINE)
    assert view is not None and view.group(1) in html
    assert f"· Part {number} of " in page_of(site_dir, view.group(1))
    listed = PREVIOUSLY.findall(text)
    assert [int(n) for n, _, _ in listed] == list(range(1, number))
    for n, title, url in listed:
        page = page_of(site_dir, url)
        assert f"· Part {n} of " in page and f'<h1 dir="auto">{escape(title)}</h1>' in page
        assert f'href="{url}"' in html and escape(title) in html


def feed_ids(site_dir: Path) -> list[str]:
    """The feed's entry ids, checked against the index and the sitemap."""
    feed = feedparser.parse((site_dir / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    ids = [entry.id for entry in feed.entries]
    index = (site_dir / "index.html").read_text(encoding="utf-8")
    assert [BASE + p for p in re.findall(r'<li><a href="([^"]+)"', index)] == ids
    sitemap = (site_dir / "sitemap.xml").read_text(encoding="utf-8")
    assert re.findall(r"<loc>([^<]+)</loc>", sitemap) == [BASE, *ids]
    for url in ids:
        page_of(site_dir, url)
    return ids


def edit_published_parts(root: Path) -> None:
    """Part 1 retitled (non-ASCII), part 2's draft renamed: the URLs readers hold stay."""
    first = root / "drafts" / "01-part-1.md"
    first.write_text(
        first.read_text(encoding="utf-8").replace("Part 1 title", "Été & co — première"),
        encoding="utf-8",
    )
    (root / "drafts" / "02-part-2.md").rename(root / "drafts" / "02-facing-out.md")


def unsubscribe_by_link(cli: Cli, root: Path, message: EmailMessage) -> None:
    token = re.search(r"unsubscribe\?token=([0-9a-f]+)", body(message, "plain"))
    assert token is not None
    ok(cli(root, "subscribers", "unsubscribe-token", LATE, token.group(1)))


def test_a_front_reader_and_a_late_joiner_land_on_built_pages_every_week(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=5, subscribers=1, extra_toml=WEEKLY_SITE)
    seen: set[Path] = set()
    got: dict[str, list[int]] = {FRONT: [], LATE: []}
    last: dict[str, EmailMessage] = {}
    ids: list[str] = []
    with time_machine.travel(slot(1), tick=False) as clock:
        for week in range(1, 9):
            clock.move_to(slot(week))
            ok(cli(root, "send", "due"))
            ok(cli(root, "site"))
            for number, message in new_mail(root, seen):
                assert_links_land(root / "site", number, message)
                reader = str(message["To"]).split("<")[-1].rstrip(">")
                got[reader].append(number)
                last[reader] = message
            assert feed_ids(root / "site")[: len(ids)] == ids  # ids stay, in order
            ids = feed_ids(root / "site")
            if week == 3:  # a day after part 3 went out
                clock.move_to(slot(3, 24 * 60))
                ok(cli(root, "subscribers", "add", LATE))
            if week == 4:
                edit_published_parts(root)
            if week == 6:
                unsubscribe_by_link(cli, root, last[LATE])  # from their part 3
    assert got == {FRONT: [1, 2, 3, 4, 5], LATE: [1, 2, 3]}
    assert ids == [f"{BASE}0{n}-part-{n}/" for n in range(1, 6)]
