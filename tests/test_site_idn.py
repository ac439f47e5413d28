"""A `[site] base_url` with a non-ASCII host or path: every URL seriespub writes from it (the
email's "view in browser" and "previously" links, the sitemap, the feed's ids and links, each
page's canonical and og:url) has the host in IDNA form and the path percent-encoded
(RFC 3986), as a link checker, a crawler or a mail client that does not decode wants it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from mailcheck import body_text, check_message
from sitehelp import Links

Cli = Callable[..., object]
WRITTEN = "https://bücher.example/reihe-ü/"
ASCII = "https://xn--bcher-kva.example/reihe-%C3%BC/"
ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def test_a_non_ascii_base_url_is_written_as_idna_and_percent_encoded_everywhere(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2, extra_toml=f'[site]\nbase_url = "{WRITTEN}"\n')
    for _ in range(2):
        result = cli(root, "send", "next", "--yes")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    sent = next((root / ".seriespub" / "outbox" / "002").glob("*.eml")).read_bytes()
    message = check_message(sent)
    html, text = body_text(message, "html"), body_text(message, "plain")
    links = re.findall(r'href="(https://[^"]*)"', html)
    site_links = [link for link in links if "example/" in link and "example.com" not in link]
    assert site_links == [f"{ASCII}02-part-2/", f"{ASCII}01-part-1/"], links
    assert f"{ASCII}02-part-2/" in text and "bücher" not in text

    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    site = root / "site"
    sitemap = ET.parse(site / "sitemap.xml").getroot()
    locs = [loc.text for loc in sitemap.iter(f"{SITEMAP}loc")]
    assert locs == [ASCII, f"{ASCII}01-part-1/", f"{ASCII}02-part-2/"], locs
    feed = ET.parse(site / "feed.xml").getroot()
    ids = [i.text for i in feed.iter(f"{ATOM}id")]
    hrefs = [link.get("href") for link in feed.iter(f"{ATOM}link")]
    assert ids == [ASCII, f"{ASCII}01-part-1/", f"{ASCII}02-part-2/"], ids
    assert hrefs == [ASCII, f"{ASCII}feed.xml", f"{ASCII}01-part-1/", f"{ASCII}02-part-2/"]
    page = Links()
    page.feed((site / "01-part-1" / "index.html").read_text(encoding="utf-8"))
    assert page.meta["og:url"] == f"{ASCII}01-part-1/"
    assert f"{ASCII}feed.xml" in page.links
    missing = Links()
    missing.feed((site / "404.html").read_text(encoding="utf-8"))
    assert "/reihe-%C3%BC/" in missing.links  # the 404 page links to the index absolutely


def test_the_written_base_url_loads_as_its_ascii_form() -> None:
    from seriespub.config import parse_settings

    toml = (
        '[series]\ntitle = "T"\nfrom = "a@example.com"\n'
        f'[site]\nbase_url = "{WRITTEN}"\nsubscribe = "https://bücher.example/anmelden?n=ü"\n'
    )
    site = parse_settings(toml, Path("seriespub.toml")).site
    assert site.base_url == ASCII
    assert site.subscribe == "https://xn--bcher-kva.example/anmelden?n=%C3%BC"
    again = toml.replace(WRITTEN, ASCII)  # already ASCII: unchanged, not encoded twice
    assert parse_settings(again, Path("seriespub.toml")).site.base_url == ASCII


def test_site_serve_answers_at_the_encoded_path(make_series: Callable[..., Path], cli: Cli) -> None:
    """The request path a browser sends for `/reihe-ü/` is `/reihe-%C3%BC/`: served there."""
    import http.client

    from seriespub.ops import site
    from seriespub.series import find_series

    root = make_series(drafts=1, extra_toml=f'[site]\nbase_url = "{WRITTEN}"\n')
    for command in (("send", "next", "--yes"), ("site",)):
        result = cli(root, *command)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    server, url = site.serve(find_series(explicit=root), port=0)
    try:
        assert url == f"http://127.0.0.1:{server.port}/reihe-%C3%BC/"
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/reihe-%C3%BC/01-part-1/")
        answer = conn.getresponse()
        assert (answer.status, b"Part 1 title" in answer.read()) == (200, True)
    finally:
        server.stop()


def test_a_non_ascii_host_that_is_no_domain_is_refused_in_one_line(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, extra_toml='[site]\nbase_url = "https://bü..example/"\n')
    result = cli(root, "site")
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1, output  # type: ignore[attr-defined]
    assert "'site.base_url' has a host that is no domain name" in output
    assert "Traceback" not in output
