"""Markdown → the plain-text part: readable headings, lists and quotes; links as [n] references."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

from markdown_it.tree import SyntaxTreeNode

from seriespub.render.markdown import parser

WIDTH = 72
_TAG = re.compile(r"<[^>]+>")


@dataclass
class _Links:
    urls: list[str] = field(default_factory=list)

    def number(self, url: str) -> int:
        if url not in self.urls:
            self.urls.append(url)
        return self.urls.index(url) + 1


def to_text(markdown: str) -> str:
    """Plain text for the text/plain part, with a numbered list of links at the end."""
    tree = SyntaxTreeNode(parser().parse(markdown))
    links = _Links()
    blocks = _blocks(tree.children, links)
    text = "\n\n".join(b for b in blocks if b.strip())
    if links.urls:
        refs = "\n".join(f"[{i}] {url}" for i, url in enumerate(links.urls, 1))
        text += "\n\nLinks:\n" + refs
    return text.strip() + "\n"


def _blocks(nodes: list[SyntaxTreeNode], links: _Links) -> list[str]:
    return [_block(node, links) for node in nodes]


def _block(node: SyntaxTreeNode, links: _Links) -> str:
    kind = node.type
    if kind == "heading":
        title = _inline(node, links)
        rule = {"h1": "=", "h2": "-"}.get(node.tag)
        return f"{title}\n{rule * min(len(title), WIDTH)}" if rule else title.upper()
    if kind == "paragraph":
        return _wrap(_inline(node, links))
    if kind in ("bullet_list", "ordered_list"):
        return _list(node, links)
    if kind == "blockquote":
        inner = "\n\n".join(_blocks(node.children, links))
        return "\n".join(f"> {line}".rstrip() for line in inner.splitlines())
    if kind in ("fence", "code_block"):
        return textwrap.indent(node.content.rstrip("\n"), "    ")
    if kind == "hr":
        return "-" * 24
    if kind == "table":
        return _table(node, links)
    if kind == "html_block":
        return _TAG.sub("", node.content).strip()
    if kind == "footnote_block":
        notes = [f"[^{i}] " + " ".join(_blocks(fn.children, links)).strip()
                 for i, fn in enumerate(node.children, 1)]
        return "Notes:\n" + "\n".join(notes)
    return "\n\n".join(_blocks(node.children, links))


def _list(node: SyntaxTreeNode, links: _Links) -> str:
    start = int(str(node.attrs.get("start", 1))) if node.type == "ordered_list" else 1
    items = []
    for i, item in enumerate(node.children):
        marker = f"{start + i}. " if node.type == "ordered_list" else "- "
        body = "\n".join(_blocks(item.children, links)).strip()
        lines = body.splitlines() or [""]
        pad = " " * len(marker)
        items.append("\n".join([marker + lines[0], *(pad + ln if ln else ln for ln in lines[1:])]))
    return "\n".join(items)


def _table(node: SyntaxTreeNode, links: _Links) -> str:
    rows = []
    for section in node.children:
        for row in section.children:
            rows.append(" | ".join(_inline(cell, links) for cell in row.children))
    return "\n".join(rows)


def _inline(node: SyntaxTreeNode, links: _Links) -> str:
    parts: list[str] = []
    for child in node.children:
        parts.append(_inline_node(child, links))
    return "".join(parts).strip()


def _inline_node(node: SyntaxTreeNode, links: _Links) -> str:
    kind = node.type
    if kind == "text":
        return node.content
    if kind == "code_inline":
        return node.content
    if kind == "softbreak":
        return " "
    if kind == "hardbreak":
        return "\n"
    if kind == "image":
        alt = node.content or str(node.attrs.get("alt", ""))
        return f"[image: {alt}]" if alt else "[image]"
    if kind == "link":
        label = _inline(node, links)
        href = str(node.attrs.get("href", ""))
        if label == href or f"mailto:{label}" == href:
            return label
        return f"{label} [{links.number(href)}]"
    if kind == "html_inline":
        return ""
    if kind == "footnote_ref":
        return f"[^{int(node.meta.get('id', 0)) + 1}]"
    if node.children:
        return _inline(node, links) if kind != "inline" else "".join(
            _inline_node(c, links) for c in node.children)
    return node.content


def _wrap(text: str) -> str:
    return "\n".join(textwrap.fill(line, WIDTH, break_long_words=False,
                                   break_on_hyphens=False) for line in text.split("\n"))
