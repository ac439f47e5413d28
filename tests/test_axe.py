"""What readers see, checked by axe-core (Deque's accessibility engine) in headless Chromium.

The example part and the rich one, as sent (the HTML part of each outbox .eml), in light and
dark mode at 375 and 600 px; and the site built from the same series by `seriespub site`,
served on 127.0.0.1 at its base path as a web server would (the 404 page's links are
absolute): the index, each part and the 404 page, light and dark at 375 and 1280 px. All of
it again for a right-to-left series (`language = "he"`).

axe-core is an npm package (`.ci/run` installs a pinned version under .venv/axe); its
axe.min.js is injected into each page with CDP `Runtime.evaluate`, so nothing is fetched at
test time. Every violation is a defect, unless ALLOWED names its rule, for email or for the
site, with the reason it is not one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp import Browser
from instalments import REPO, build_site, example_series, send_to_outbox, write_png
from mailcheck import html_of
from seriespub.site.serve import Server, serve_site

pytestmark = pytest.mark.slow
# Skips this module with that module's reason when Chromium or websocket-client is missing.
chromium = pytest.importorskip("test_chromium", reason="headless Chromium is not available")

VERSION = "4.14.1"
BASE_PATH = "/teaming/"
SITE = (
    f'\n[site]\nbase_url = "https://example.org{BASE_PATH}"\n'
    'subscribe = "https://example.org/subscribe"\n'
)
EMAIL_WIDTHS = (375, 600)
SITE_WIDTHS = (375, 1280)
MODES = ("light", "dark")

# (rule id, where it may be reported: "email" or "site"): why it is not a defect there.
ALLOWED: dict[tuple[str, str], str] = {
    ("landmark-one-main", "email"): (
        "a message is shown inside the mail client's own page, whose message pane is the main "
        "landmark; a <main> in mail is stripped or nested in that pane. The message is one "
        'role="article" with aria-roledescription="email" and its subject as aria-label, the '
        "accessible-email norm (MJML writes it)"
    ),
    ("region", "email"): (
        "the same: everything is inside that role=article wrapper, which axe does not count as "
        "a landmark; the client's pane is the region"
    ),
}

RUN_AXE = """
axe.run(document, {resultTypes: ["violations"]}).then((r) => r.violations.map((v) => ({
  id: v.id, impact: v.impact,
  nodes: v.nodes.map((n) => n.target.join(" ") + ": " + n.failureSummary.split("\\n")[1]),
})))
"""


def axe_script() -> str:
    """axe.min.js from $AXE_DIR or .venv/axe (.ci/run installs it there)."""
    for folder in (os.environ.get("AXE_DIR"), REPO / ".venv" / "axe"):
        script = Path(folder or "") / "node_modules" / "axe-core" / "axe.min.js"
        if folder and script.is_file():
            return script.read_text(encoding="utf-8")
    pytest.skip(
        f"axe-core is not installed: npm install --prefix .venv/axe axe-core@{VERSION} "
        "(.ci/run does)"
    )


def published_series(root: Path, language: str) -> Path:
    """The example series in `language`, both parts sent to the outbox, its site built."""
    example_series(root, image="table.png")
    write_png(root / "table.png", 1600, 600)
    config = root / "seriespub.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("[series]\n", f'[series]\nlanguage = "{language}"\n', 1)
    config.write_text(text + SITE, encoding="utf-8")
    for number, eml in enumerate(send_to_outbox(root, 2), start=1):
        (root / f"email-{number}.html").write_text(html_of(eml), encoding="utf-8")
    build_site(root)
    write_png(root / "site" / "table.png", 1600, 600)
    return root


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    axe_script()  # skip before sending when axe-core is missing
    root = tmp_path_factory.mktemp("axe")
    return {lang: published_series(root / lang, lang) for lang in ("en", "he")}


@pytest.fixture(scope="module")
def servers(series: dict[str, Path]) -> Iterator[dict[str, Server]]:
    running = {lang: serve_site(root / "site", BASE_PATH, port=0) for lang, root in series.items()}
    yield running
    for server in running.values():
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(chromium.CHROMIUM, loopback=True) as running:
        yield running


def show(browser: Browser, url: str, mode: str, width: int) -> None:
    """Load `url` at `width` px in `mode` and wait until it has finished loading."""
    browser.viewport(width)
    browser.colour_scheme(mode)
    browser.page("Page.navigate", url=url)
    deadline = time.monotonic() + 10
    time.sleep(0.05)  # let the navigation replace the old document first
    while browser.evaluate("document.readyState") != "complete":
        assert time.monotonic() < deadline, f"{url} did not finish loading"
        time.sleep(0.02)


def violations(browser: Browser) -> list[dict[str, object]]:
    """axe's violations on the page shown: [{id, impact, nodes}]."""
    if browser.evaluate("typeof axe") != "object":
        browser.evaluate(axe_script())
    found: list[dict[str, object]] = browser.evaluate(RUN_AXE)
    return found


