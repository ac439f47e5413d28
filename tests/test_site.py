"""The static site: only released parts, real parsers, stable URLs, byte-identical rebuilds."""

from __future__ import annotations

import datetime as dt
import shutil
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import TEST_SECRET
from seriespub.ops import site
from seriespub.series import find_series
from seriespub.site.build import BuildResult
from sitehelp import Links, site_series

feedparser = pytest.importorskip("feedparser", reason="feedparser is not installed (dev extra)")

BASE = "https://example.org/teaming/"
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def series_root(make_series: Callable[..., Path]) -> Path:
    return site_series(make_series(drafts=4, ready=3, subscribers=3))


def build(root: Path, now: dt.datetime = NOW) -> BuildResult:
    return site.build(find_series(explicit=root), now)


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_only_released_parts_are_published(series_root: Path) -> None:
    result = build(series_root)
    assert [p.number for p in result.parts] == [1, 2]
    out = series_root / "site"
    assert sorted(files_of(out)) == [
        "01-part-1/index.html",
        "02-part-2/index.html",
        "404.html",
        "feed.xml",
        "index.html",
        "sitemap.xml",
        "style.css",
    ]


def test_no_draft_unsent_part_reader_or_token_reaches_any_file(series_root: Path) -> None:
    from seriespub.message import unsubscribe_token

    second = series_root / "drafts" / "02-part-2.md"
    second.write_text(
        second.read_text(encoding="utf-8") + "\nWritten to {{ email }} "
        "(leave: {{ unsubscribe_url }}), {{ name | default('<b>you</b>') }}.\n",
        encoding="utf-8",
    )
    build(series_root)
    everything = b"".join(files_of(series_root / "site").values()).decode()
    assert "Written to  (leave: ), &lt;b&gt;you&lt;/b&gt;." in everything
    assert "%%SP" not in everything
    forbidden = [
        "SECRET-DRAFT-TEXT",
        "Part 4 title",
        "SECRET-UNSENT-READY",
        "Part 3 title",
        "reader0001@example.com",
        "Reader 1",
        "Reader 2",
        "author@example.com>",
        TEST_SECRET,
        "unsubscribe?token",
        str(series_root),
    ]
    forbidden += [
        unsubscribe_token(TEST_SECRET.encode(), f"reader{i:04d}@example.com") for i in range(1, 4)
    ]
    for text in forbidden:
        assert text not in everything, text
    assert "Hello reader," in everything  # the merge field's default, not a name


