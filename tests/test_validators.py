"""What conformance checkers nobody here wrote say of the site, its feed and the email.

Two series (the repository's example part and the rich one, sent through the real CLI to the
outbox, then `seriespub site`): one in English, one in Hebrew (right to left) whose base_url
holds an `&`, so every URL the build writes must be escaped.

- The Nu Html Checker (vnu, the W3C's HTML validator; npm `vnu-jar`, which `.ci/run` installs
  under .venv/vnu) checks every HTML page the site writes and its style.css, and the HTML
  part of each sent .eml, in ONE run of the JVM. A site page has no error and no warning,
  but for SITE_ALLOWED. The email keeps some legacy markup on purpose, for the mail clients
  that need it (MJML's layout tables, Outlook's VML namespaces and `mso-` CSS, named
  anchors): each such finding is in EMAIL_ALLOWED with its reason, and every allowance must
  still be used. vnu's plain info messages (no error, no warning) are not asserted.
- jing checks feed.xml against RFC 4287's RELAX NG schema (tests/schemas/atom.rnc, Appendix
  B of the RFC); the tests check what that schema cannot (its two Schematron rules, unique
  ids, RFC 3339 dates, links that resolve to files the build wrote, `xml:lang`), and the
  sitemap against the sitemaps.org protocol.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from instalments import REPO, build_site, example_series, send_to_outbox
from mailcheck import html_of

pytestmark = pytest.mark.slow
VNU_VERSION = "26.9.27"
SCHEMA = Path(__file__).parent / "schemas" / "atom.rnc"
BASE_URLS = {"en": "https://example.org/teaming/", "he": "https://example.org/r&d/teaming/"}
ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")

OUTLOOK = "Outlook for Windows (Word) reads it inside MJML's <!--[if mso]> blocks"
LAYOUT = "MJML's layout tables: Outlook for Windows lays out by these attributes, not CSS"
# vnu message: (a regex its source extract must match, why the email keeps it).
EMAIL_ALLOWED: dict[str, tuple[str, str]] = {
    "Attribute “xmlns:v” not allowed here.": ("<html", f"the VML namespace; {OUTLOOK}"),
    "Attribute “xmlns:o” not allowed here.": ("<html", f"the Office namespace; {OUTLOOK}"),
    "CSS: “mso-hide”: Property “mso-hide” doesn't exist.": (
        "",
        "hides the preheader in Outlook for Windows, which ignores display:none",
    ),
    "CSS: “mso-table-lspace”: Property “mso-table-lspace” doesn't exist.": (
        "",
        "MJML's reset of the gap Outlook puts beside tables",
    ),
    "CSS: “mso-table-rspace”: Property “mso-table-rspace” doesn't exist.": (
        "",
        "MJML's reset of the gap Outlook puts beside tables",
    ),
    "CSS: “supported-color-schemes”: Property “supported-color-schemes” doesn't exist.": (
        "",
        "the older name of color-scheme, which Apple Mail before 13 reads for dark mode",
    ),
    "Element “a” is missing required attribute “href”.": (
        r'^<a name="[^"]+"[ >]',
        "the named anchor before each footnote, citation and heading: Gmail on the web, "
        "Outlook for Windows and Yahoo follow a local link only to one (render/footnotes.py, "
        "render/headings.py)",
    ),
    "The “name” attribute on the “a” element is obsolete. Consider putting an “id” attribute "
    "on the nearest container instead.": (r'^<a name="[^"]+"', "the same named anchors"),
    "The “align” attribute on the “table” element is obsolete. Use CSS instead.": ("", LAYOUT),
    "The “align” attribute on the “td” element is obsolete. Use CSS instead.": ("", LAYOUT),
    "The “border” attribute on the “table” element is obsolete. Consider specifying "
    "“img { border: 0; }” in CSS instead.": ("", LAYOUT),
    "The “cellpadding” attribute on the “table” element is obsolete. Use CSS instead.": (
        "",
        LAYOUT,
    ),
    "The “cellspacing” attribute on the “table” element is obsolete. Use CSS instead.": (
        "",
        LAYOUT,
    ),
    "The “width” attribute on the “table” element is obsolete. Use CSS instead.": ("", LAYOUT),
    "The “type” attribute for the “style” element is not needed and should be omitted.": (
        r"^<style type=\"text/css\"",
        "MJML writes type=text/css on its <style> blocks; old webmail looks for it",
    ),
}
# (series, vnu message): why it is no defect of that series' site.
SITE_ALLOWED: dict[tuple[str, str], str] = {
    (
        "he",
        "This document appears to be written in English but the “html” start tag has "
        '“lang="he"”. Consider using “lang="en"” (or variant) instead.',
    ): "the test's drafts are in English in a series whose language is Hebrew",
}


@dataclass(frozen=True)
class Finding:
    """One vnu message that is an error or a warning (not a plain info)."""

    file: str  # relative to the test's folder: "en/site/index.html", "he/email-2.html"
    message: str
    extract: str  # the source vnu points at: a start tag, an attribute, a CSS rule

    @property
    def series(self) -> str:
        return self.file.split("/", 1)[0]


def vnu_jar() -> Path:
    """vnu.jar from $VNU_DIR or .venv/vnu (.ci/run installs it there); skips without java."""
    if shutil.which("java") is None:
        pytest.skip("java is not installed: the Nu Html Checker runs on it (Debian jre)")
    for folder in (os.environ.get("VNU_DIR"), REPO / ".venv" / "vnu"):
        jar = Path(folder or "") / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
        if folder and jar.is_file():
            return jar
    pytest.skip(
        f"vnu-jar is not installed: npm install --prefix .venv/vnu vnu-jar@{VNU_VERSION} "
        "(.ci/run does)"
    )


def jing() -> str:
    """The jing command (Debian package `jing`); skips without it."""
    found = shutil.which("jing")
    if found is None:
        pytest.skip("jing is not installed: apt-get install jing (.ci/run does)")
    return found


def published_series(root: Path, language: str) -> Path:
    """The example series in `language`, both parts sent to the outbox (each HTML part kept
    as email-N.html), its site built."""
    example_series(root)
    config = root / "seriespub.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("[series]\n", f'[series]\nlanguage = "{language}"\n', 1)
    site = f'\n[site]\nbase_url = "{BASE_URLS[language]}"\nsubscribe = "https://example.org/s"\n'
    config.write_text(text + site, encoding="utf-8")
    for number, eml in enumerate(send_to_outbox(root, 2), start=1):
        (root / f"email-{number}.html").write_text(html_of(eml), encoding="utf-8")
    build_site(root)
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder holding both series, "en" and "he"."""
    root = tmp_path_factory.mktemp("validators")
    for language in BASE_URLS:
        published_series(root / language, language)
    return root


