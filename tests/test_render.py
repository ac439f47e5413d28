"""Rendering: the default template through the real MJML engine, and the text part."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from seriespub.config import SeriesSettings
from seriespub.errors import InputError
from seriespub.models import DraftStatus, Instalment, Subscriber
from seriespub.render import markdown
from seriespub.render.email import RenderInputs, prepare
from seriespub.render.mjml import compile_mjml
from seriespub.render.text import to_text

SERIES = SeriesSettings(
    title="Teaming",
    from_="Ann Author <ann@example.com>",
    unsubscribe_url="https://example.com/u?t={token}",
)
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
    return Instalment(
        number=number,
        title=title,
        subject=f"Part {number}",
        body=body,
        path=Path(f"drafts/{number:02d}-x.md"),
        status=DraftStatus.READY,
        preheader="Inbox preview line",
    )


def test_default_template_renders_a_complete_responsive_email() -> None:
    nxt = instalment(2, "Next body", "What comes next")
    message = prepare(instalment(), RenderInputs(SERIES, b"k", nxt))
    r = message.recipient(
        Subscriber("bo@example.com", "Bo <Admin> & Co", fields={"organisation": "NHS"})
    )
    html = message.html_for(r)
    assert html.lower().startswith("<!doctype html>")
    assert "<title>Part 1</title>" in html
    assert "@media only screen and (min-width:480px)" in html  # responsive columns
    assert "prefers-color-scheme: dark" in html  # dark mode
    assert 'class="sp-preheader"' in html  # preheader
    assert re.search(
        r'text-transform:uppercase;[^"]*"><span dir="auto">Teaming</span> · Part 1<', html
    )
    assert "The first part" in html
    assert 'Next time: <strong dir="auto">What comes next</strong>' in html  # no [schedule]
    # CSS inlined by the engine, not left in a <style> block only:
    assert re.search(r'<h2 [^>]*style="[^"]*font-size: 23px', html)
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
    assert "a | b\n--+--\n1 | 2" in text  # aligned, header ruled
    assert text.rstrip().endswith("Links:\n[1] https://example.com/a")


def test_text_part_of_message_has_header_teaser_and_unsubscribe() -> None:
    nxt = instalment(2, "x", "What comes next")
    message = prepare(instalment(), RenderInputs(SERIES, b"k", nxt))
    text = message.text_for(message.recipient(Subscriber("x@example.com", "Xi")))
    assert text.startswith("Teaming · Part 1\n\nThe first part\n==============\n")
    assert "Next time: What comes next" in text
    assert re.search(r"Unsubscribe: https://example.com/u\?t=[0-9a-f]{32}", text)


def test_series_template_overrides_the_default(tmp_path: Path) -> None:
    template = tmp_path / "email.mjml"
    template.write_text(
        "<mjml><mj-body><mj-section><mj-column><mj-text>{{ series.title }}: "
        '{{ content }} {{ subscriber.name }} <a href="{{ unsubscribe_url }}">'
        "u</a></mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    message = prepare(instalment(body="Hi"), RenderInputs(SERIES, b"k", template_path=template))
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
    html = compile_mjml(
        '<mjml><mj-body><mj-section><mj-column><mj-image src="https://e.com/a.png"'
        ' /><mj-text><p style="color:red;\nfont-size:20px">x</p></mj-text>'
        "</mj-column></mj-section></mj-body></mjml>"
    )
    assert 'alt=""' in html  # images always get alt
    assert "\\n" not in html and "font-size:20px" in html  # newline in attribute kept safe


def html_of(body: str = BODY, **settings: object) -> str:
    inputs = RenderInputs(SeriesSettings(**{**SERIES.__dict__, **settings}), b"k")
    message = prepare(instalment(body=body), inputs)
    return message.html_for(message.recipient(Subscriber("x@example.com", "Xi")))


def test_preheader_is_hidden_without_colour_tricks_and_padded() -> None:
    html = html_of()
    found = re.search(
        r'<div class="sp-preheader" style="([^"]*)" dir="auto">Inbox preview line([^<]*)</div>',
        html,
    )
    assert found, html[:3000]
    style, padding = found.groups()
    for rule in ("display:none", "max-height:0", "overflow:hidden", "mso-hide:all"):
        assert rule in style
    assert "color" not in style and "opacity" not in style and "font-size" not in style
    # &#847;&zwnj;&nbsp; repeated, so the inbox snippet stops after the preheader:
    assert padding.count("\u034f\u200c&nbsp;") >= 50
    assert padding.replace("\u034f\u200c&nbsp;", "") == ""
    assert html.count("Inbox preview line") == 1  # mrml's own white preview is gone


def test_mj_preview_in_a_series_template_is_hidden_the_same_way(tmp_path: Path) -> None:
    template = tmp_path / "email.mjml"
    template.write_text(
        "<mjml><mj-head><mj-preview>{{ instalment.preheader }}</mj-preview>"
        "</mj-head><mj-body><mj-section><mj-column><mj-text>{{ content }}"
        "</mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    message = prepare(instalment(body="Hi"), RenderInputs(SERIES, b"k", template_path=template))
    html = message.html.literals[0]
    found = re.search(
        r'<div class="sp-preheader" style="([^"]*)" dir="auto">Inbox preview line([^<]*)<', html
    )
    assert found and "color" not in found.group(1) and "mso-hide:all" in found.group(1)
    assert found.group(2).count("\u034f\u200c&nbsp;") >= 50


def test_no_preheader_block_without_a_preheader() -> None:
    message = prepare(
        Instalment(
            number=1,
            title="T",
            subject="S",
            body="x",
            path=Path("drafts/01-x.md"),
            status=DraftStatus.READY,
        ),
        RenderInputs(SERIES, b"k"),
    )
    assert "sp-preheader" not in message.html.literals[0]
    assert "display:none" not in message.html.literals[0].split("<body", 1)[1]


def test_kicker_is_uppercased_by_css_not_in_the_text() -> None:
    html = html_of()
    assert "TEAMING" not in html and "PART 1" not in html
    assert re.search(
        r'<div style="[^"]*text-transform:uppercase;[^"]*">'
        r'<span dir="auto">Teaming</span> · Part 1</div>',
        html,
    )


def test_images_get_a_width_for_outlook_and_block_display() -> None:
    html = html_of(
        "![Wide](https://example.com/w.jpg)\n\n"
        '![Small](https://example.com/s.png "A caption width=120")\n\n'
        '![Huge](https://example.com/h.png "width=2000")\n'
    )
    style = "display:block;width:100%;max-width:{}px;height:auto;border:0"
    assert re.search(
        r'<img src="https://example.com/w.jpg" alt="Wide" width="552" '
        r'style="[^"]*"',
        html,
    )
    for name, width in (("w.jpg", 552), ("s.png", 120), ("h.png", 552)):
        tag = re.search(rf'<img src="https://example.com/{re.escape(name)}"[^>]*>', html)
        assert tag and f'width="{width}"' in tag.group()
        compact = tag.group().replace(" ", "").replace(";", "")
        assert style.format(width).replace(" ", "").replace(";", "") in compact, tag.group()
    assert 'title="A caption"' in html and "width=120" not in html


def test_footnotes_gather_at_the_end_and_link_both_ways() -> None:
    html = html_of(
        "First[^a] and second[^b], again[^a].\n\n[^b]: Note B.\n\n"
        "[^a]: Note A, see [x](https://example.com/x).\n\nLast paragraph.\n"
    )
    text_end = html.index("Last paragraph.")
    notes = html.index('class="sp-footnotes"')
    assert text_end < notes  # after the text, not where written
    assert html.index('id="fn-1"') < html.index('id="fn-2"')  # in number order
    assert re.search(r'<a href="#fn-1" id="fnref-1"[^>]*>1</a>', html)
    assert re.search(r'<a href="#fn-1" id="fnref-1-2"[^>]*>1</a>', html)  # ids stay unique
    back = re.search(r'<a [^>]*href="#fnref-1"[^>]*>', html)
    assert back and 'class="sp-fnback"' in back.group()
    assert 'aria-label="Back to the text"' in back.group()
    assert re.search(r'id="fn-1"><p[^>]*><span[^>]*>1\.</span>&nbsp;Note A, see', html)
    assert "footnote-definition" not in html


def test_every_footnote_link_lands_on_a_named_anchor() -> None:
    """Gmail on the web, Outlook for Windows and Yahoo on the web follow `#x` only to an empty
    `<a name="x">`, not to an `id` (caniemail: local anchors, note 7): without one, a footnote
    mark and its way back go nowhere there."""
    html = html_of("First[^a] and again[^a], then[^b].\n\n[^a]: Note A.\n\n[^b]: Note B.\n")
    targets = re.findall(r'href="#([^"]+)"', html)
    assert set(targets) == {"fn-1", "fn-2", "fnref-1", "fnref-2"}
    named = r'<a name="{}"[^>]*></a>'  # empty; the inlined link style paints nothing
    for number in (1, 2):  # just before its note, and before its mark
        assert re.search(
            named.format(f"fn-{number}") + f'<div class="sp-footnote" id="fn-{number}"', html
        )
        mark = f'<sup class="sp-fnref"[^>]*><a href="#fn-{number}" id="fnref-{number}"'
        assert re.search(named.format(f"fnref-{number}") + mark, html)
    assert re.search(named.format("fnref-1-2"), html)  # the second citation of note 1


def test_a_web_page_gets_ids_and_no_named_anchor() -> None:
    """The site's pages: browsers follow ids, and HTML has no `<a>` without href (the W3C's
    checker reports each one; tests/test_validators.py)."""
    source = "First[^a] and again[^a].\n\n[^a]: Note A.\n"
    web = markdown.to_html(source, named_anchors=False)
    assert "<a name=" not in web and "<a name=" in markdown.to_html(source)
    assert {"fn-1", "fnref-1", "fnref-1-2"} <= set(re.findall(r'id="([^"]+)"', web))
    assert set(re.findall(r'href="#([^"]+)"', web)) == {"fn-1", "fnref-1"}


def test_footer_carries_the_postal_address_in_html_and_text() -> None:
    settings = SeriesSettings(
        **{**SERIES.__dict__, "postal_address": "Ann Ltd\n 1 High St, Leeds LS1 1AA\n"}
    )
    message = prepare(instalment(), RenderInputs(settings, b"k"))
    r = message.recipient(Subscriber("x@example.com", "Xi"))
    assert "<br />Ann Ltd, 1 High St, Leeds LS1 1AA</div>" in message.html_for(r).replace(
        "<br>", "<br />"
    )
    assert message.text_for(r).rstrip().endswith("Ann Ltd, 1 High St, Leeds LS1 1AA")
    assert "Ann Ltd" not in html_of()


@pytest.mark.parametrize(
    ("language", "weeks", "label", "footer"),
    [
        ("en", 1, "Next week", "You receive Teaming because you subscribed."),
        ("en", 2, "In two weeks", "Unsubscribe"),
        ("en", 3, "In 3 weeks", "Unsubscribe"),
        ("en", None, "Next time", "Unsubscribe"),
        ("de-CH", 2, "In zwei Wochen", "Sie erhalten Teaming, weil Sie sich angemeldet haben."),
        ("fr", 1, "La semaine prochaine", "Se désabonner"),
        ("es", None, "La próxima vez", "Darse de baja"),
        ("nl", 2, "Over twee weken", "Je ontvangt Teaming omdat je je hebt aangemeld."),
        ("ja", 1, "Next week", "You receive Teaming because you subscribed."),  # falls back
    ],
)
def test_teaser_and_footer_follow_cadence_and_language(
    language: str, weeks: int | None, label: str, footer: str
) -> None:
    settings = SeriesSettings(**{**SERIES.__dict__, "language": language})
    nxt = instalment(2, "x", "What comes next")
    message = prepare(instalment(), RenderInputs(settings, b"k", nxt, every_weeks=weeks))
    r = message.recipient(Subscriber("x@example.com", "Xi"))
    html, text = message.html_for(r), message.text_for(r)
    seen = re.sub(r"<[^>]+>", "", html)  # the words, whatever marks their language
    assert '<strong dir="auto">What comes next</strong>' in html
    assert f"{label}: What comes next" in seen and f"{label}: What comes next" in text
    assert footer in seen and footer in text
    assert f'lang="{language}"' in html


def test_publishing_passes_the_cadence_of_the_calendar(make_series: Callable[..., Path]) -> None:
    from seriespub import publishing
    from seriespub.series import find_series

    for extra, label in (
        ("", "Next time"),
        ("[schedule]\nfirst_release = 2026-12-01T09:00:00\nevery_weeks = 2\n", "In two weeks"),
    ):
        root = make_series(extra_toml=extra, name=f"s{len(extra)}")
        series = find_series(explicit=root)
        drafts = publishing.drafts_of(series)
        message = publishing.render(series, drafts, drafts.instalments[0])
        html = message.html_for(message.recipient(Subscriber("x@example.com", "Xi")))
        assert f'{label}: <strong dir="auto">' in html


def test_a_link_to_an_international_domain_keeps_its_host_as_idna() -> None:
    """pulldown-cmark percent-encodes every non-ASCII byte of a URL, the host's too
    (`https://b%C3%BCcher.example/`), which is no host name: browsers decode it, mail
    clients and link checkers may not. The host goes out as IDNA; the path stays encoded."""
    from seriespub.render.markdown import to_html

    html = to_html("[a](https://bücher.example/päge?q=ü) and <https://Bücher.example/x>")
    assert 'href="https://xn--bcher-kva.example/p%C3%A4ge?q=%C3%BC"' in html
    assert 'href="https://xn--bcher-kva.example/x"' in html
    assert "%C3%BCcher" not in html
    image = to_html("![cover](https://bücher.example/c.png)")
    assert 'src="https://xn--bcher-kva.example/c.png"' in image
    mail = to_html("[c](mailto:ann@bücher.example?subject=hi)")
    assert 'href="mailto:ann@xn--bcher-kva.example?subject=hi"' in mail
    plain = to_html("[b](https://example.com/%C3%BC) [d](https://user@host.example:8080/)")
    assert 'href="https://example.com/%C3%BC"' in plain  # nothing else changes
    assert 'href="https://user@host.example:8080/"' in plain
