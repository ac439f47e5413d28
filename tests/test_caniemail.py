"""The caniemail data on what we send: no HTML or CSS feature the major clients lack.

The example instalment and the rich one (every element a draft may hold) go out through the
real CLI to the outbox; the HTML part of each .eml is checked by the npm package `caniemail`
(the caniemail.com data with its HTML and CSS checker; `.ci/run` installs a pinned version
under .venv/caniemail) for Gmail (web, iOS, Android), Outlook (Windows, macOS, Outlook.com,
iOS), Apple Mail (macOS, iOS) and Yahoo (web, iOS, Android).

A feature a client does not support at all is a defect, unless ALLOWED names it for that
client with the reason the mail still reads fine without it (a progressive enhancement).
Partial support is not asserted here: its notes are conditions, and the ones that bite have
their own tests (named anchors for local links: tests/test_render.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from instalments import example_series, send_to_outbox
from mailcheck import html_of

pytestmark = pytest.mark.slow
VERSION = "2.0.2"
REPO = Path(__file__).resolve().parents[1]

CLIENTS = (
    "gmail.desktop-webmail",
    "gmail.ios",
    "gmail.android",
    "outlook.windows",
    "outlook.macos",
    "outlook.outlook-com",
    "outlook.ios",
    "apple-mail.macos",
    "apple-mail.ios",
    "yahoo.desktop-webmail",
    "yahoo.ios",
    "yahoo.android",
)
EVERY = frozenset(CLIENTS)
YAHOO = frozenset({"yahoo.desktop-webmail", "yahoo.ios", "yahoo.android"})
APPLE = frozenset({"apple-mail.macos", "apple-mail.ios"})
WORD = frozenset({"outlook.windows"})  # Outlook for Windows renders with Word

# (feature, the clients where it may be unsupported): why the mail still reads fine there.
DARK = "declares the dark palette; a client that ignores it shows the light one, which reads fine"
ALLOWED: dict[str, tuple[frozenset[str], str]] = {
    "color-scheme CSS property": (EVERY - APPLE, DARK),
    "color-scheme meta tag": (EVERY - {"apple-mail.macos"}, DARK),
    "@media": (WORD, "dark mode and MJML's wide column; Word lays out the fixed 600 px mso tables"),
    "Chaining selectors": (
        WORD | {"outlook.outlook-com"},
        "only in the dark-mode block and MJML's Thunderbird rule, neither applied there",
    ),
    "outline": (WORD, "MJML's image reset `outline: none`; Word draws no outline anyway"),
    "word-spacing": (WORD, "MJML's `word-spacing: normal` on <body>, the default anyway"),
    "max-height property": (WORD, "hides the preheader, which `mso-hide: all` hides in Outlook"),
    "overflow": (WORD, "preheader (mso-hide), rounded card, code scroll: all shows in full"),
    "border-radius": (WORD, "the card's corners are square in Word"),
    "white-space": (WORD, "`pre-wrap` on code; <pre> keeps its breaks, long lines just don't wrap"),
    "height property": (YAHOO, "only `height: auto` (test below): as `min-height: auto` the same"),
    "aria-label attribute": (
        YAHOO,
        "screen-reader names of the article, the footnote marks (read as their number there) "
        "and the back link",
    ),
    "word-break": (YAHOO, "MJML's `break-word` on text cells; Yahoo wraps long words its own way"),
    "<body> element": (
        frozenset({"outlook.macos", "yahoo.ios", "yahoo.android"}),
        "the page colour is repeated on the sp-page wrapper (test below)",
    ),
    "Local anchors": (
        frozenset({"gmail.ios", "yahoo.ios", "yahoo.android"}),
        "footnote marks do nothing (or open a blank page); the notes are at the end",
    ),
}

CHECK_JS = """
import { caniemail } from "caniemail";
let html = "";
process.stdin.on("data", (chunk) => { html += chunk; });
process.stdin.on("end", () => {
  const { issues } = caniemail({ clients: JSON.parse(process.argv[1]), html });
  const unsupported = {};
  for (const [client, found] of issues.errors) {
    unsupported[client] = found.map(({ title, notes }) => ({ title, notes }));
  }
  process.stdout.write(JSON.stringify(unsupported));
});
"""


def caniemail_folder() -> Path:
    """The npm prefix holding caniemail: $CANIEMAIL_DIR, or .venv/caniemail (.ci/run)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the caniemail checker is an npm package")
    for folder in (os.environ.get("CANIEMAIL_DIR"), REPO / ".venv" / "caniemail"):
        if folder and (Path(folder) / "node_modules" / "caniemail").is_dir():
            return Path(folder)
    pytest.skip(
        f"caniemail is not installed: npm install --prefix .venv/caniemail caniemail@{VERSION} "
        "(.ci/run does)"
    )