def vnu(jar: Path, files: Iterable[Path], cwd: Path) -> list[Finding]:
    """Every error and warning vnu finds in `files` (HTML, and CSS by extension), one JVM."""
    done = subprocess.run(
        ["java", "-jar", str(jar), "--format", "json", "--also-check-css", "--exit-zero-always"]
        + [str(f.relative_to(cwd)) for f in files],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = []
    for m in json.loads(done.stderr)["messages"]:
        if m["type"] == "info" and m.get("subType") != "warning":
            continue  # a plain info: no conformance error
        file = urllib.parse.unquote(urllib.parse.urlsplit(m.get("url", "")).path)
        where = Path(file).relative_to(cwd).as_posix() if file.startswith("/") else file
        start, length = m.get("hiliteStart", 0), m.get("hiliteLength", 0)
        found.append(Finding(where, m["message"], m.get("extract", "")[start : start + length]))
    return found


BROKEN = (
    '<!doctype html><html lang="en"><head><title>x</title></head><body>'
    '<p id="a"><div>x</div></p><p id="a">y</p><img src="a.png" alt="" width="50%">'
    "</body></html>"
)


@pytest.fixture(scope="module")
def findings(folder: Path) -> list[Finding]:
    """vnu on every HTML page and stylesheet of both sites, on the four emails, and on
    BROKEN (which shows the check can fail): one JVM."""
    jar = vnu_jar()
    files = sorted(folder.glob("*/site/**/*.html")) + sorted(folder.glob("*/site/*.css"))
    files += sorted(folder.glob("*/email-*.html"))
    assert len(files) == 2 * 5 + 2 * 2, files  # index, 2 parts, 404, style.css; 2 emails
    (folder / "broken.html").write_text(BROKEN, encoding="utf-8")
    return vnu(jar, [*files, folder / "broken.html"], folder)


def email_defects(found: Iterable[Finding]) -> list[str]:
    """Each email finding EMAIL_ALLOWED does not excuse, as "file: message [extract]"."""
    out = []
    for f in found:
        extract, _ = EMAIL_ALLOWED.get(f.message, (None, ""))
        if extract is None or not re.search(extract, f.extract):
            out.append(f"{f.file}: {f.message} [{f.extract[:80]}]")
    return out


def test_every_site_page_is_valid_html(findings: list[Finding]) -> None:
    """Index, each part, the 404 page and style.css: no error, no warning."""
    site = [f for f in findings if "/site/" in f.file]
    problems = [
        f"{f.file}: {f.message} [{f.extract[:80]}]"
        for f in site
        if (f.series, f.message) not in SITE_ALLOWED
    ]
    assert problems == []


@pytest.mark.parametrize(
    "email", ["en/email-1.html", "en/email-2.html", "he/email-1.html", "he/email-2.html"]
)
def test_the_email_is_valid_html_but_for_its_client_markup(
    findings: list[Finding], email: str
) -> None:
    """The example part and the rich one, left to right and right to left."""
    assert email_defects(f for f in findings if f.file == email) == []


def test_every_allowance_is_still_needed(findings: list[Finding]) -> None:
    """An allowance no finding uses any more is stale: remove it."""
    emails = [f for f in findings if "/email-" in f.file]
    for message, (extract, reason) in EMAIL_ALLOWED.items():
        assert reason
        assert any(f.message == message and re.search(extract, f.extract) for f in emails), message
    for (series, message), reason in SITE_ALLOWED.items():
        assert reason
        assert any(f.series == series and f.message == message for f in findings), message


def test_the_html_check_can_fail(findings: list[Finding]) -> None:
    """BROKEN, checked in the same run: a duplicate id, a bad nesting and a bad attribute
    value, each an error, by message."""
    messages = {f.message for f in findings if f.file == "broken.html"}
    assert "Duplicate ID “a”." in messages, messages
    assert any("“width” on element “img”" in m for m in messages), messages
    assert "No “p” element in scope but a “p” end tag seen." in messages, messages


def jing_errors(files: Iterable[Path]) -> list[str]:
    """Each error jing finds in `files` against RFC 4287's schema (one JVM for all)."""
    done = subprocess.run(
        [jing(), "-c", str(SCHEMA), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    errors = [line for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == (1 if errors else 0), done.stdout + done.stderr
    return errors


def test_the_feed_matches_rfc_4287s_schema(folder: Path) -> None:
    assert jing_errors(folder / language / "site" / "feed.xml" for language in BASE_URLS) == []


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    """An entry with no id and a date that is no date: both reported."""
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>https://e.org/</id>'
        "<updated>yesterday</updated><author><name>a</name></author>"
        "<entry><title>e</title><updated>2026-01-01T00:00:00Z</updated></entry></feed>",
        encoding="utf-8",
    )
    errors = jing_errors([feed])
    assert any("must be an ISO date and time" in e for e in errors), errors
    assert any('element "entry" incomplete' in e for e in errors), errors


class Targets(HTMLParser):
    """Every href and src of an HTML document or fragment, and every id in it."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append(value)
            if name == "id" and value is not None:
                self.ids.add(value)


def built_file(out: Path, base: str, url: str) -> Path | None:
    """The file of the site in `out` that `url` names; None for a URL outside `base`."""
    if not url.startswith(base):
        return None
    path = urllib.parse.urlsplit(url[len(base) :]).path
    return out / path / "index.html" if path in ("", ".") or path.endswith("/") else out / path


def assert_resolves(out: Path, base: str, url: str) -> None:
    """`url` is absolute; under `base` it names a file the build wrote, and its fragment an
    id of that page."""
    assert urllib.parse.urlsplit(url).scheme in ("https", "mailto"), url
    target = built_file(out, base, url)
    if target is None:
        return
    assert target.is_file(), url
    fragment = urllib.parse.urlsplit(url).fragment
    if fragment:
        assert fragment in Targets(target.read_text(encoding="utf-8")).ids, url


def text_of(element: ET.Element, tag: str) -> str:
    found = element.findtext(f"{ATOM}{tag}")
    assert found is not None and found.strip(), f"no atom:{tag}"
    return found


@pytest.mark.parametrize("language", BASE_URLS)
def test_the_feed_holds_what_its_schema_cannot_check(folder: Path, language: str) -> None:
    """The schema's two Schematron rules (an author; an alternate link per entry), unique
    ids that are the pages' URLs, RFC 3339 dates, the series' language, and every link
    absolute and resolving to a file the build wrote (a fragment to an id on that page)."""
    out, base = folder / language / "site", BASE_URLS[language]
    feed = ET.parse(out / "feed.xml").getroot()
    assert feed.get(XML_LANG) == language
    assert (feed.findtext(f"{ATOM}author/{ATOM}name") or "").strip()
    entries = feed.findall(f"{ATOM}entry")
    ids = [text_of(entry, "id") for entry in entries]
    assert len(entries) == 2 and len(set(ids)) == 2 and text_of(feed, "id") not in ids
    for entry, entry_id in zip(entries, ids, strict=True):
        links = entry.findall(f"{ATOM}link")
        assert [x.get("href") for x in links if x.get("rel", "alternate") == "alternate"] == [
            entry_id
        ]
        for url in [entry_id, *Targets(text_of(entry, "content")).links]:
            assert_resolves(out, base, url)
        assert text_of(entry, "published") <= text_of(entry, "updated")
    for link in feed.findall(f"{ATOM}link"):
        assert_resolves(out, base, link.get("href", ""))
    dates = (f"{ATOM}updated", f"{ATOM}published")
    stamps = [e.text or "" for e in feed.iter() if e.tag in dates]
    assert len(stamps) == 1 + 2 * 2 and all(RFC3339.fullmatch(s) for s in stamps), stamps
    updated = [dt.datetime.fromisoformat(s) for s in stamps]
    assert updated[0] == max(updated)  # the feed's: its latest entry's


W3C_DATETIME = re.compile(r"\d{4}(-\d\d(-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d))?)?)?")


@pytest.mark.parametrize("language", BASE_URLS)
def test_the_sitemap_follows_the_sitemaps_protocol(folder: Path, language: str) -> None:
    """UTF-8; each <loc> absolute under base_url, under 2,048 characters, entity-escaped,
    naming a page the build wrote; each <lastmod> a W3C datetime; every page but 404 listed."""
    out, base = folder / language / "site", BASE_URLS[language]
    raw = (out / "sitemap.xml").read_bytes()
    assert raw.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    for written in re.findall(rb"<loc>([^<]*)</loc>", raw):
        assert not re.search(rb"['\">]|&(?!amp;|lt;|gt;|quot;|apos;|#\d+;)", written), written
    urlset = ET.fromstring(raw)
    assert urlset.tag == f"{SITEMAP}urlset"
    listed = set()
    for url in urlset:
        assert url.tag == f"{SITEMAP}url"
        loc = url.findtext(f"{SITEMAP}loc") or ""
        assert loc.startswith(base) and len(loc) < 2048, loc
        target = built_file(out, base, loc)
        assert target is not None and target.is_file(), loc
        listed.add(target)
        lastmod = url.findtext(f"{SITEMAP}lastmod")
        assert lastmod is None or W3C_DATETIME.fullmatch(lastmod), lastmod
    assert listed == set(out.glob("**/index.html"))
    assert language != "he" or b"r&amp;d" in raw  # the base_url's & is escaped
