"""The plain-text part: footnotes as footnotes, aligned tables, links numbered in linear time."""

from __future__ import annotations

import pytest

from seriespub.render.text import WIDTH, _Links, to_text


def test_footnotes_become_numbered_notes_at_the_end() -> None:
    text = to_text(
        "A claim[^src] and a second[^1], the first again[^src].\n\n"
        "[^1]: Second note, with a [link](https://example.com/n).\n"
        "[^src]: The source: a long note that has to wrap because it keeps going "
        "well past the width of a line.\n\nAfter the notes, [home](https://e.com).\n"
    )
    assert text.startswith(
        "A claim¹ and a second², the first again¹.\n\nAfter the notes, home [2].\n\nNotes:\n"
    )
    notes = text.split("Notes:\n")[1].split("\n\nLinks:")[0]
    assert notes == (
        "¹ The source: a long note that has to wrap because it keeps going well\n"
        "  past the width of a line.\n"
        "² Second note, with a link [1]."
    )
    assert text.endswith("Links:\n[1] https://example.com/n\n[2] https://e.com\n")
    assert "[^" not in text


def test_a_note_numbered_past_nine_and_one_never_referenced() -> None:
    refs = "".join(f"w{i}[^{i}] " for i in range(1, 12))
    defs = "".join(f"[^{i}]: note {i}\n" for i in range(1, 12)) + "[^spare]: unused\n"
    text = to_text(refs + "\n\n" + defs)
    assert "w10¹⁰ w11¹¹" in text
    assert "¹¹ note 11\n¹² unused" in text


def test_tables_are_aligned_by_column() -> None:
    text = to_text(
        "| Name | Count | Where |\n|:--|--:|:-:|\n| Ann | 1 | Leeds |\n"
        "| Bartholomew | 1234 | 東京 |\n| Cy |\n"
    )
    assert (
        "Name        | Count | Where\n"
        "------------+-------+------\n"
        "Ann         |     1 | Leeds\n"
        "Bartholomew |  1234 | 東京\n"
        "Cy          |       |"
    ) in text


def test_a_table_too_wide_for_the_line_becomes_one_block_per_row() -> None:
    head = "| Organisation | Responsibility | Contact person | Telephone number |"
    row1 = "| Northern Health Trust | Community services | Dr. Amelia Okonkwo | 0113 496 0000 |"
    row2 = "| Leeds Council | Housing | | 0113 496 0001 |"
    text = to_text(f"{head}\n|---|---|---|---|\n{row1}\n{row2}\n")
    assert text == (
        "Organisation: Northern Health Trust\nResponsibility: Community services\n"
        "Contact person: Dr. Amelia Okonkwo\nTelephone number: 0113 496 0000\n\n"
        "Organisation: Leeds Council\nResponsibility: Housing\n"
        "Telephone number: 0113 496 0001\n"
    )
    assert max(len(line) for line in text.splitlines()) <= WIDTH


def test_link_numbering_is_linear() -> None:
    """A list lookup per link made 100,000 links take 106 s; a dict takes milliseconds."""
    links = _Links()
    urls = [f"https://example.com/{i}" for i in range(100_000)]
    assert [links.number(u) for u in urls] == list(range(1, 100_001))
    assert [links.number(u) for u in reversed(urls)] == list(range(100_000, 0, -1))


@pytest.mark.slow
def test_a_text_part_with_100k_links_renders() -> None:
    body = " ".join(f"[l{i}](https://example.com/{i % 50_000})" for i in range(100_000))
    text = to_text(body)
    assert "l99999 [50000]" in text and "l50000 [1]" in text
    assert text.endswith("[50000] https://example.com/49999\n")


def test_an_image_is_listed_with_its_url_as_the_html_part_links_it() -> None:
    """The HTML part holds the image's URL; a text part without it differs in its links
    (rspamd's URI_COUNT_ODD scored the rich instalment 1 point for it)."""
    text = to_text(
        "See ![the table](https://example.com/t.jpg) and [the notes](https://example.com/n).\n\n"
        "![](https://example.com/t.jpg)\n\n[![cover](https://example.com/c.png)](https://e.com)\n"
    )
    assert text.startswith(
        "See [image: the table] [1] and the notes [2].\n\n[image] [1]\n\n[image: cover] [3] [4]\n\n"
    )
    assert text.endswith(
        "Links:\n[1] https://example.com/t.jpg\n[2] https://example.com/n\n"
        "[3] https://example.com/c.png\n[4] https://e.com\n"
    )


def test_a_non_ascii_link_is_listed_as_the_html_part_links_it() -> None:
    """The HTML part names an international host by its A-labels and percent-encodes the
    rest (what every mail client follows); the text part lists the same URL, not another."""
    from seriespub.render.markdown import to_html

    source = (
        "[Bücher](https://bücher.example/reihe-ü/?q=ä#s) "
        "![Umschlag](https://bücher.example/u.png) [Anna](mailto:anna@bücher.example)\n"
    )
    html = to_html(source)
    text = to_text(source)
    listed = [line.split("] ", 1)[1] for line in text.splitlines() if line.startswith("[")]
    assert listed == [
        "https://xn--bcher-kva.example/reihe-%C3%BC/?q=%C3%A4#s",
        "https://xn--bcher-kva.example/u.png",
        "mailto:anna@xn--bcher-kva.example",
    ]
    for url in listed:
        assert f'"{url}"' in html


def test_a_link_within_the_part_points_at_its_page_or_is_left_as_its_words() -> None:
    """`[below](#a-heading)` cannot be followed in a text part: with the part's page on the
    web it is listed as the page's URL and the fragment; without one, its words stay."""
    source = "## A heading\n\nSee [below](#a-heading) and [the site](https://example.org/).\n"
    alone = to_text(source)
    assert "See below and the site [1]." in alone
    assert "#a-heading" not in alone
    page = "https://letters.example/series/01-part/"
    with_page = to_text(source, page=page)
    assert "See below [1] and the site [2]." in with_page
    assert f"[1] {page}#a-heading" in with_page.splitlines()
