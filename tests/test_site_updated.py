"""An edited part shows as updated: its feed entry's `<updated>`, the feed's, its sitemap
`<lastmod>` and its page's `article:modified_time` move to the build that published the edit;
`<published>` stays its release. What counts is the part's own title, summary and text,
changed both as the author wrote them and as readers see them: a new part, a new "of M", a
settings change, a seriespub that renders the same Markdown otherwise leave its date alone,
and a rebuild with nothing changed writes nothing.

Through the real CLI (`seriespub site`) on the clock the test sets; the feed read by
feedparser, the sitemap by the stdlib XML parser, the pages' meta tags by sitehelp.Links.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine

from conftest import ok
from sitehelp import Links, site_series

feedparser = pytest.importorskip("feedparser", reason="feedparser is not installed (dev extra)")

Cli = Callable[..., Any]
BASE = "https://example.org/teaming/"
SENT = "2026-01-06T09:02:00Z"  # part 1 went out (sitehelp's ledger)
SLOT = "2026-01-13T09:00:00Z"  # part 2's slot
FIRST = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)  # the first build
EDITED = dt.datetime(2026, 11, 29, 10, 15, 30, 250_000, tzinfo=dt.UTC)  # the build after a fix
EDITED_STAMP = "2026-11-29T10:15:30Z"
LATER = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # a rebuild with nothing changed


@pytest.fixture
def root(make_series: Callable[..., Path]) -> Path:
    """Parts 1 (sent) and 2 (slot passed) are out; 3 is pinned ahead; 4 is a draft."""
    return site_series(make_series(drafts=4, ready=3, subscribers=1))


def site_at(cli: Cli, root: Path, when: dt.datetime) -> dict[str, Any]:
    """`seriespub site --json` run at `when`; its report."""
    with time_machine.travel(when, tick=False):
        report: dict[str, Any] = json.loads(ok(cli(root, "site", "--json")).stdout)
    return report


def edit(root: Path, number: int, old: str, new: str) -> None:
    draft = root / "drafts" / f"{number:02d}-part-{number}.md"
    text = draft.read_text(encoding="utf-8")
    assert old in text
    draft.write_text(text.replace(old, new, 1), encoding="utf-8")


def entries(root: Path) -> tuple[str, dict[str, tuple[str, str]]]:
    """The feed's `updated`, and each entry's (published, updated) by its id."""
    feed = feedparser.parse((root / "site" / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    return feed.feed.updated, {e.id: (e.published, e.updated) for e in feed.entries}


def lastmods(root: Path) -> dict[str, str | None]:
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    urlset = ET.parse(root / "site" / "sitemap.xml").getroot()
    return {u.findtext(f"{ns}loc") or "": u.findtext(f"{ns}lastmod") for u in urlset}


def meta(root: Path, page: str) -> dict[str, str]:
    parser = Links()
    parser.feed((root / "site" / page / "index.html").read_text(encoding="utf-8"))
    return parser.meta


def files_of(root: Path) -> dict[str, bytes]:
    folder = root / "site"
    found = {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
    return {**found, "site.json": (root / ".seriespub" / "site.json").read_bytes()}


ONE, TWO = f"{BASE}01-part-1/", f"{BASE}02-part-2/"
UNEDITED = {ONE: (SENT, SENT), TWO: (SLOT, SLOT)}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("with a [link]", "with a fixed [link]"),  # a typo in the text
        ("https://example.com/part-1", "https://example.com/part-one"),  # a broken link
        ("title: Part 1 title", "title: Part 1 title, corrected"),
        ("preheader: A short line", "preheader: A shorter line"),  # the entry's summary
    ],
    ids=["text", "link", "title", "summary"],
)
def test_an_edited_part_is_updated_at_the_build_that_publishes_the_edit(
    root: Path, cli: Cli, old: str, new: str
) -> None:
    site_at(cli, root, FIRST)
    assert entries(root) == (SLOT, UNEDITED)
    edit(root, 1, old, new)
    report = site_at(cli, root, EDITED)
    assert "feed.xml" in report["written"] and "01-part-1/index.html" in report["written"]
    assert entries(root) == (EDITED_STAMP, {ONE: (SENT, EDITED_STAMP), TWO: (SLOT, SLOT)})
    assert lastmods(root) == {BASE: EDITED_STAMP, ONE: EDITED_STAMP, TWO: SLOT}
    first, second = meta(root, "01-part-1"), meta(root, "02-part-2")
    assert first["article:published_time"] == SENT
    assert first["article:modified_time"] == EDITED_STAMP
    assert second["article:published_time"] == SLOT and "article:modified_time" not in second
    # Nothing changed since: no file is written, the dates stay those of the edit.
    before = files_of(root)
    report = site_at(cli, root, LATER)
    assert report["written"] == [] and files_of(root) == before


def test_a_source_change_that_shows_the_same_dates_nothing(root: Path, cli: Cli) -> None:
    """`__x__` renders as `**x**` does, and a trailing blank line as nothing: readers see no
    change, so neither the site's files nor the dates move (site.json keeps the new source's
    fingerprint: a later seriespub that renders it otherwise must not take that as an edit)."""
    site_at(cli, root, FIRST)
    before = files_of(root)
    edit(root, 1, "**part 1**", "__part 1__")
    draft = root / "drafts" / "01-part-1.md"
    draft.write_text(draft.read_text(encoding="utf-8") + "\n\n", encoding="utf-8")
    assert site_at(cli, root, EDITED)["written"] == []
    after = files_of(root)
    record, recorded = json.loads(after.pop("site.json")), json.loads(before.pop("site.json"))
    assert after == before
    assert record["content"]["1"]["source"] != recorded["content"]["1"]["source"]
    recorded["content"]["1"]["source"] = record["content"]["1"]["source"]
    assert record == recorded


def test_what_is_not_the_parts_own_leaves_its_date(root: Path, cli: Cli) -> None:
    """A new draft ("Part 1 of 5" on every page), a newly released part (page 2's "next"),
    a new series title and language (every page, every entry's "Teil N:"): each page is
    rewritten, no part is dated as edited."""
    site_at(cli, root, FIRST)
    new = root / "drafts" / "05-part-5.md"
    new.write_text((root / "drafts" / "04-part-4.md").read_text(encoding="utf-8"))
    edit(root, 3, "release: 2099-01-01T09:00:00", "release: 2026-02-01T09:00:00")
    toml = root / "seriespub.toml"
    text = toml.read_text(encoding="utf-8").replace("[series]\n", '[series]\nlanguage = "de"\n')
    toml.write_text(text.replace("Test Series", "Another Title"), encoding="utf-8")
    report = site_at(cli, root, EDITED)
    assert {"01-part-1/index.html", "02-part-2/index.html", "feed.xml"} <= set(report["written"])
    assert "Teil 1 von 5" in (root / "site" / "01-part-1" / "index.html").read_text()
    three = f"{BASE}03-part-3/"
    assert entries(root) == (
        "2026-02-01T09:00:00Z",
        {**UNEDITED, three: ("2026-02-01T09:00:00Z",) * 2},
    )
    assert all("article:modified_time" not in meta(root, p) for p in ("01-part-1", "02-part-2"))


@pytest.mark.parametrize(
    "older",
    [
        None,  # site.json from before fingerprints were kept
        3,
        {"1": "not a table", "2": {"sha256": 5, "changed": "2026-11-20T00:00:00+00:00"}},
        {"1": {"sha256": "0" * 64, "changed": "not a date"}},
        {"1": {"sha256": "0" * 64, "source": ["not", "text"]}},
    ],
    ids=["absent", "not-a-table", "wrong-types", "bad-date", "bad-source"],
)
def test_an_older_or_damaged_record_loads_and_dates_no_part_as_edited(
    root: Path, cli: Cli, older: object
) -> None:
    """No fingerprint to compare with: the part is taken as first published now, dated its
    release (a site built by an older seriespub must not show every part as edited)."""
    site_at(cli, root, FIRST)
    record = root / ".seriespub" / "site.json"
    data = json.loads(record.read_text(encoding="utf-8"))
    data.pop("content", None)
    if older is not None:
        data["content"] = older
    record.write_text(json.dumps(data), encoding="utf-8")
    site = {k: v for k, v in files_of(root).items() if k != "site.json"}
    assert site_at(cli, root, EDITED)["written"] == []
    assert {k: v for k, v in files_of(root).items() if k != "site.json"} == site
    assert entries(root) == (SLOT, UNEDITED)
    edit(root, 2, "with a [link]", "with a fixed [link]")  # from now on, edits are seen
    site_at(cli, root, LATER)
    assert entries(root)[1][TWO] == (SLOT, "2026-11-30T08:00:00Z")


def test_the_edited_feed_still_matches_rfc_4287s_schema(root: Path, cli: Cli) -> None:
    from test_validators import jing_errors

    site_at(cli, root, FIRST)
    edit(root, 1, "with a [link]", "with a fixed [link]")
    site_at(cli, root, EDITED)
    assert jing_errors([root / "site" / "feed.xml"]) == []


def test_a_send_that_pins_a_new_url_keeps_the_edit_dates(root: Path, cli: Cli) -> None:
    """A send records its part's URL in the same site.json: the edit date must survive it,
    or the next build would date the edited part back to its release."""
    site_at(cli, root, FIRST)
    edit(root, 1, "with a [link]", "with a fixed [link]")
    site_at(cli, root, EDITED)
    edit(root, 3, "release: 2099-01-01T09:00:00", "release: 2026-02-01T09:00:00")
    record = root / ".seriespub" / "site.json"
    with time_machine.travel(LATER, tick=False):
        for _ in range(2):  # part 2, then part 3, whose URL no build has recorded yet
            before = record.read_bytes()
            ok(cli(root, "send", "next", "--yes"))
    assert '"3": "part-3"' in record.read_text() and '"3"' not in before.decode()
    site_at(cli, root, LATER)
    assert entries(root)[1][ONE] == (SENT, EDITED_STAMP)


def test_a_seriespub_that_renders_differently_dates_no_part(
    root: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade whose renderer writes other HTML for the same Markdown (`<b>` for
    `<strong>`): the pages show it, but the author changed nothing, so no part is dated as
    edited. An edit after it is dated as ever."""
    from seriespub.site import content

    site_at(cli, root, FIRST)
    rendered = content.render_body

    def upgraded(body: str, notes: Any) -> str:
        return rendered(body, notes).replace("strong>", "b>")

    monkeypatch.setattr(content, "render_body", upgraded)
    report = site_at(cli, root, EDITED)
    assert "01-part-1/index.html" in report["written"]
    assert "<b>part 1</b>" in (root / "site" / "01-part-1" / "index.html").read_text()
    assert entries(root) == (SLOT, UNEDITED)
    edit(root, 1, "with a [link]", "with a fixed [link]")
    site_at(cli, root, LATER)
    assert entries(root)[1][ONE] == (SENT, "2026-11-30T08:00:00Z")


def test_a_record_of_the_rendering_only_dates_no_part_as_edited(root: Path, cli: Cli) -> None:
    """site.json as seriespub 0.x kept it (each part's rendering's fingerprint, not its
    source's): the first build after the upgrade dates nothing, and keeps both."""
    site_at(cli, root, FIRST)
    record = root / ".seriespub" / "site.json"
    data = json.loads(record.read_text(encoding="utf-8"))
    for entry in data["content"].values():
        entry.pop("source")
    record.write_text(json.dumps(data), encoding="utf-8")
    assert site_at(cli, root, EDITED)["written"] == []
    assert entries(root) == (SLOT, UNEDITED)
    kept = json.loads(record.read_text(encoding="utf-8"))["content"]
    assert all(set(entry) == {"sha256", "source"} for entry in kept.values()), kept


def test_an_edit_before_the_parts_first_build_is_not_dated(root: Path, cli: Cli) -> None:
    """Fixed after its send, before any build put its page up: no feed reader or crawler
    has seen another version, so the first build shows it as released, not updated."""
    edit(root, 1, "with a [link]", "with a fixed [link]")
    site_at(cli, root, EDITED)
    assert entries(root) == (SLOT, UNEDITED)
    assert "article:modified_time" not in meta(root, "01-part-1")
