"""Markdown → the plain-text part: readable headings, lists, quotes and aligned tables;
links and web images as [n] references and footnotes as superscript numbers, each listed at
the end, so the text part carries every URL the HTML part does.

Guarantees: linear in the size of the document (links and notes are numbered through
dicts), lines wrapped at WIDTH columns (a wide character takes two) except words longer
than it (URLs stay whole); Chinese and Japanese break between characters, never before
closing punctuation, so no line of text without spaces runs past the width.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field

from seriespub.render.markdown import Node, ascii_url, parse
from seriespub.textwidth import display_width

WIDTH = 72
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass
class _Links:
    """Links numbered in order of first use; footnotes likewise, by label."""

    urls: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    note_text: dict[str, str] = field(default_factory=dict)
    page: str | None = None  # the part's page on the web: where `#fragment` links lead

    def number(self, url: str) -> int:
        return self.urls.setdefault(url, len(self.urls) + 1)

    def note(self, label: str) -> str:
        return str(self.notes.setdefault(label, len(self.notes) + 1)).translate(_SUPERSCRIPT)


def to_text(markdown: str, page: str | None = None) -> str:
    """Plain text for the text/plain part, with its notes and numbered links at the end.
    A link within the part (`#a-heading`) leads to `page` (the part's page on the web) and
    the fragment; without one it keeps only its words: a text part has no anchors."""
    links = _Links(page=page)
    text = _join(parse(markdown).children, links)
    notes = _notes(links)
    if notes:
        text += "\n\nNotes:\n" + notes
    if links.urls:
        refs = "\n".join(f"[{i}] {url}" for url, i in links.urls.items())
        text += "\n\nLinks:\n" + refs
    return text.strip() + "\n"


def _notes(links: _Links) -> str:
    """Each referenced note, in the order of its first reference; then unreferenced ones."""
    for label in links.note_text:
        links.note(label)
    out = []
    for label, number in sorted(links.notes.items(), key=lambda item: item[1]):
        marker = str(number).translate(_SUPERSCRIPT) + " "
        body = links.note_text.get(label, "")
        lines = body.splitlines() or [""]
        pad = " " * len(marker)
        out.append("\n".join([marker + lines[0], *(pad + ln if ln else ln for ln in lines[1:])]))
    return "\n".join(out)


def _join(nodes: list[Node], links: _Links) -> str:
    return "\n\n".join(b for b in (_block(n, links) for n in nodes) if b.strip())


def _block(node: Node, links: _Links) -> str:
    kind = node.kind
    if kind == "Heading":
        title = _inline(node, links)
        rule = {"H1": "=", "H2": "-"}.get(str(node.value.get("level")))
        return f"{title}\n{rule * min(display_width(title), WIDTH)}" if rule else title.upper()
    if kind == "Paragraph":
        return _wrap(_inline(node, links))
    if kind == "List":
        return _list(node, links)
    if kind == "BlockQuote":
        inner = _join(node.children, links)
        return "\n".join(f"> {line}".rstrip() for line in inner.splitlines())
    if kind == "CodeBlock":
        return textwrap.indent("".join(c.text() for c in node.children).rstrip("\n"), "    ")
    if kind == "Rule":
        return "-" * 24
    if kind == "Table":
        return _table(node, links)
    if kind == "HtmlBlock":
        return ""  # raw HTML has no faithful plain-text form
    if kind == "FootnoteDefinition":  # listed under "Notes:" at the end
        links.note_text[str(node.value)] = _join(node.children, links).strip()
        return ""
    return _wrap(_inline(node, links)) if _is_inline(node) else _join(node.children, links)


def _list(node: Node, links: _Links) -> str:
    start = node.value if isinstance(node.value, int) else None
    items = []
    for i, item in enumerate(node.children):
        marker = f"{start + i}. " if start is not None else "- "
        body = _item_body(item, links)
        lines = body.splitlines() or [""]
        pad = " " * len(marker)
        items.append("\n".join([marker + lines[0], *(pad + ln if ln else ln for ln in lines[1:])]))
    return "\n".join(items)


def _item_body(item: Node, links: _Links) -> str:
    """Tight list items hold inline nodes directly; loose ones hold paragraphs."""
    parts: list[str] = []
    inline: list[Node] = []
    for child in item.children:
        if _is_inline(child):
            inline.append(child)
            continue
        if inline:
            parts.append(_wrap(_inline(Node("Span", children=inline), links)))
            inline = []
        parts.append(_block(child, links))
    if inline:
        parts.append(_wrap(_inline(Node("Span", children=inline), links)))
    return "\n".join(p for p in parts if p.strip())


_INLINE = {
    "Text",
    "Code",
    "SoftBreak",
    "HardBreak",
    "Emphasis",
    "Strong",
    "Strikethrough",
    "Link",
    "Image",
    "Html",
    "InlineHtml",
    "FootnoteReference",
    "Span",
}


def _is_inline(node: Node) -> bool:
    return node.kind in _INLINE


def _inline(node: Node, links: _Links) -> str:
    return "".join(_inline_node(child, links) for child in node.children).strip()


def _inline_node(node: Node, links: _Links) -> str:
    kind = node.kind
    if kind in ("Text", "Code"):
        return str(node.value)
    if kind == "SoftBreak":
        return " "
    if kind == "HardBreak":
        return "\n"
    if kind == "Image":
        alt = node.text()
        label = f"[image: {alt}]" if alt else "[image]"
        src = str(node.value.get("dest_url", "")) if isinstance(node.value, dict) else ""
        # Listed like a link: the HTML part holds this URL, and a text part that lacks one
        # of its URLs differs from it (rspamd scores that, URI_COUNT_ODD).
        if not src.startswith(("https://", "http://")):
            return label
        return f"{label} [{links.number(ascii_url(src))}]"
    if kind == "Link":
        label = _inline(node, links)
        href = str(node.value.get("dest_url", ""))
        if href.startswith("#"):
            if links.page is None:
                return label
            href = links.page + href
        url = ascii_url(href)  # as the HTML part links it
        if label in (href, href.removeprefix("mailto:")) and url == href:
            return label
        return f"{label} [{links.number(url)}]"
    if kind in ("Html", "InlineHtml"):
        return ""
    if kind == "FootnoteReference":
        return links.note(str(node.value))
    return "".join(_inline_node(child, links) for child in node.children)


def _table(node: Node, links: _Links) -> str:
    """Columns padded to their width; a table too wide for WIDTH becomes one block per row,
    each cell on its own line after its header."""
    rows = [
        [_inline(cell, links).replace("\n", " ") for cell in row.children] for row in node.children
    ]
    count = max((len(r) for r in rows), default=0)
    rows = [r + [""] * (count - len(r)) for r in rows]
    widths = [max(display_width(r[i]) for r in rows) for i in range(count)]
    if not rows or sum(widths) + 3 * (count - 1) > WIDTH:
        return _records(rows)
    aligns = list(node.value) if isinstance(node.value, list | tuple) else []
    aligns += ["None"] * (count - len(aligns))
    lines = [
        " | ".join(_pad(cell, w, a) for cell, w, a in zip(r, widths, aligns, strict=True)).rstrip()
        for r in rows
    ]
    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([lines[0], rule, *lines[1:]])


def _records(rows: list[list[str]]) -> str:
    head, *body = rows
    blocks = [
        "\n".join(_wrap(f"{h}: {c}" if h else c) for h, c in zip(head, row, strict=True) if c)
        for row in body
    ]
    return "\n\n".join(b for b in blocks if b) or " | ".join(head)


def _pad(cell: str, width: int, align: str) -> str:
    space = width - display_width(cell)
    if align == "Right":
        return " " * space + cell
    if align == "Center":
        return " " * (space // 2) + cell + " " * (space - space // 2)
    return cell + " " * space


def _wrap(text: str) -> str:
    return "\n".join(_fill(line) for line in text.split("\n"))


def _fill(line: str) -> str:
    """Greedy word wrap at WIDTH columns; long words (URLs) stay whole. Chinese and Japanese,
    written without spaces, may break between characters. ~10× textwrap's speed."""
    if line.isascii():
        return _fill_words(line)
    out: list[str] = []
    current: list[str] = []
    size = 0
    for glue, piece in _pieces(line):
        width = len(piece) if piece.isascii() else display_width(piece)
        if current and size + len(glue) + width > WIDTH:
            out.append("".join(current))
            current, size = [], 0
        if current:
            current.append(glue)
            size += len(glue)
        current.append(piece)
        size += width
    if current:
        out.append("".join(current))
    return "\n".join(out)


def _fill_words(line: str) -> str:
    """The same for a line of ASCII, where a character is a column: the common case, fast."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for word in line.split():
        if current and size + 1 + len(word) > WIDTH:
            out.append(" ".join(current))
            current, size = [], 0
        size += len(word) + (1 if current else 0)
        current.append(word)
    if current:
        out.append(" ".join(current))
    return "\n".join(out)


def _pieces(line: str) -> Iterator[tuple[str, str]]:
    """(glue, piece): the words of `line` (glue " "); a word with CJK characters is cut
    where a line may break inside it (glue ""), so it never runs past WIDTH unbroken."""
    for word in line.split():
        if word.isascii() or "://" in word:
            yield " ", word
            continue
        glue = " "
        for piece in _cjk_pieces(word):
            yield glue, piece
            glue = ""


# Kinsoku: a line never starts with closing punctuation nor ends with opening punctuation.
_NO_LINE_START = frozenset(
    "、。，．・：；？！ー）」』】〕〉》］｝〙〗ゝゞヽヾぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ,.:;!?)]}%"
)
_NO_LINE_END = frozenset("（「『【〔〈《［｛〘〖([{")


def _cjk_pieces(word: str) -> Iterator[str]:
    start = 0
    for at in range(1, len(word)):
        before, here = word[at - 1], word[at]
        if (
            (_is_cjk(before) or _is_cjk(here))
            and here not in _NO_LINE_START
            and before not in _NO_LINE_END
        ):
            yield word[start:at]
            start = at
    yield word[start:]


def _is_cjk(ch: str) -> bool:
    """Scripts written without spaces between words: a line may break beside any of them."""
    code = ord(ch)
    return (
        0x3000 <= code <= 0x30FF  # CJK punctuation, hiragana, katakana
        or 0x31F0 <= code <= 0x31FF
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFF60  # full-width forms
        or 0x20000 <= code <= 0x3FFFF
    )