def test_feed_parses_cleanly_with_ids_links_and_dates(series_root: Path) -> None:
    build(series_root)
    feed = feedparser.parse((series_root / "site" / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Test Series"
    assert [e.id for e in feed.entries] == [f"{BASE}01-part-1/", f"{BASE}02-part-2/"]
    assert [e.link for e in feed.entries] == [f"{BASE}01-part-1/", f"{BASE}02-part-2/"]
    assert feed.entries[0].updated == "2026-01-06T09:02:00Z"  # when it went out
    assert feed.entries[1].updated == "2026-01-13T09:00:00Z"  # its slot
    assert feed.feed.updated == "2026-01-13T09:00:00Z"
    assert "<strong>part 2</strong>" in feed.entries[1].content[0].value


def test_every_internal_link_resolves_to_a_built_file(series_root: Path) -> None:
    build(series_root)
    out = series_root / "site"
    pages = [p for p in out.rglob("*.html")]
    assert len(pages) == 4
    for page in pages:
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        assert parser.lang == "en"
        assert parser.headings and parser.headings[0] == 1
        assert all(
            b - a <= 1 for a, b in zip(parser.headings, parser.headings[1:], strict=False)
        ), page
        assert parser.missing_alt == 0
        for link in parser.links:
            assert not link.startswith(("/tmp", "file:", str(out.parent))), (page, link)
            target = _resolve(out, page, link)
            if target is not None:
                assert target.is_file(), (page, link)


def _resolve(out: Path, page: Path, link: str) -> Path | None:
    """The built file a link names, or None for external links and fragments."""
    if link.startswith(BASE):
        rel = link[len(BASE) :]
    elif link.startswith("/teaming/"):
        rel = link[len("/teaming/") :]
    elif urllib.parse.urlsplit(link).scheme or link.startswith("#"):
        return None
    else:
        rel = (page.parent / link).resolve().relative_to(out.resolve()).as_posix()
        rel = "" if rel == "." else rel + ("/" if link.endswith("/") else "")
    rel = urllib.parse.urlsplit(rel).path
    target = out / rel
    return target / "index.html" if rel == "" or rel.endswith("/") else target


def test_part_pages_say_part_n_of_m_with_previous_and_next(series_root: Path) -> None:
    build(series_root)
    first = (series_root / "site" / "01-part-1" / "index.html").read_text(encoding="utf-8")
    second = (series_root / "site" / "02-part-2" / "index.html").read_text(encoding="utf-8")
    assert "Part 1 of 4" in first and "Part 2 of 4" in second
    assert '<a href="../02-part-2/" rel="next">' in first and 'rel="prev"' not in first
    assert '<a href="../01-part-1/" rel="prev">' in second and 'rel="next"' not in second
    parser = Links()
    parser.feed(second)
    assert parser.meta["og:url"] == f"{BASE}02-part-2/"
    assert parser.meta["og:type"] == "article"
    assert parser.meta["twitter:card"] == "summary"
    assert parser.meta["og:description"] == "A short line shown in the inbox"


def test_index_has_description_subscribe_and_parts_with_dates(series_root: Path) -> None:
    build(series_root)
    index = (series_root / "site" / "index.html").read_text(encoding="utf-8")
    assert "<em>leading</em>" in index  # the description, as Markdown
    assert 'href="mailto:author@example.com?subject=Subscribe"' in index
    assert '<a href="01-part-1/">Part 1: <span dir="auto">Part 1 title</span></a>' in index
    assert ">2026-01-06</time>" in index and ">2026-01-13</time>" in index


def test_a_form_subscribe_url_gives_a_labelled_form(series_root: Path) -> None:
    toml = series_root / "seriespub.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(
            "mailto:author@example.com?subject=Subscribe", "https://example.org/subscribe"
        ),
        encoding="utf-8",
    )
    build(series_root)
    index = (series_root / "site" / "index.html").read_text(encoding="utf-8")
    assert '<form method="post" action="https://example.org/subscribe">' in index
    assert '<label for="email">' in index


def test_sitemap_lists_the_index_and_every_part(series_root: Path) -> None:
    import xml.etree.ElementTree as ET

    build(series_root)
    tree = ET.parse(series_root / "site" / "sitemap.xml")
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    assert [e.text for e in tree.findall("s:url/s:loc", ns)] == [
        BASE,
        f"{BASE}01-part-1/",
        f"{BASE}02-part-2/",
    ]


def test_build_is_deterministic_and_a_rebuild_writes_nothing(
    series_root: Path, tmp_path: Path
) -> None:
    build(series_root)
    first = files_of(series_root / "site")
    copy = tmp_path / "copy"
    shutil.copytree(series_root, copy)
    shutil.rmtree(copy / "site")
    build(copy, NOW + dt.timedelta(days=1))
    assert files_of(copy / "site") == first
    again = build(series_root)
    assert again.written == [] and again.unchanged == len(first)


def test_url_stays_when_the_draft_is_renamed_and_retitled(series_root: Path) -> None:
    build(series_root)
    old = series_root / "drafts" / "01-part-1.md"
    new = series_root / "drafts" / "01-a-new-name.md"
    new.write_text(
        old.read_text(encoding="utf-8").replace("Part 1 title", "Renamed"), encoding="utf-8"
    )
    old.unlink()
    result = build(series_root)
    assert result.parts[0].path == "01-part-1"
    assert "Renamed" in (series_root / "site" / "01-part-1" / "index.html").read_text(
        encoding="utf-8"
    )


def test_a_part_released_later_appears_and_a_withdrawn_file_goes(series_root: Path) -> None:
    build(series_root)
    (series_root / "site" / "CNAME").write_text("example.org\n", encoding="utf-8")
    third = series_root / "drafts" / "03-part-3.md"
    third.write_text(
        third.read_text(encoding="utf-8").replace(
            "release: 2099-01-01T09:00:00", "release: 2026-02-01T09:00:00"
        ),
        encoding="utf-8",
    )
    result = build(series_root)
    assert [p.number for p in result.parts] == [1, 2, 3]
    assert "03-part-3/index.html" in result.written
    third.write_text(third.read_text(encoding="utf-8").replace("status: ready", "status: draft"))
    result = build(series_root)
    assert result.removed == ["03-part-3/index.html"]
    assert not (series_root / "site" / "03-part-3").exists()
    assert (series_root / "site" / "CNAME").exists()  # the author's own file stays


