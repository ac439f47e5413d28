"""Markdown (CommonMark + tables + footnotes) → HTML, with merge tags kept as slots.

Authors write `{{ name }}` or `{{ name | default("reader") }}` in a draft; each tag becomes a
slot token (`%%SPn%%`) before parsing, so the Markdown parser and the MJML engine pass it
through untouched and the value is filled in per recipient afterwards.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from seriespub.message import Slot

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

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


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.footnote import footnote_plugin

    return MarkdownIt("commonmark", {"typographer": True}).enable(
        ["table", "strikethrough", "replacements", "smartquotes"]).use(footnote_plugin)


def to_html(markdown: str) -> str:
    """Render Markdown to an HTML fragment (XHTML-style void tags, as MJML wants).

    Content tables get a class so the template's table styles never reach MJML's own
    layout tables.
    """
    html: str = parser().render(markdown)
    return html.replace("<table>", '<table class="sp-table">')
