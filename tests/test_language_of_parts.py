"""The language of each part (WCAG 3.1.2): seriespub's own phrases, where it has no words in
the series' language, are English inside a page whose `lang` is that language. Each such
phrase carries `lang="en"` on its element, in the sent email (the outbox's .eml) and on the
site; in a right-to-left series also `dir="ltr"`, so its punctuation stays on its own side,
and the kicker and footer run right to left as the body does. A translated phrase carries
nothing: it is in the page's language.
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from mailcheck import body_text, check_message

Cli = Callable[..., object]
SITE = '\n[site]\nbase_url = "https://example.org/seria/"\nsubscribe = "https://example.org/s"\n'
VOID = frozenset({"br", "img", "meta", "link", "input", "hr", "col", "wbr", "source"})

# Phrases seriespub writes in English when it has no words in the series' language.
ENGLISH = (
    "Part ",
    "View in browser",
    "Previously in this series",
    "Next time",
    "You receive",
    "because you subscribed",
    "Unsubscribe",
)
SITE_ENGLISH = (
    "Skip to the text",
    "Part ",
    " of ",
    "Subscribe",
    "Atom feed",
    "The parts so far",
    "Page not found",
    "All parts of the series",
)
ENGLISH_LABELS = ("Back to the text", "Footnote 1")
# The author's words, which are in the series' language.
POLISH = ("Seria testowa", "Pierwsza część", "Druga część", "Dzień dobry", "Przypis")


class Langs(HTMLParser):
    """Every text node of the body and every aria-label, with the language and direction
    of the nearest element declaring one."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None, str | None]] = []  # tag, lang, dir
        self.texts: list[tuple[str, str | None, str | None]] = []
        self.labels: list[tuple[str, str | None]] = []

    def _nearest(self, index: int) -> str | None:
        return next((entry[index] for entry in reversed(self.stack) if entry[index]), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        got = dict(attrs)
        entry = (tag, got.get("lang"), got.get("dir"))
        if tag not in VOID:
            self.stack.append(entry)
        if got.get("aria-label"):
            self.labels.append((str(got["aria-label"]), got.get("lang") or self._nearest(1)))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        tags = {tag for tag, _, _ in self.stack}
        if data.strip() and not tags & {"head", "title", "style", "script"}:
            self.texts.append((data, self._nearest(1), self._nearest(2)))


def langs(html: str) -> Langs:
    parser = Langs()
    parser.feed(html)
    return parser


def language_of(html: str, needles: tuple[str, ...]) -> dict[str, set[str | None]]:
    """needle → the languages of the text nodes holding it (every needle must occur)."""
    found: dict[str, set[str | None]] = {needle: set() for needle in needles}
    for text, lang, _ in langs(html).texts:
        for needle in needles:
            if needle in text:
                found[needle].add(lang)
    assert all(found.values()), {n: v for n, v in found.items() if not v}
    return found


def label_languages(html: str) -> dict[str, set[str | None]]:
    found: dict[str, set[str | None]] = {}
    for label, lang in langs(html).labels:
        found.setdefault(label, set()).add(lang)
    return found


def series_in(
    make_series: Callable[..., Path], language: str, title: str = "Seria testowa"
) -> Path:
    """Two parts in `language` (Polish words, whatever the tag), a footnote in part 1."""
    root = make_series(drafts=2, extra_toml=SITE)
    config = root / "seriespub.toml"
    text = config.read_text(encoding="utf-8").replace('"Test Series"', f'"{title}"')
    config.write_text(text.replace("[series]\n", f'[series]\nlanguage = "{language}"\n', 1))
    for number, heading in ((1, "Pierwsza część"), (2, "Druga część")):
        (root / "drafts" / f"{number:02d}-part-{number}.md").write_text(
            f"---\ntitle: {heading}\nstatus: ready\n---\nDzień dobry.[^1]\n\n[^1]: Przypis.\n",
            encoding="utf-8",
        )
    return root


def published(root: Path, cli: Cli) -> tuple[list[str], dict[str, str]]:
    """Both parts sent to the outbox and the site built: the emails' HTML, the site pages."""
    for _ in range(2):
        result = cli(root, "send", "next", "--yes")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    outbox = root / ".seriespub" / "outbox"
    emails = [
        body_text(check_message(next((outbox / f).glob("*.eml")).read_bytes()), "html")
        for f in ("001", "002")
    ]
    site = root / "site"
    pages = {
        name: (site / name).read_text(encoding="utf-8")
        for name in ("index.html", "01-part-1/index.html", "404.html")
    }
    return emails, pages


def test_english_stand_ins_in_a_polish_email_and_site_are_marked_english(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    emails, pages = published(series_in(make_series, "pl"), cli)
    both = "".join(emails)
    assert language_of(both, ENGLISH) == {n: {"en"} for n in ENGLISH}
    assert language_of(both, POLISH) == {n: {"pl"} for n in POLISH}
    labels = label_languages(emails[0])
    assert {k: labels.get(k) for k in ENGLISH_LABELS} == {k: {"en"} for k in ENGLISH_LABELS}
    site = "".join(pages.values())
    assert language_of(site, SITE_ENGLISH) == {n: {"en"} for n in SITE_ENGLISH}
    assert language_of(site, POLISH[:4]) == {n: {"pl"} for n in POLISH[:4]}
    labels = label_languages(pages["01-part-1/index.html"])
    assert {k: labels.get(k) for k in (*ENGLISH_LABELS, "The parts so far")} == {
        k: {"en"} for k in (*ENGLISH_LABELS, "The parts so far")
    }


def test_translated_phrases_carry_no_language_of_their_own(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """German has seriespub's words: nothing in the email or site is marked English."""
    emails, pages = published(series_in(make_series, "de-AT"), cli)
    for html in (*emails, *pages.values()):
        assert 'lang="en"' not in html
    german = ("Teil ", "Im Browser ansehen", "Abmelden", "Zum Text springen")
    assert language_of("".join(emails) + pages["index.html"], german) == {
        n: {"de-AT"} for n in german
    }
    labels = label_languages(emails[0])
    assert labels.get("Fußnote 1") == {"de-AT"}, labels
    assert labels.get("Zurück zum Text") == {"de-AT"}, labels


# -- footnote marks ---------------------------------------------------------------------
def test_a_footnote_mark_is_named_footnote_n_and_still_shows_its_number(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """A screen reader said "link, 1": the mark's accessible name now says what it is."""
    emails, pages = published(series_in(make_series, "en"), cli)
    for html in (emails[0], pages["01-part-1/index.html"]):
        parser = FootnoteMarks()
        parser.feed(html)
        assert parser.marks == [("Footnote 1", "1")], parser.marks


class FootnoteMarks(HTMLParser):
    """(aria-label, visible text) of each link to a footnote (`href="#fn-N"`)."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[str | None, str]] = []
        self.open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        got = dict(attrs)
        if tag == "a" and str(got.get("href", "")).startswith("#fn-"):
            self.marks.append((got.get("aria-label"), ""))
            self.open = True

    def handle_endtag(self, tag: str) -> None:
        self.open = self.open and tag != "a"

    def handle_data(self, data: str) -> None:
        if self.open:
            label, text = self.marks[-1]
            self.marks[-1] = (label, text + data)


# -- right to left ----------------------------------------------------------------------
HEBREW_TITLE = "סדרת ניסיון"


def test_a_right_to_left_series_runs_its_kicker_and_footer_right_to_left(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """`language = "he"`: the kicker and the footer follow the body's direction; their English
    phrases are each isolated left to right, the series title inside them Hebrew again."""
    emails, pages = published(series_in(make_series, "he", HEBREW_TITLE), cli)
    for html in emails:
        texts = langs(html).texts
        for needle in ("Part 1", "You receive", "Unsubscribe", "Previously", "Next time"):
            holders = [(lang, d) for text, lang, d in texts if needle in text]
            if needle == "Part 1" or holders:
                assert holders and set(holders) == {("en", "ltr")}, (needle, holders)
        assert set(language_of(html, ("Unsubscribe",))["Unsubscribe"]) == {"en"}
        kicker, footer = outer_directions(html, HEBREW_TITLE)
        assert kicker == footer == "rtl", (kicker, footer)
    page = pages["01-part-1/index.html"]
    assert '<html lang="he" dir="rtl">' in page
    for text, lang, direction in langs(page).texts:
        if any(n in text for n in ("Part 1", "Atom feed", "Subscribe", "Skip to the text")):
            assert (lang, direction) == ("en", "ltr"), text
        if HEBREW_TITLE in text:
            assert lang == "he" and direction in ("auto", "rtl"), text


def outer_directions(html: str, title: str) -> list[str | None]:
    """The direction around the series title in the kicker and in the footer sentence: that
    of the nearest element with a `dir` other than "auto" and the English phrase's "ltr"."""

    class Outer(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[tuple[str, str | None]] = []
            self.found: list[str | None] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in VOID:
                got = dict(attrs)
                isolate = got.get("lang") == "en" or got.get("dir") == "auto"
                self.stack.append((tag, None if isolate else got.get("dir")))

        def handle_endtag(self, tag: str) -> None:
            while self.stack and self.stack.pop()[0] != tag:
                pass

        def handle_data(self, data: str) -> None:
            if title in data and not {t for t, _ in self.stack} & {"head", "title"}:
                self.found.append(next((d for _, d in reversed(self.stack) if d), None))

    parser = Outer()
    parser.feed(html)
    assert len(parser.found) == 2, parser.found  # the kicker and the footer sentence
    return parser.found
