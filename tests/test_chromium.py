"""The default template in a real browser: contrast of every text colour, light and dark.

Headless Chromium (Debian's package) renders the example instalment and a rich one at 375
and 600 px in three modes: light; dark as Apple Mail and iOS Mail show it (the page's own
`prefers-color-scheme: dark` styles, emulated with CDP `Emulation.setEmulatedMedia`); and
forced dark, Chromium's algorithmic darkening (`Emulation.setAutoDarkModeOverride`, the
engine behind `--force-dark-mode`/`WebContentsForceDark`) as in apps that darken any mail.

Two measurements per text element, both asserted at WCAG AA (4.5:1):
- computed: `getComputedStyle` colour of the text's element against the first non-transparent
  background among its ancestors (light and dark; forced dark happens at paint time, after
  styles, so computed styles cannot see it);
- painted: a 2× screenshot of the element's first characters; the most common pixel is the
  background, the pixel that differs most from it is the text (all three modes).
Nothing remote is loaded: the pages are files, the image is a local PNG, and every host name
resolves to nothing.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cdp import Browser, decode_png, find_chromium
from instalments import example_series, write_png
from seriespub import publishing
from seriespub.models import Subscriber
from seriespub.series import find_series

pytestmark = pytest.mark.slow
CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytest.skip(
        "Chromium is not installed (Debian: apt-get install chromium)", allow_module_level=True
    )

pytest.importorskip("websocket", reason="websocket-client is not installed (the dev extra)")

MODES = ("light", "dark", "forced-dark")
WIDTHS = (375, 600)
MINIMUM = 4.5

# What a reader reads, by where it sits in the default template. Each must be found in at
# least one of the two instalments.
TEXTS = {
    "kicker": ".sp-head div",
    "title": ".sp-title h1",
    "body": ".sp-card p",
    "h2": ".sp-card h2",
    "h3": ".sp-card h3",
    "link": ".sp-card p a",
    "bold": ".sp-card p strong",
    "inline code": ".sp-card p code",
    "pre": ".sp-card pre code",
    "blockquote": ".sp-card blockquote p",
    "blockquote link": ".sp-card blockquote a",
    "list": ".sp-card li",
    "table head": ".sp-table th",
    "table cell": ".sp-table td",
    "footnote mark": ".sp-fnref a",
    "footnote": ".sp-footnote p",
    "footnote link": ".sp-footnote a",
    "footnote back": ".sp-fnback",
    "next week": ".sp-muted div",
    "next title": ".sp-muted strong",
    "footer": ".sp-foot div",
    "unsubscribe": ".sp-foot a",
}

MEASURE = """
((texts) => {
  const rgba = (s) => { const m = s.match(/[\\d.]+/g).map(Number);
                        return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) return c;
    }
    return [255, 255, 255, 1];          // the canvas of a page that paints none
  };
  const out = {};
  for (const [name, selector] of Object.entries(texts)) {
    const el = document.querySelector(selector);
    if (!el) continue;
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walk.nextNode()) && !node.textContent.trim()) {}
    if (!node) continue;
    const start = node.textContent.search(/\\S/);
    const range = document.createRange();
    range.setStart(node, start);
    range.setEnd(node, Math.min(node.textContent.length, start + 8));
    const r = range.getClientRects()[0];
    const owner = node.parentElement;
    out[name] = {color: rgba(getComputedStyle(owner).color), background: background(owner),
                 rect: {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}};
  }
  return out;
})
"""


def luminance(rgb: tuple[float, ...] | list[float]) -> float:
    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@dataclass
class Page:
    name: str
    path: Path


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> list[Page]:
    """The example instalment and the rich one, rendered for one reader into HTML files."""
    root = tmp_path_factory.mktemp("chromium")
    series_dir = example_series(root / "series", image="table.png")
    write_png(series_dir / "table.png", 1600, 600)
    series = find_series(explicit=series_dir)
    drafts = publishing.drafts_of(series, strict=False)
    out = []
    for number, name in ((1, "example"), (2, "rich")):
        message = publishing.render(series, drafts, drafts.by_number(number))  # type: ignore[arg-type]
        html = message.html_for(message.recipient(Subscriber("ada@example.org", "Ada")))
        path = series_dir / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        out.append(Page(name, path))
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    with Browser(CHROMIUM) as running:
        yield running


def show(browser: Browser, page: Page, mode: str, width: int) -> None:
    browser.viewport(width)
    browser.colour_scheme("dark" if mode == "dark" else "light")
    browser.page("Emulation.setAutoDarkModeOverride", enabled=mode == "forced-dark")
    browser.open(page.path)
    browser.viewport(width, browser.evaluate("document.documentElement.scrollHeight") + 300)


def painted(browser: Browser, rect: dict[str, float]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(text, background) as painted in `rect`: the background is the commonest pixel."""
    clip = {
        "x": rect["x"] - 2,
        "y": rect["y"],
        "width": rect["width"] + 4,
        "height": rect["height"],
    }
    pixels = [p for row in decode_png(browser.screenshot(clip, scale=2)) for p in row]
    background = collections.Counter(pixels).most_common(1)[0][0]
    text = max(set(pixels), key=lambda p: contrast(p, background))
    return text, background


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("mode", MODES)
def test_every_text_keeps_aa_contrast(
    browser: Browser, pages: list[Page], mode: str, width: int
) -> None:
    seen: set[str] = set()
    failures = []
    for page in pages:
        show(browser, page, mode, width)
        found = browser.evaluate(f"{MEASURE}({json.dumps(TEXTS)})")
        seen |= set(found)
        for name, m in found.items():
            if mode != "forced-dark":
                ratio = contrast(m["color"], m["background"])
                if ratio < MINIMUM:
                    failures.append(
                        f"{page.name} {name}: computed {m['color'][:3]} on "
                        f"{m['background'][:3]} = {ratio:.2f}:1"
                    )
            text, background = painted(browser, m["rect"])
            ratio = contrast(text, background)
            if ratio < MINIMUM:
                failures.append(
                    f"{page.name} {name}: painted {text} on {background} = {ratio:.2f}:1"
                )
    assert seen == set(TEXTS), f"not found in either page: {set(TEXTS) - seen}"
    assert not failures, f"{mode} at {width} px:\n" + "\n".join(failures)


