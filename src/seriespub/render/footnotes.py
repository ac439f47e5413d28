"""Footnotes in the HTML part: gathered at the end, numbered, each linking back to its citation.

pulldown-cmark writes a definition where the author wrote it, as a bare `<div>` with a
superscript label and no way back. `rearrange` moves every definition, in number order, into
one `sp-footnotes` block after the text; a citation links to `#fn-N` and carries the id
`fnref-N` (`fnref-N-2` for the second citation of the same note) that the note links back to.
Each target also has an empty `<a name>` of the same name just before it: Gmail on the web,
Outlook for Windows and Yahoo on the web follow a local link only to a named anchor
(caniemail, local anchors), other clients to the id. A web page needs no such anchor (and HTML
has no `<a name>` without an href: the W3C's checker reports it), so the site asks for none.
Ids are built from the numbers only, so no author text ever lands in an attribute.
A mark shows its number and is named "Footnote N" for screen readers (`aria-label`: Yahoo
ignores it and reads the number, as before); both names carry `lang="en"` where they are
English in a series of another language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class NoteWords:
    """The names of the footnote links, in the series' language."""

    back: str = "Back to the text"  # the link from a note back to its citation
    footnote: str = "Footnote"  # a mark is named "Footnote 1"; it shows "1"
    lang: str = ""  # "en" where these are English in a series of another language


_DEFINITION = re.compile(
    r'<div class="footnote-definition" id="[^"]*">'
    r'<sup class="footnote-definition-label">(\d+)</sup>\n?'
)
_REFERENCE = re.compile(r'<sup class="footnote-reference"><a href="#[^"]*">(\d+)</a></sup>')
_DIV = re.compile(r"<div\b|</div>")
BACK_ARROW = "&#8617;&#65038;"  # ↩ with VS15: text, never an emoji on iOS


def rearrange(html: str, words: NoteWords, named_anchors: bool = True) -> str:
    """`html` with its footnote definitions moved to the end and linked both ways;
    `named_anchors`: an `<a name>` before each target too, for mail clients."""
    html, notes = _take_definitions(html)
    cited: dict[str, int] = {}
    anchor = _named_anchor if named_anchors else _no_anchor
    html = _REFERENCE.sub(lambda m: _citation(m.group(1), cited, words, anchor), html)
    if not notes:
        return html
    body = "".join(_note(n, notes[n], n in cited, words, anchor) for n in sorted(notes, key=int))
    return f'{html}<div class="sp-footnotes">\n{body}</div>\n'


def _take_definitions(html: str) -> tuple[str, dict[str, str]]:
    notes: dict[str, str] = {}
    while (found := _DEFINITION.search(html)) is not None:
        end = _closing_div(html, found.end())
        notes[found.group(1)] = html[found.end() : end].strip()
        html = html[: found.start()] + html[end + len("</div>") :].lstrip("\n")
    return html, notes


def _closing_div(html: str, start: int) -> int:
    """The offset of the `</div>` that closes a div whose content begins at `start`."""
    depth = 1
    for tag in _DIV.finditer(html, start):
        depth += -1 if tag.group() == "</div>" else 1
        if depth == 0:
            return tag.start()
    return len(html)  # unbalanced raw HTML from the author: take the rest


def _citation(
    number: str, cited: dict[str, int], words: NoteWords, anchor: Callable[[str], str]
) -> str:
    cited[number] = cited.get(number, 0) + 1
    suffix = "" if cited[number] == 1 else f"-{cited[number]}"
    target = f"fnref-{number}{suffix}"
    name = _named(f"{words.footnote} {number}", words)
    return (
        f'{anchor(target)}<sup class="sp-fnref"><a href="#fn-{number}" id="{target}"'
        f"{name}>{number}</a></sup>"
    )


def _named(label: str, words: NoteWords) -> str:
    """The attributes naming a link for screen readers, in the language of `label`."""
    lang = f' lang="{words.lang}"' if words.lang else ""
    return f' aria-label="{escape(label)}"{lang}'


def _named_anchor(name: str) -> str:
    """The empty anchor that clients ignoring ids jump to; outside any styled element."""
    return f'<a name="{name}"></a>'


def _no_anchor(name: str) -> str:
    return ""


def _note(
    number: str, content: str, cited: bool, words: NoteWords, anchor: Callable[[str], str]
) -> str:
    mark = f'<span class="sp-fnnum">{number}.</span>&nbsp;'
    content = (
        content[:3] + mark + content[3:] if content.startswith("<p>") else f"<p>{mark}</p>{content}"
    )
    if cited:
        back = (
            f'&nbsp;<a href="#fnref-{number}" class="sp-fnback"'
            f"{_named(words.back, words)}>{BACK_ARROW}</a>"
        )
        content = (
            content[:-4] + back + "</p>" if content.endswith("</p>") else f"{content}<p>{back}</p>"
        )
    target = f"fn-{number}"
    return f'{anchor(target)}<div class="sp-footnote" id="{target}">{content}</div>\n'
