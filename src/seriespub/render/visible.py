"""Which per-reader slots of a rendered HTML part a reader can see or follow.

It reads MJML's output, where `mj-attributes`, `mj-class` and `css-class` have become inline
styles and `class` attributes and `mj-style` a `<style>` block: the HTML a mail client gets.

A slot counts when it is in text a mail client shows, or in the `href` of a link with something
shown inside it (text, an image). It does not count inside a comment (MJML keeps comments, and
an Outlook-only `<!--[if mso]>` block is a comment to every other client), in another
attribute (`title`, `aria-label`), in the `<head>` (`<title>`, `<style>`), or under an element
that is hidden: the `hidden` attribute, or a style giving `display:none`, `visibility:hidden`
(a descendant may say `visible` again), `opacity:0`, `max-height:0` (or `height:0`) with
`overflow:hidden`, `mso-hide:all` (Outlook's readers see nothing), or a font size of zero
(MJML's columns have `font-size:0px`: text counts when an element nearer it sets a size).

A style comes from the element's `style` attribute or from a `<style>` block's rule whose
selector is simple: a tag, one or more classes, or both (`.hide`, `p.fold`, `.a.b`, a list of
them), ranked as browsers do (`!important`, inline, specificity, order). Not seen: rules with
combinators, ids, attributes or pseudo-classes (`.card a`, `#x`, `a:hover`), rules inside
`@media` or another at-rule, and `<style media=…>` blocks (a dark-mode or a mobile-only swap is
no warning), nor a style set by a `<style>` inside a comment. `font` shorthand, `clip`,
off-screen positions, colours matching the background: not seen either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from seriespub.message import SLOT_RE

# Elements without an end tag: never on the stack of open ones.
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
_VOID |= {"source", "track", "wbr"}
_UNSEEN = frozenset(("head", "title", "style", "script", "template"))
_SHOWN_VOID = frozenset(("img", "input"))  # seen (and clickable) whatever the font size
# The properties that can hide something: the only ones read.
_WANTED = {"display", "visibility", "opacity", "max-height", "height", "overflow", "overflow-y"}
_WANTED |= {"mso-hide", "font-size"}
_ZERO = re.compile(r"[+-]?(?:0+(?:\.0*)?|\.0+)(?:[a-z]+|%)?")
_RELATIVE = re.compile(r".*(?:%|em|ex|ch)|smaller|larger|inherit")
_SIMPLE = re.compile(r"(\*|[a-z][a-z0-9-]*)?((?:\.[\w-]+)*)", re.IGNORECASE)
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def seen_slots(html: str) -> set[int]:
    """The slot ids (`%%SPn%%`) in `html` that a reader sees or can click."""
    sheets = _Sheets()
    sheets.feed(html)
    sheets.close()
    parser = _Reader(_parse_rules("\n".join(sheets.texts)))
    parser.feed(html)
    parser.close()
    return parser.seen


@dataclass(frozen=True)
class _Rule:
    tag: str | None  # None: any
    classes: frozenset[str]
    declarations: tuple[tuple[str, str, bool], ...]  # (property, value, important)
    rank: tuple[int, int, int]  # (classes, tags, order): who wins a tie in importance


@dataclass
class _Open:
    tag: str
    gone: bool  # nothing inside can be seen, whatever it says
    invisible: bool  # visibility:hidden, which a descendant may undo
    no_size: bool  # a font size of zero: its text takes no room
    pending: set[int]  # an open link's slots, counted once something inside is shown


class _Sheets(HTMLParser):
    """The text of every `<style>` block outside comments and without a `media`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._in: bool | None = None  # in a <style>: whether its rules apply everywhere

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "style":
            media = (dict(attrs).get("media") or "all").strip().lower()
            self._in = media in ("all", "screen")

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.texts.append(data)


def _parse_rules(css: str) -> list[_Rule]:
    """The top-level rules of `css` with simple selectors; at-rules are skipped whole."""
    css = _COMMENT.sub(" ", css)
    rules: list[_Rule] = []
    at = 0
    while (brace := css.find("{", at)) != -1:
        prelude = css[at:brace]
        # `@import …;` and `@charset …;` end at a semicolon, before this block's selector.
        prelude = prelude.rsplit(";", 1)[-1].strip()
        end = _block_end(css, brace)
        if not prelude.startswith("@"):
            declarations = _declarations(css[brace + 1 : end - 1])
            if declarations:
                for selector in prelude.split(","):
                    rule = _rule(selector.strip(), declarations, len(rules))
                    if rule is not None:
                        rules.append(rule)
        at = end
    return rules