def unsupported(html: str) -> dict[str, list[dict[str, object]]]:
    """{client: [{title, notes}]} for every feature of `html` a client in CLIENTS lacks."""
    done = subprocess.run(
        ["node", "--input-type=module", "-e", CHECK_JS, json.dumps(CLIENTS)],
        input=html,
        capture_output=True,
        text=True,
        cwd=caniemail_folder(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, list[dict[str, object]]] = json.loads(done.stdout)
    return found


@pytest.fixture(scope="module")
def sent_html(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The HTML of parts 1 (the repository's example) and 2 (the rich one), as sent; and
    the rich one in a right-to-left series (its body set right to left)."""
    caniemail_folder()  # skip before sending when the checker is missing
    root = example_series(tmp_path_factory.mktemp("caniemail") / "series")
    example, rich = send_to_outbox(root, 2)
    rtl = example_series(tmp_path_factory.mktemp("caniemail-rtl") / "series")
    config = rtl / "seriespub.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[series]\n", '[series]\nlanguage = "he"\n', 1))
    _, rich_rtl = send_to_outbox(rtl, 2)
    return {"example": html_of(example), "rich": html_of(rich), "rtl": html_of(rich_rtl)}


def defects(found: dict[str, list[dict[str, object]]]) -> list[str]:
    """Each finding ALLOWED does not excuse, as "client: feature (notes)"."""
    out = []
    for client, features in sorted(found.items()):
        for feature in features:
            title = str(feature["title"])
            clients, _ = ALLOWED.get(title, (frozenset(), ""))
            if client not in clients:
                out.append(f"{client}: {title} {feature['notes'] or ''}".rstrip())
    return sorted(set(out))


@pytest.mark.parametrize("name", ["example", "rich", "rtl"])
def test_no_feature_a_major_client_lacks_outside_the_allowed(
    sent_html: dict[str, str], name: str
) -> None:
    assert defects(unsupported(sent_html[name])) == []


def test_every_allowance_is_still_needed(sent_html: dict[str, str]) -> None:
    """An allowance no finding uses any more is stale: remove it."""
    used = {
        (client, str(feature["title"]))
        for html in sent_html.values()
        for client, features in unsupported(html).items()
        for feature in features
    }
    for title, (clients, reason) in ALLOWED.items():
        assert reason
        assert clients <= EVERY, title
        assert {c for c, t in used if t == title} == clients, title


def test_heights_are_only_auto(sent_html: dict[str, str]) -> None:
    """What makes Yahoo's `height` → `min-height` harmless (see ALLOWED); Outlook's
    conditional comments, which only Outlook reads, left out."""
    for html in sent_html.values():
        seen = re.sub(r"<!--.*?-->", "", html, flags=re.DOTALL)
        values = re.findall(r"(?<![-\w])height\s*:\s*([^;\"}]+)", seen)
        assert values and {v.strip() for v in values} == {"auto"}, values


def test_the_page_colour_is_on_the_wrapper_too(sent_html: dict[str, str]) -> None:
    """Clients that drop <body> keep the page colour (see ALLOWED)."""
    for html in sent_html.values():
        body = re.search(r'<body[^>]*style="[^"]*background-color:(#\w+)', html)
        page = re.search(r'<div class="sp-page"[^>]*style="[^"]*background-color:(#\w+)', html)
        assert body and page and body.group(1) == page.group(1)


def test_the_check_can_fail() -> None:
    """A fixed-position block and a video: unsupported in Gmail and Outlook, both reported."""
    found = unsupported(
        '<html><body><div style="position:fixed">x</div><video src="a.mp4"></video></body></html>'
    )
    problems = defects(found)
    assert any(p.startswith("gmail.desktop-webmail: position") for p in problems), problems
    assert any(p.startswith("outlook.windows: <video> element") for p in problems), problems


def test_every_style_element_fits_gmail(sent_html: dict[str, str]) -> None:
    """Gmail on the web drops a <style> over 16 KB whole (caniemail: <style>), and with it
    the dark palette."""
    for html in sent_html.values():
        styles = re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.DOTALL)
        assert styles and max(len(s.encode()) for s in styles) < 16 * 1024
