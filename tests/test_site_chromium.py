"""The site in headless Chromium: AA contrast light and dark at 375 and 1280 px, no overflow.

The example series' two parts, released, built into a site; every kind of text a reader
reads (title, body, links, code, table, footnotes, pager, footer, the index's list and form)
is measured as computed style and as painted pixels, as tests/test_chromium.py does for email.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp import Browser
from instalments import example_series, write_png
from seriespub.ledger import Ledger
from seriespub.ops import site
from seriespub.series import find_series

pytestmark = pytest.mark.slow
# Skips this module with that module's reason when Chromium or websocket-client is missing.
chromium = pytest.importorskip("test_chromium", reason="headless Chromium is not available")

WIDTHS = (375, 1280)
MODES = ("light", "dark")
TEXTS = {
    "series link": ".sp-head a",
    "kicker": ".sp-head",
    "title": "main h1",
    "date": ".sp-meta",
    "body": "article > p:not(.sp-meta)",
    "h2": "main h2",
    "h3": "main h3",
    "link": "article p a",
    "bold": "article p strong",
    "inline code": "article p code",
    "pre": "article pre code",
    "blockquote": "article blockquote p",
    "list": "article li",
    "table head": ".sp-table th",
    "table cell": ".sp-table td",
    "footnote": ".sp-footnotes p",
    "pager": ".sp-pager a",
    "footer": ".sp-foot a",
    "part link": ".sp-parts a",
    "part date": ".sp-parts time",
    "label": ".sp-subscribe label",
    "button": ".sp-subscribe button",
}


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = example_series(tmp_path_factory.mktemp("site") / "series", image="../table.png")
    (root / "seriespub.toml").write_text(
        (root / "seriespub.toml").read_text(encoding="utf-8")
        + '\n[site]\nbase_url = "https://example.org/teaming/"\n'
        'subscribe = "https://example.org/subscribe"\n',
        encoding="utf-8",
    )
    (root / ".seriespub").mkdir()
    with Ledger.open(root / ".seriespub" / "ledger.db") as ledger:
        when = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
        ledger.mark_started(1, "one", "one", when)
        ledger.mark_finished(1, when)
    result = site.build(find_series(explicit=root), dt.datetime(2027, 3, 1, tzinfo=dt.UTC))
    assert [p.number for p in result.parts] == [1, 2]
    write_png(root / "site" / "table.png", 1600, 600)
    out = root / "site"
    return [out / "index.html", *(out / p.path / "index.html" for p in result.parts)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(chromium.CHROMIUM) as running:
        yield running


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("mode", MODES)
def test_site_text_keeps_aa_contrast_and_fits(
    browser: Browser, pages: list[Path], mode: str, width: int
) -> None:
    seen: set[str] = set()
    failures = []
    for page in pages:
        chromium.show(browser, chromium.Page(page.parent.name, page), mode, width)
        assert browser.evaluate("document.documentElement.scrollWidth") <= width, page
        found = browser.evaluate(f"{chromium.MEASURE}({json.dumps(TEXTS)})")
        seen |= set(found)
        for name, m in found.items():
            ratio = chromium.contrast(m["color"], m["background"])
            if ratio < chromium.MINIMUM:
                failures.append(
                    f"{page.parent.name} {name}: computed {m['color'][:3]} on "
                    f"{m['background'][:3]} = {ratio:.2f}:1"
                )
            text, background = chromium.painted(browser, m["rect"])
            ratio = chromium.contrast(text, background)
            if ratio < chromium.MINIMUM:
                failures.append(
                    f"{page.parent.name} {name}: painted {text} on {background} = {ratio:.2f}:1"
                )
    assert seen == set(TEXTS), f"not found on any page: {set(TEXTS) - seen}"
    assert not failures, f"{mode} at {width} px:\n" + "\n".join(failures)


@pytest.mark.parametrize("mode", MODES)
def test_dark_mode_darkens_the_page(browser: Browser, pages: list[Path], mode: str) -> None:
    chromium.show(browser, chromium.Page("index", pages[0]), mode, 375)
    background = browser.evaluate("getComputedStyle(document.body).backgroundColor")
    dark = chromium.luminance([float(v) for v in background[4:-1].split(",")]) < 0.05
    assert dark == (mode == "dark"), background


@pytest.mark.parametrize("width", (375, 600))
@pytest.mark.parametrize("mode", MODES)
def test_email_site_links_keep_aa_contrast(
    browser: Browser, pages: list[Path], mode: str, width: int
) -> None:
    from seriespub import publishing
    from seriespub.models import Subscriber

    series = find_series(explicit=pages[0].parents[1])
    drafts = publishing.drafts_of(series, strict=False)
    message = publishing.render(series, drafts, drafts.instalments[1])
    html = message.html_for(message.recipient(Subscriber("ada@example.org", "Ada")))
    path = pages[0].parents[1] / "email-2.html"
    path.write_text(html, encoding="utf-8")
    chromium.show(browser, chromium.Page("email", path), mode, width)
    texts = {
        "view in browser": ".sp-head a",
        "previously": ".sp-muted p",
        "previous part": ".sp-muted a",
    }
    found = browser.evaluate(f"{chromium.MEASURE}({json.dumps(texts)})")
    assert set(found) == set(texts)
    for name, m in found.items():
        assert chromium.contrast(m["color"], m["background"]) >= chromium.MINIMUM, name
        text, background = chromium.painted(browser, m["rect"])
        assert chromium.contrast(text, background) >= chromium.MINIMUM, (name, text, background)
