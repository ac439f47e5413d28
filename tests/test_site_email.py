"""Emails with `[site]`: "View in browser" and "Previously in this series", in both parts."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from seriespub import publishing
from seriespub.models import Subscriber
from seriespub.series import find_series

BASE = "https://example.org/teaming/"


def parts_of(root: Path, number: int) -> tuple[str, str]:
    s = find_series(explicit=root)
    drafts = publishing.drafts_of(s)
    message = publishing.render(s, drafts, drafts.instalments[number - 1])
    recipient = message.recipient(Subscriber("reader0001@example.com", "Reader 1"))
    return message.html_for(recipient), message.text_for(recipient)


def test_part_two_links_to_its_page_and_to_part_one(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=3, extra_toml=f'[site]\nbase_url = "{BASE}"\n')
    html, text = parts_of(root, 2)
    assert f'<a href="{BASE}02-part-2/"' in html and "View in browser</a>" in html
    assert "Previously in this series:" in html
    assert re.search(
        rf'<a href="{BASE}01-part-1/"[^>]*>Part 1: <span dir="auto">Part 1 title</span></a>', html
    )
    assert f"{BASE}03-part-3/" not in html  # not the later parts
    assert f"View in browser: {BASE}02-part-2/\n" in text
    assert f"Previously in this series:\n- Part 1: Part 1 title\n  {BASE}01-part-1/\n" in text


def test_part_one_has_no_previously(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=2, extra_toml=f'[site]\nbase_url = "{BASE}"\n')
    html, text = parts_of(root, 1)
    assert f"{BASE}01-part-1/" in html and f"{BASE}01-part-1/" in text
    assert "Previously" not in html and "Previously" not in text


def test_without_site_there_are_no_site_links(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=2)
    html, text = parts_of(root, 2)
    for part in (html, text):
        assert "View in browser" not in part and "Previously" not in part


def test_links_follow_the_published_slug_and_the_language(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=2, extra_toml=f'[site]\nbase_url = "{BASE}"\n')
    toml = root / "seriespub.toml"
    toml.write_text(toml.read_text().replace("[series]\n", '[series]\nlanguage = "de"\n'))
    (root / ".seriespub").mkdir(exist_ok=True)
    (root / ".seriespub" / "site.json").write_text('{"slugs": {"1": "first-name"}}')
    html, text = parts_of(root, 2)
    assert f"{BASE}01-first-name/" in html and f"{BASE}01-first-name/" in text
    assert "Im Browser ansehen" in html and "Bisher in dieser Serie:" in text
