"""Right-to-left titles and preheaders: every element holding them declares `dir="auto"`,
in the sent email (the outbox's .eml) and on the site, so the reader's browser or mail
client orders their punctuation by the text's own direction, not the page's."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from mailcheck import body_text, check_message

HEBREW = "שלום, עולם!"
ARABIC = "مرحبا، يا عالم؟"
ARABIC_PREHEADER = "سطر قصير، في البريد."
SITE = '[site]\nbase_url = "https://example.org/teaming/"\n'

Cli = Callable[..., object]


class Holders(HTMLParser):
    """For each text node in the body holding one of `needles`: the innermost element's tag
    and its `dir` attribute."""

    def __init__(self, needles: tuple[str, ...]) -> None:
        super().__init__()
        self.needles = needles
        self.stack: list[tuple[str, str | None]] = []
        self.found: list[tuple[str, str, str | None]] = []  # needle, tag, dir

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("br", "img", "meta", "link", "input", "hr"):
            self.stack.append((tag, dict(attrs).get("dir")))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if any(tag in ("head", "title") for tag, _ in self.stack):
            return
        for needle in self.needles:
            if needle in data and self.stack:
                self.found.append((needle, *self.stack[-1]))


def holders(html: str, *needles: str) -> list[tuple[str, str, str | None]]:
    parser = Holders(needles)
    parser.feed(html)
    return parser.found


def rtl_series(make_series: Callable[..., Path]) -> Path:
    root = make_series(drafts=3, extra_toml=SITE)
    for number, title, preheader in ((1, HEBREW, ARABIC_PREHEADER), (2, ARABIC, None)):
        draft = root / "drafts" / f"{number:02d}-part-{number}.md"
        text = draft.read_text(encoding="utf-8").replace(f"Part {number} title", title)
        if preheader:
            text = text.replace("A short line shown in the inbox", preheader)
        draft.write_text(text, encoding="utf-8")
    return root


def test_the_sent_email_marks_rtl_title_and_preheader_dir_auto(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = rtl_series(make_series)
    for _ in range(2):
        result = cli(root, "send", "next", "--yes")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    outbox = root / ".seriespub" / "outbox"
    first = check_message(sorted((outbox / "001").glob("*.eml"))[0].read_bytes())
    found = holders(body_text(first, "html"), HEBREW, ARABIC_PREHEADER, ARABIC)
    # The heading, the preheader and the "next" teaser (part 2's title).
    assert {n for n, _, _ in found} == {HEBREW, ARABIC_PREHEADER, ARABIC}, found
    assert all(d == "auto" for _, _, d in found), found
    second = check_message(sorted((outbox / "002").glob("*.eml"))[0].read_bytes())
    found = holders(body_text(second, "html"), HEBREW, ARABIC)
    # Its heading, and part 1 under "Previously in this series".
    assert {n for n, _, _ in found} == {HEBREW, ARABIC}, found
    assert all(d == "auto" for _, _, d in found), found


def test_site_pages_mark_rtl_titles_dir_auto(make_series: Callable[..., Path], cli: Cli) -> None:
    root = rtl_series(make_series)
    for _ in range(2):
        assert cli(root, "send", "next", "--yes").exit_code == 0  # type: ignore[attr-defined]
    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    site = root / "site"
    pages = {
        "index": (site / "index.html", 2),  # each title in the list of parts
        "part 1": (site / "01-part-1" / "index.html", 2),  # its heading, "next"
        "part 2": (site / "02-part-2" / "index.html", 2),  # its heading, "previous"
    }
    for name, (page, count) in pages.items():
        found = holders(page.read_text(encoding="utf-8"), HEBREW, ARABIC)
        assert len(found) == count, (name, found)
        assert all(d == "auto" for _, _, d in found), (name, found)
    part = holders((site / "01-part-1" / "index.html").read_text(encoding="utf-8"), HEBREW)
    assert part == [(HEBREW, "h1", "auto")]


def test_the_heading_aligns_to_its_own_start_without_flow_relative_css(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """Yahoo and Outlook for Windows drop `text-align: start` (caniemail: text-align, note 1)
    and a right-to-left heading fell back to the left: the side is written out instead."""
    root = rtl_series(make_series)
    for _ in range(3):
        result = cli(root, "send", "next", "--yes")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    outbox = root / ".seriespub" / "outbox"
    for folder, title, side in (
        ("001", HEBREW, "right"),
        ("002", ARABIC, "right"),
        ("003", "Part 3 title", "left"),
    ):
        html = body_text(check_message(next((outbox / folder).glob("*.eml")).read_bytes()), "html")
        heading = rf'<h1 dir="auto" style="[^"]*text-align: ?{side};?">{re.escape(title)}</h1>'
        assert re.search(heading, html), folder
        assert "text-align:start" not in html and "text-align: start" not in html


# -- the body of a right-to-left series ---------------------------------------------------
BODY = "זהו משפט ראשון, עם פסיק."


class Directions(HTMLParser):
    """For each text node holding `needle`: the `dir` of its nearest element that has one,
    and whether an element around it aligns its text to the right."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.stack: list[tuple[str, str | None, str]] = []
        self.found: list[tuple[str | None, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("br", "img", "meta", "link", "input", "hr"):
            got = dict(attrs)
            self.stack.append((tag, got.get("dir"), (got.get("style") or "").replace(" ", "")))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.needle in data:
            dirs = [d for _, d, _ in self.stack if d]
            right = any("text-align:right" in s for _, _, s in self.stack)
            self.found.append((dirs[-1] if dirs else None, right))


def directions(html: str, needle: str) -> list[tuple[str | None, bool]]:
    parser = Directions(needle)
    parser.feed(html)
    return parser.found


def body_series(make_series: Callable[..., Path], language: str) -> Path:
    root = make_series(drafts=1, extra_toml=SITE)
    config = root / "seriespub.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[series]\n", f'[series]\nlanguage = "{language}"\n', 1))
    draft = root / "drafts" / "01-part-1.md"
    text = draft.read_text(encoding="utf-8")
    draft.write_text(text.rstrip("\n") + f"\n\n{BODY}\n\n- {BODY}\n", encoding="utf-8")
    return root


def test_a_right_to_left_series_sets_its_body_right_to_left(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """`language = "he"`: paragraphs and lists read right to left, aligned right, in the
    email and on the site (not only the titles: a body left-to-right puts the comma on the
    wrong side and the lines against the wrong edge)."""
    root = body_series(make_series, "he")
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    sent = next((root / ".seriespub" / "outbox" / "001").glob("*.eml")).read_bytes()
    found = directions(body_text(check_message(sent), "html"), BODY)
    assert found == [("rtl", True), ("rtl", True)], found
    assert cli(root, "site").exit_code == 0  # type: ignore[attr-defined]
    page = (root / "site" / "01-part-1" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="he" dir="rtl">' in page
    assert [d for d, _ in directions(page, BODY)] == ["rtl", "rtl"]


def test_a_left_to_right_series_keeps_its_body_left_to_right(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = body_series(make_series, "en")
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    sent = next((root / ".seriespub" / "outbox" / "001").glob("*.eml")).read_bytes()
    found = directions(body_text(check_message(sent), "html"), BODY)
    assert found and all(d != "rtl" and not right for d, right in found), found
    assert cli(root, "site").exit_code == 0  # type: ignore[attr-defined]
    page = (root / "site" / "01-part-1" / "index.html").read_text(encoding="utf-8")
    assert 'dir="rtl"' not in page
