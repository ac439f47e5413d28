"""Markdown → the plain-text part: readable headings, lists and quotes; links as [n] references."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from seriespub.render.markdown import Node, parse

WIDTH = 72


@dataclass
class _Links:
    urls: list[str] = field(default_factory=list)

    def number(self, url: str) -> int:
        if url not in self.urls:
            self.urls.append(url)
        return self.urls.index(url) + 1


def to_text(markdown: str) -> str:
    """Plain text for the text/plain part, with a numbered list of links at the end."""
    links = _Links()
    text = _join(parse(markdown).children, links)
    if links.urls:
        refs = "\n".join(f"[{i}] {url}" for i, url in enumerate(links.urls, 1))
        text += "\n\nLinks:\n" + refs
    return text.strip() + "\n"


def _join(nodes: list[Node], links: _Links) -> str:
    return "\n\n".join(b for b in (_block(n, links) for n in nodes) if b.strip())


def _block(node: Node, links: _Links) -> str:
    kind = node.kind
    if kind == "Heading":
        title = _inline(node, links)
        rule = {"H1": "=", "H2": "-"}.get(str(node.value.get("level")))
        return f"{title}\n{rule * min(len(title), WIDTH)}" if rule else title.upper()
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
        return "\n".join(" | ".join(_inline(cell, links) for cell in row.children)
                         for row in node.children)
    if kind == "HtmlBlock":
        return ""      # raw HTML has no faithful plain-text form
    if kind == "FootnoteDefinition":
        return f"[^{node.value}] " + _join(node.children, links).strip()
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


_INLINE = {"Text", "Code", "SoftBreak", "HardBreak", "Emphasis", "Strong", "Strikethrough",
           "Link", "Image", "Html", "InlineHtml", "FootnoteReference", "Span"}


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
        return f"[image: {alt}]" if alt else "[image]"
    if kind == "Link":
        label = _inline(node, links)
        href = str(node.value.get("dest_url", ""))
        if label in (href, href.removeprefix("mailto:")):
            return label
        return f"{label} [{links.number(href)}]"
    if kind in ("Html", "InlineHtml"):
        return ""
    if kind == "FootnoteReference":
        return f"[^{node.value}]"
    return "".join(_inline_node(child, links) for child in node.children)


def _wrap(text: str) -> str:
    return "\n".join(_fill(line) for line in text.split("\n"))


def _fill(line: str) -> str:
    """Greedy word wrap at WIDTH; long words (URLs) stay whole. ~10× textwrap's speed."""
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
