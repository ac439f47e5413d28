"""Markdown → HTML and a node tree, with merge tags kept as slots.

The parser is pulldown-cmark (PyPI `pyromark`): CommonMark plus tables, footnotes,
strikethrough and smart punctuation, about 100× faster than a pure-Python parser, which
keeps a 3,000-word instalment well inside the render budget.

Authors write `{{ name }}` or `{{ name | default("reader") }}` in a draft; each tag becomes a
slot token (`%%SPn%%`) before parsing, so the parser and the MJML engine pass it through
untouched and the value is filled in per recipient afterwards. Inside inline code and code
blocks a tag is text and stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from seriespub.message import Slot, slot_token
from seriespub.render import footnotes, headings
from seriespub.render.nesting import parser_options

MERGE_TAG = re.compile(
    r"\{\{\s*(?:subscriber\.)?([A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?:\|\s*default\(\s*(?P<q>['\"])(?P<default>.*?)(?P=q)\s*\)\s*)?\}\}"
)


class SlotTable:
    """The slots of one instalment; the same field and default share one slot."""

    def __init__(self) -> None:
        self.slots: list[Slot] = []

    def token(self, field: str, default: str = "") -> str:
        slot = Slot(field, default)
        if slot not in self.slots:
            self.slots.append(slot)
        return slot_token(self.slots.index(slot))

    def replace_tags(self, text: str) -> str:
        """Turn every merge tag of `text` outside code into its slot token."""
        out, at = [], 0
        for m in merge_tags(text):
            out += [text[at : m.start()], self.token(m.group(1), m.group("default") or "")]
            at = m.end()
        return "".join(out) + text[at:] if out else text


def merge_tags(text: str) -> Iterator[re.Match[str]]:
    """The merge tags of a draft's Markdown, outside inline code and code blocks: there
    braces are text, shown as written (a post about templates can show `{{ name }}`)."""
    found = list(MERGE_TAG.finditer(text))
    if not found:
        return
    code = code_spans(text)
    for m in found:
        if not any(start <= m.start() < end for start, end in code):
            yield m


def code_spans(text: str) -> list[tuple[int, int]]:
    """Source ranges of code blocks and inline code in Markdown `text`."""
    import pyromark

    ranges = []
    events: Any = pyromark.events_with_range(text)
    for event, where in events:
        kind = event if isinstance(event, str) else next(iter(event))
        payload = None if isinstance(event, str) else event[kind]
        if kind == "Code" or (kind == "Start" and _is_code_block(payload)):
            ranges.append((where["start"], where["end"]))
    return ranges


def _is_code_block(payload: Any) -> bool:
    return (isinstance(payload, dict) and "CodeBlock" in payload) or payload == "CodeBlock"


def to_html(
    markdown: str, notes: footnotes.NoteWords = footnotes.NoteWords(), named_anchors: bool = True
) -> str:
    """Render Markdown to an HTML fragment (XHTML-style void tags, as MJML wants).

    Headings get an id to link to (`headings`). Content tables get a class so the template's
    table styles never reach MJML's own layout tables; images get a width Outlook honours;
    footnotes move to the end, each with a link back to where it was cited (`notes` names
    the links for screen readers); headings and notes get a named anchor for mail clients
    unless `named_anchors` is False (a web page).
    """
    import pyromark

    html: str = pyromark.html(markdown, options=parser_options())
    html = html.replace("<table>", '<table class="sp-table">')
    html = _LINK_HOST.sub(_ascii_host, html)
    html = headings.add_ids(html, named_anchors)
    return footnotes.rearrange(_IMAGE.sub(_sized_image, html), notes, named_anchors)


# A link's or image's host, as pulldown-cmark writes it: every non-ASCII byte of the URL
# percent-encoded, the host's too (`https://b%C3%BCcher.example/`, which is no host name:
# browsers decode it, mail clients and link checkers may not). Group 3: the host (with any
# user and port); for a mailto: link, the domain after the last @.
_LINK_HOST = re.compile(r'((?:href|src)=")(https?://|mailto:[^"@?]*@)([^/?#"]*%[^/?#"]*)')


def _ascii_host(match: re.Match[str]) -> str:
    """The host as IDNA A-labels (`xn--bcher-kva.example`); left as it was if it is none."""
    before, scheme, authority = match.groups()
    converted = _ascii_authority(authority)
    return match.group(0) if converted is None else f"{before}{scheme}{converted}"


def _ascii_authority(authority: str) -> str | None:
    """`user@host:port` with its percent-encoded host as IDNA A-labels; None if it is none."""
    from urllib.parse import unquote

    from seriespub.addresses import ascii_domain

    user, at, host_port = authority.rpartition("@")
    host, colon, port = host_port.partition(":")
    try:
        decoded = unquote(host, errors="strict")
    except UnicodeDecodeError:
        return None
    ascii_host = ascii_domain(decoded)
    return None if ascii_host is None else f"{user}{at}{ascii_host}{colon}{port}"


# Every printable ASCII character: what `ascii_url` keeps as it is.
_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))
_URL_HOST = re.compile(r"(https?://|mailto:[^@?]*@)([^/?#]*%[^/?#]*)")


def ascii_url(url: str) -> str:
    """`url` as the HTML part writes it (pulldown-cmark, then `_ascii_host`): non-ASCII
    characters percent-encoded as UTF-8, an international host as IDNA A-labels. The text
    part lists links so, the same URL as the HTML part, which any mail client follows."""
    from urllib.parse import quote

    quoted = quote(url, safe=_PRINTABLE)
    match = _URL_HOST.match(quoted)
    if match is None:
        return quoted
    converted = _ascii_authority(match.group(2))
    return quoted if converted is None else match.group(1) + converted + quoted[match.end() :]


# pulldown-cmark writes every Markdown image exactly so; the title may carry `width=N`.
_IMAGE = re.compile(r'<img src="([^"]*)" alt="([^"]*)"(?: title="([^"]*)")? />')
_WIDTH = re.compile(r"(?:^|\s)width=(\d{1,4})(?:px)?(?=\s|$)")
CONTENT_WIDTH = 552  # the 600 px layout less the text column's 2 × 24 px padding


def _sized_image(match: re.Match[str]) -> str:
    """A width attribute (Outlook for Windows ignores CSS max-width) and block display."""
    src, alt, title = match.group(1), match.group(2), match.group(3) or ""
    width = CONTENT_WIDTH
    found = _WIDTH.search(title)
    if found:
        width = min(max(int(found.group(1)), 1), CONTENT_WIDTH)
        title = (title[: found.start()] + title[found.end() :]).strip()
    title_attr = f' title="{title}"' if title else ""
    # width:100% with a max-width, not max-width:100% alone: a blocked image keeps its
    # width attribute and would push the column past a 375 px screen.
    return (
        f'<img src="{src}" alt="{alt}"{title_attr} width="{width}" style="display:block;'
        f'width:100%;max-width:{width}px;height:auto;border:0" />'
    )


@dataclass
class Node:
    """One element of the parsed document: `kind` is pulldown-cmark's tag name."""

    kind: str
    value: Any = None
    start: int = 0  # offset in the source, where known
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
        ranged = pyromark.events_with_range(markdown, options=parser_options())
        return _tree((event, where["start"]) for event, where in ranged)
    return _tree((event, 0) for event in pyromark.events(markdown, options=parser_options()))


def _tree(events: Iterable[tuple[Any, int]]) -> Node:
    root = Node("Document")
    stack = [root]
    for event, start in events:
        if isinstance(event, str):  # SoftBreak, HardBreak, Rule
            stack[-1].children.append(Node(event, start=start))
            continue
        ((what, payload),) = event.items()
        if what == "End":
            stack.pop()
        elif what == "Start":
            kind, value = _tag(payload)
            node = Node(kind, value, start)
            stack[-1].children.append(node)
            stack.append(node)
        else:  # Text, Code, Html, Footnote…
            stack[-1].children.append(Node(what, payload, start))
    return root


def _tag(payload: Any) -> tuple[str, Any]:
    if isinstance(payload, str):
        return payload, None
    ((kind, value),) = payload.items()
    return str(kind), value
