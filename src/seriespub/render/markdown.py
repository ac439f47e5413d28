"""Markdown → HTML and a node tree, with merge tags kept as slots.

The parser is pulldown-cmark (PyPI `pyromark`): CommonMark plus tables, footnotes,
strikethrough and smart punctuation, about 100× faster than a pure-Python parser, which
keeps a 3,000-word instalment well inside the render budget.

Authors write `{{ name }}` or `{{ name | default("reader") }}` in a draft; each tag becomes a
slot token (`%%SPn%%`) before parsing, so the parser and the MJML engine pass it through
untouched and the value is filled in per recipient afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from seriespub.message import Slot

MERGE_TAG = re.compile(
    r"\{\{\s*(?:subscriber\.)?([A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?:\|\s*default\(\s*(?P<q>['\"])(?P<default>.*?)(?P=q)\s*\)\s*)?\}\}")


class SlotTable:
    """The slots of one instalment; the same field and default share one slot."""

    def __init__(self) -> None:
        self.slots: list[Slot] = []

    def token(self, field: str, default: str = "") -> str:
        slot = Slot(field, default)
        if slot not in self.slots:
            self.slots.append(slot)
        return f"%%SP{self.slots.index(slot)}%%"

    def replace_tags(self, text: str) -> str:
        """Turn every merge tag in `text` into its slot token."""
        return MERGE_TAG.sub(lambda m: self.token(m.group(1), m.group("default") or ""), text)


def _options() -> Any:
    import pyromark

    o = pyromark.Options
    return o.ENABLE_TABLES | o.ENABLE_FOOTNOTES | o.ENABLE_STRIKETHROUGH | \
        o.ENABLE_SMART_PUNCTUATION


def to_html(markdown: str) -> str:
    """Render Markdown to an HTML fragment (XHTML-style void tags, as MJML wants).

    Content tables get a class so the template's table styles never reach MJML's own
    layout tables.
    """
    import pyromark

    html: str = pyromark.html(markdown, options=_options())
    return html.replace("<table>", '<table class="sp-table">')


@dataclass
class Node:
    """One element of the parsed document: `kind` is pulldown-cmark's tag name."""

    kind: str
    value: Any = None
    start: int = 0                        # offset in the source, where known
    children: list[Node] = field(default_factory=list)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def text(self) -> str:
        """The plain text inside this node (image alt text, link labels)."""
        if self.kind in ("Text", "Code"):
            return str(self.value)
        if self.kind in ("SoftBreak", "HardBreak"):
            return " "
        return "".join(child.text() for child in self.children)


def parse(markdown: str, *, offsets: bool = False) -> Node:
    """The document as a tree of pulldown-cmark events (Start … End become children).

    With `offsets`, each node knows where it starts in the source (for file:line findings).
    """
    import pyromark

    if offsets:
        ranged = pyromark.events_with_range(markdown, options=_options())
        return _tree((event, where["start"]) for event, where in ranged)
    return _tree((event, 0) for event in pyromark.events(markdown, options=_options()))


def _tree(events: Iterable[tuple[Any, int]]) -> Node:
    root = Node("Document")
    stack = [root]
    for event, start in events:
        if isinstance(event, str):                       # SoftBreak, HardBreak, Rule
            stack[-1].children.append(Node(event, start=start))
            continue
        (what, payload), = event.items()
        if what == "End":
            stack.pop()
        elif what == "Start":
            kind, value = _tag(payload)
            node = Node(kind, value, start)
            stack[-1].children.append(node)
            stack.append(node)
        else:                                            # Text, Code, Html, Footnote…
            stack[-1].children.append(Node(what, payload, start))
    return root


def _tag(payload: Any) -> tuple[str, Any]:
    if isinstance(payload, str):
        return payload, None
    (kind, value), = payload.items()
    return str(kind), value
