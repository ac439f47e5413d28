"""Rendering: the default template through the real MJML engine, and the text part."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seriespub.config import SeriesSettings
from seriespub.errors import InputError
from seriespub.models import DraftStatus, Instalment, Subscriber
from seriespub.render.email import RenderInputs, prepare
from seriespub.render.mjml import compile_mjml
from seriespub.render.text import to_text

SERIES = SeriesSettings(title="Teaming", from_="Ann Author <ann@example.com>",
                        unsubscribe_url="https://example.com/u?t={token}")
BODY = """Hello {{ name | default("reader") }} from {{ organisation }},

Some **bold** text and a [link](https://example.com/a).

## A heading

> A quote worth reading.

1. first
2. second

| a | b |
|---|---|
| 1 | 2 |
"""


def instalment(number: int = 1, body: str = BODY, title: str = "The first part") -> Instalment:
    return Instalment(number=number, title=title, subject=f"Part {number}", body=body,
                      path=Path(f"drafts/{number:02d}-x.md"), status=DraftStatus.READY,
                      preheader="Inbox preview line")


def test_default_template_renders_a_complete_responsive_email() -> None:
    nxt = instalment(2, "Next body", "What comes next")
    message = prepare(instalment(), RenderInputs(SERIES, b"k", nxt))
    r = message.recipient(Subscriber("bo@example.com", "Bo <Admin> & Co",
                                     fields={"organisation": "NHS"}))
    html = message.html_for(r)
    assert html.lower().startswith("<!doctype html>")
    assert "<title>Part 1</title>" in html
    assert "@media only screen and (min-width:480px)" in html          # responsive columns
    assert "prefers-color-scheme: dark" in html                        # dark mode
    assert re.search(r'<div style="display:none;[^"]*">Inbox preview line', html)  # preheader
    assert "TEAMING · PART 1" in html
    assert "The first part" in html
    assert "Next week: <strong>What comes next</strong>" in html
    # CSS inlined by the engine, not left in a <style> block only:
    assert re.search(r'<h2 style="[^"]*font-size: 23px', html)
    assert re.search(r'<a href="https://example.com/a" style="[^"]*color: #1a5fb4', html)
    # Per-recipient values filled in and HTML-escaped; no slot token left:
    assert "Hello Bo &lt;Admin&gt; &amp; Co from NHS" in html
    assert "%%SP" not in html
    assert 'href="https://example.com/u?t=' in html and ">Unsubscribe</a>" in html


def test_no_teaser_when_the_next_instalment_is_not_drafted() -> None:
    html = prepare(instalment(), RenderInputs(SERIES, b"k")).html.literals[0]
    assert "Next week" not in html


def test_missing_merge_field_uses_its_default() -> None:
    message = prepare(instalment(), RenderInputs(SERIES, b"k"))
    text = message.text_for(message.recipient(Subscriber("x@example.com", "")))
    assert "Hello reader from ," in text


def test_text_part_is_readable_and_numbers_links() -> None:
    text = to_text(BODY)
    assert "Some bold text and a link [1]." in text
    assert "A heading\n---------" in text
    assert "> A quote worth reading." in text
    assert "1. first\n2. second" in text
    assert "a | b\n--+--\n1 | 2" in text              # aligned, header ruled
    assert text.rstrip().endswith("Links:\n[1] https://example.com/a")


def test_text_part_of_message_has_header_teaser_and_unsubscribe() -> None:
    nxt = instalment(2, "x", "What comes next")
    message = prepare(instalment(), RenderInputs(SERIES, b"k", nxt))
    text = message.text_for(message.recipient(Subscriber("x@example.com", "Xi")))
    assert text.startswith("Teaming · Part 1\n\nThe first part\n==============\n")
    assert "Next week: What comes next" in text
    assert re.search(r"Unsubscribe: https://example.com/u\?t=[0-9a-f]{32}", text)


def test_series_template_overrides_the_default(tmp_path: Path) -> None:
    template = tmp_path / "email.mjml"
    template.write_text("<mjml><mj-body><mj-section><mj-column><mj-text>{{ series.title }}: "
                        "{{ content }} {{ subscriber.name }} <a href=\"{{ unsubscribe_url }}\">"
                        "u</a></mj-text></mj-column></mj-section></mj-body></mjml>")
    message = prepare(instalment(body="Hi"), RenderInputs(SERIES, b"k",
                                                          template_path=template))
    html = message.html_for(message.recipient(Subscriber("z@example.com", "Zed")))
    assert "Teaming: <p>Hi</p>" in html and "Zed" in html


def test_template_errors_name_the_file_and_line(tmp_path: Path) -> None:
    template = tmp_path / "email.mjml"
    template.write_text("<mjml>\n{% if %}\n</mjml>")
    with pytest.raises(InputError, match=r"email.mjml:2: template"):
        prepare(instalment(), RenderInputs(SERIES, b"k", template_path=template))


def test_engine_guards_against_its_silent_bugs() -> None:
    with pytest.raises(InputError, match="mj-html-attributes"):
        compile_mjml("<mjml><mj-head><mj-html-attributes/></mj-head><mj-body/></mjml>")
    with pytest.raises(InputError, match="CDATA"):
        compile_mjml("<mjml><mj-body><mj-text><![CDATA[x]]></mj-text></mj-body></mjml>")
    html = compile_mjml('<mjml><mj-body><mj-section><mj-column><mj-image src="https://e.com/a.png"'
                        ' /><mj-text><p style="color:red;\nfont-size:20px">x</p></mj-text>'
                        "</mj-column></mj-section></mj-body></mjml>")
    assert 'alt=""' in html                              # images always get alt
    assert "\\n" not in html and "font-size:20px" in html  # newline in attribute kept safe