@pytest.mark.parametrize("mode", MODES)
def test_page_background_fills_the_window_below_a_short_email(
    browser: Browser, pages: list[Page], mode: str
) -> None:
    rich = pages[1]
    show(browser, rich, mode, 600)
    height = browser.evaluate("document.documentElement.scrollHeight")
    browser.viewport(600, height + 600)
    [[below]] = decode_png(
        browser.screenshot({"x": 300, "y": height + 500, "width": 1, "height": 1})
    )
    [[beside]] = decode_png(browser.screenshot({"x": 2, "y": 40, "width": 1, "height": 1}))
    assert below == beside  # one page colour, all the way down
    dark = luminance(below) < 0.05
    assert dark == (mode != "light"), f"{mode}: the page below the email is {below}"


@pytest.mark.parametrize("image", ["table.png", "missing.png"])
def test_nothing_overflows_a_phone_screen_even_with_images_blocked(
    browser: Browser, pages: list[Page], image: str
) -> None:
    rich = pages[1]
    blocked = rich.path.with_name(f"rich-{image}.html")
    blocked.write_text(
        rich.path.read_text(encoding="utf-8").replace("table.png", image), encoding="utf-8"
    )
    show(browser, Page("rich", blocked), "light", 375)
    assert browser.evaluate("document.documentElement.scrollWidth") <= 375
    shown = browser.evaluate("document.querySelector('.sp-card img').getBoundingClientRect().width")
    assert shown <= 375 - 2 * 24
