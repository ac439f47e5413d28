"""Which per-reader slots of a rendered HTML part a reader can see or follow.

A slot counts when it is in the `href` of a link, or in text a mail client shows. It does
not count inside a comment (MJML keeps comments, and an Outlook-only `<!--[if mso]>` block
is a comment to every other client), in another attribute (`title`, `aria-label`), in the
`<head>` (`<title>`, `<style>`), or under an element hidden with `display:none` or
`hidden`. Styles from a stylesheet are not followed: a class that hides is not seen.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from seriespub.message import SLOT_RE

# Elements without an end tag: never on the stack of open ones.
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
_VOID |= {"source", "track", "wbr"}
_UNSEEN = frozenset(("head", "title", "style", "script", "template"))
_DISPLAY_NONE = re.compile(r"(?:^|;)\s*display\s*:\s*none\b", re.IGNORECASE)


def seen_slots(html: str) -> set[int]:
    """The slot ids (`%%SPn%%`) in `html` that a reader sees or can click."""
    parser = _Reader()
    parser.feed(html)
    parser.close()
    return parser.seen


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.seen: set[int] = set()
        self._open: list[tuple[str, bool]] = []  # (tag, hidden) of each open element

    @property
    def _hidden(self) -> bool:
        return bool(self._open) and self._open[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        hidden = (
            self._hidden
            or tag in _UNSEEN
            or "hidden" in values
            or bool(_DISPLAY_NONE.search(values.get("style") or ""))
        )
        if tag == "a" and not hidden:
            self._note(values.get("href") or "")
        if tag not in _VOID:
            self._open.append((tag, hidden))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        # Close up to the matching element; an end tag with none open is ignored.
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth][0] == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._note(data)

    def _note(self, text: str) -> None:
        self.seen.update(int(i) for i in SLOT_RE.findall(text))