def test_site_without_base_url_is_a_one_line_error(
    make_series: Callable[..., Path], cli: Callable[..., object]
) -> None:
    root = make_series(drafts=1)
    result = cli(root, "site")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "no [site] base_url" in result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("base_url", '"example.org/teaming"', "must be an http(s):// URL ending in /"),
        ("base_url", '"https://example.org/teaming"', "ending in /"),
        ("out_dir", '"../elsewhere"', "inside the series folder"),
        ("out_dir", '".seriespub"', "inside the series folder"),
        ("subscribe", '"javascript:alert(1)"', "mailto: address or an http(s):// URL"),
        ("colour", '"red"', "unknown key 'site.colour'"),
    ],
)
def test_bad_site_settings_are_refused(
    make_series: Callable[..., Path], cli: Callable[..., object], key: str, value: str, message: str
) -> None:
    root = make_series(drafts=1, extra_toml=f"[site]\n{key} = {value}\n")
    result = cli(root, "site")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert message in result.output  # type: ignore[attr-defined]


def test_cli_builds_and_reports_as_json(series_root: Path, cli: Callable[..., object]) -> None:
    import json

    result = cli(series_root, "site", "--json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    report = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert report["parts"] == [1, 2]
    assert "feed.xml" in report["written"]
    result = cli(series_root, "site")
    assert "2 parts published" in result.output  # type: ignore[attr-defined]
    assert "0 files written" in result.output  # type: ignore[attr-defined]


def test_the_ledger_is_only_read(series_root: Path) -> None:
    ledger = series_root / ".seriespub" / "ledger.db"
    before = ledger.read_bytes()
    build(series_root)
    assert ledger.read_bytes() == before


def test_the_site_speaks_the_series_language(series_root: Path) -> None:
    toml = series_root / "seriespub.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("[series]\n", '[series]\nlanguage = "de-CH"\n', 1),
        encoding="utf-8",
    )
    build(series_root)
    page = (series_root / "site" / "02-part-2" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="de-CH">' in page
    assert "Teil 2 von 4" in page and "Zum Text springen" in page
    assert "Seite nicht gefunden" in (series_root / "site" / "404.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["index.html", "style.css", "feed.xml"])
def test_a_file_of_the_authors_in_out_dir_is_refused_not_replaced(
    series_root: Path, cli: Callable[..., object], name: str
) -> None:
    mine = series_root / "site" / name
    mine.parent.mkdir()
    mine.write_text("my own work\n", encoding="utf-8")
    result = cli(series_root, "site")
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert "not a file seriespub wrote" in result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    assert mine.read_text(encoding="utf-8") == "my own work\n"


def test_a_build_cut_short_is_finished_by_the_next_one(series_root: Path) -> None:
    """Files written before a build stopped are still the site's: the next build replaces
    them (the list of written files is extended before the first write)."""
    from seriespub.errors import InputError

    build(series_root)
    third = series_root / "drafts" / "03-part-3.md"
    third.write_text(third.read_text(encoding="utf-8").replace("2099-01-01", "2026-02-01"))
    style = series_root / "site" / "style.css"
    style.unlink()
    (style / "x").mkdir(parents=True)  # written after 03-part-3/index.html: the build stops
    with pytest.raises(InputError, match="cannot read"):
        build(series_root)
    assert (series_root / "site" / "03-part-3" / "index.html").exists()
    shutil.rmtree(style)
    third.write_text(third.read_text(encoding="utf-8").replace("Part 3 title", "Retitled"))
    result = build(series_root)
    assert "03-part-3/index.html" in result.written


def test_one_part_published_is_said_in_the_singular(
    make_series: Callable[..., Path], cli: Callable[..., object]
) -> None:
    root = make_series(drafts=1, extra_toml='[site]\nbase_url = "https://example.org/s/"\n')
    assert cli(root, "send", "next", "--yes").exit_code == 0  # type: ignore[attr-defined]
    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "1 part published in" in result.output  # type: ignore[attr-defined]