def defects(found: list[dict[str, object]], kind: str) -> list[str]:
    """Each violation ALLOWED does not excuse, as "rule (impact): node: what fails"."""
    return [
        f"{v['id']} ({v['impact']}): {'; '.join(map(str, v['nodes']))}"  # type: ignore[call-overload]
        for v in found
        if (v["id"], kind) not in ALLOWED
    ]


EMAILS = ("en-email-1", "en-email-2", "he-email-2")
SITE_PAGES = ("index", "01-leading-across-systems/", "02-what-the-teams-told-us/", "no-such-part/")


@pytest.mark.parametrize("width", EMAIL_WIDTHS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", EMAILS)
def test_email_has_no_violation_outside_the_allowed(
    browser: Browser, series: dict[str, Path], name: str, mode: str, width: int
) -> None:
    lang, _, number = name.partition("-email-")
    show(browser, (series[lang] / f"email-{number}.html").as_uri(), mode, width)
    assert defects(violations(browser), "email") == []


@pytest.mark.parametrize("width", SITE_WIDTHS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lang", ("en", "he"))
@pytest.mark.parametrize("page", SITE_PAGES)
def test_site_page_has_no_violation(
    browser: Browser, servers: dict[str, Server], page: str, lang: str, mode: str, width: int
) -> None:
    path = "" if page == "index" else page
    show(browser, f"http://127.0.0.1:{servers[lang].port}{BASE_PATH}{path}", mode, width)
    if page == "no-such-part/":
        heading = browser.evaluate("document.querySelector('h1').textContent.trim()")
        assert heading == "Page not found"
    assert defects(violations(browser), "site") == []


def test_every_allowance_is_still_needed(browser: Browser, series: dict[str, Path]) -> None:
    """An allowance no page needs any more is stale: remove it."""
    show(browser, (series["en"] / "email-1.html").as_uri(), "light", 600)
    found = {v["id"] for v in violations(browser)}
    assert {rule for rule, kind in ALLOWED if kind == "email"} <= found
    assert all(kind == "email" for _, kind in ALLOWED)


def test_the_preheader_is_not_read_aloud(browser: Browser, series: dict[str, Path]) -> None:
    """The preheader is for the inbox list; `display:none` keeps it out of the accessibility
    tree too (the norm; axe has no rule for it), so a screen reader starts at the title."""
    show(browser, (series["en"] / "email-2.html").as_uri(), "light", 600)
    nodes = browser.page("Accessibility.getFullAXTree")["nodes"]
    names = " ".join(str(n.get("name", {}).get("value", "")) for n in nodes)
    assert "What the teams told us" in names
    assert "Three findings from a year" not in names


def test_the_check_can_fail(browser: Browser, tmp_path: Path) -> None:
    """An image without alt text and a heading skipped: both reported, by rule id."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body><main>'
        '<h1>One</h1><h4>Four</h4><img src="x.png"></main></body></html>',
        encoding="utf-8",
    )
    show(browser, page.as_uri(), "light", 600)
    found = {v["id"] for v in violations(browser)}
    assert {"image-alt", "heading-order"} <= found