def _block_end(css: str, brace: int) -> int:
    """The index just past the `}` that closes the block opened at `brace` (or the end)."""
    depth = 0
    for i in range(brace, len(css)):
        if css[i] == "{":
            depth += 1
        elif css[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(css)


def _rule(
    selector: str, declarations: tuple[tuple[str, str, bool], ...], order: int
) -> _Rule | None:
    match = _SIMPLE.fullmatch(selector)
    if not selector or match is None:
        return None
    tag = match.group(1)
    classes = frozenset(c for c in match.group(2).split(".") if c)
    tag = None if tag in (None, "*") else tag.lower()
    return _Rule(tag, classes, declarations, (len(classes), tag is not None, order))


def _declarations(block: str) -> tuple[tuple[str, str, bool], ...]:
    """The declarations of a rule or a `style` attribute that can hide something."""
    found = []
    for declaration in block.split(";"):
        name, colon, value = declaration.partition(":")
        name = name.strip().lower()
        if not colon or name not in _WANTED:
            continue
        value = value.strip().lower()
        important = value.endswith("important") and "!" in value
        if important:
            value = value[: value.rindex("!")].strip()
        found.append((name, value, important))
    return tuple(found)


class _Reader(HTMLParser):
    def __init__(self, rules: list[_Rule]) -> None:
        super().__init__(convert_charrefs=True)
        self.seen: set[int] = set()
        self._rules = rules
        self._open: list[_Open] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = self._element(tag, dict(attrs))
        if tag == "a" and not element.gone:
            element.pending = self._slots(dict(attrs).get("href") or "")
        if tag in _SHOWN_VOID and not (element.gone or element.invisible):
            self._shown(set())
        if tag not in _VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        # Close up to the matching element; an end tag with none open is ignored.
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        if not data.strip():
            return
        inner = self._open[-1] if self._open else None
        if inner is None or not (inner.gone or inner.invisible or inner.no_size):
            self._shown(self._slots(data))

    def _shown(self, slots: set[int]) -> None:
        """Something is shown here: its own slots count, and the open links' around it."""
        self.seen |= slots
        for element in self._open:
            self.seen |= element.pending
            element.pending = set()

    @staticmethod
    def _slots(text: str) -> set[int]:
        return {int(i) for i in SLOT_RE.findall(text)}

    def _element(self, tag: str, attrs: dict[str, str | None]) -> _Open:
        parent = self._open[-1] if self._open else _Open("", False, False, False, set())
        style = self._style(tag, attrs)
        overflow = style.get("overflow", "") + " " + style.get("overflow-y", "")
        clipped = ("hidden" in overflow or "clip" in overflow) and any(
            _ZERO.fullmatch(style.get(p, "")) for p in ("max-height", "height")
        )
        gone = (
            parent.gone
            or tag in _UNSEEN
            or "hidden" in attrs
            or style.get("display") == "none"
            or bool(_ZERO.fullmatch(style.get("opacity", "")))
            or style.get("mso-hide") == "all"
            or clipped
        )
        visibility = style.get("visibility")
        invisible = parent.invisible if visibility in (None, "inherit") else visibility != "visible"
        size = style.get("font-size")
        if size is None or (parent.no_size and _RELATIVE.fullmatch(size)):
            no_size = parent.no_size
        else:
            no_size = bool(_ZERO.fullmatch(size))
        return _Open(tag, gone, invisible, no_size, set())

    def _style(self, tag: str, attrs: dict[str, str | None]) -> dict[str, str]:
        """The winning value of each property that can hide, by the cascade's ranking."""
        classes = set((attrs.get("class") or "").split())
        ranked: dict[str, tuple[tuple[bool, bool, tuple[int, int, int]], str]] = {}
        candidates = [
            (rule.declarations, False, rule.rank)
            for rule in self._rules
            if (rule.tag is None or rule.tag == tag) and rule.classes <= classes
        ]
        candidates.append((_declarations(attrs.get("style") or ""), True, (0, 0, 0)))
        for declarations, inline, rank in candidates:
            for name, value, important in declarations:
                key = (important, inline, rank)
                if name not in ranked or ranked[name][0] <= key:
                    ranked[name] = (key, value)
        return {name: value for name, (_key, value) in ranked.items()}
