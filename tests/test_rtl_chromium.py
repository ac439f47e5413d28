"""Where Chromium draws the kicker and the "next" line of a right-to-left email: the series
title (Hebrew) to the right of "Part 1", the next part's title to the left of "Next time:",
as a right-to-left reader reads them (left to right, they came out the other way round)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cdp import Browser
from mailcheck import html_of
from test_language_of_parts import HEBREW_TITLE, published, series_in

pytestmark = pytest.mark.slow
chromium = pytest.importorskip("test_chromium", reason="headless Chromium is not available")

BOXES = """
(() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.right]; };
  const spans = [...document.querySelectorAll("span")];
  const title = spans.find((s) => s.textContent === %r && s.closest(".sp-head"));
  const part = spans.find((s) => s.textContent === "Part 1" && s.closest(".sp-head"));
  const label = spans.find((s) => s.textContent === "Next time:");
  const next = document.querySelector("strong[dir=auto]");
  return [box(title), box(part), box(label), box(next)];
})()
"""


def test_the_kicker_and_next_line_read_right_to_left(
    make_series: Callable[..., Path], cli: Callable[..., object], tmp_path: Path
) -> None:
    published(series_in(make_series, "he", HEBREW_TITLE), cli)
    outbox = tmp_path / "series" / ".seriespub" / "outbox" / "001"
    page = tmp_path / "part-1.html"
    page.write_text(html_of(next(outbox.glob("*.eml"))), encoding="utf-8")
    assert chromium.CHROMIUM is not None
    with Browser(chromium.CHROMIUM) as browser:
        browser.viewport(600)
        browser.open(page)
        title, part, label, following = browser.evaluate(BOXES % HEBREW_TITLE)
    assert title[0] >= part[1], (title, part)  # the series title right of "Part 1"
    assert label[0] >= following[1], (label, following)  # "Next time:" right of the title
