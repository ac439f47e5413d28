"""Everything that would embarrass the author, found before sending."""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from seriespub.render.markdown import MERGE_TAG, Node, parse

GMAIL_CLIP_BYTES = 102 * 1024
LINK_SCHEMES = ("http://", "https://", "mailto:")
BUILTIN_FIELDS = {"name", "email", "unsubscribe_url"}
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


class Level(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    level: Level
    where: str
    message: str


def check_body(path: Path, body: str, body_line: int, fields: set[str]) -> Iterator[Finding]:
    """Links, images and merge fields of one draft's Markdown."""
    for node in parse(body, offsets=True).walk():
        line = body_line + body.count("\n", 0, node.start)
        yield from _check_node(path, node, line)
    for number, text in enumerate(body.splitlines(), body_line):
        for match in MERGE_TAG.finditer(text):
            if match.group(1) not in fields | BUILTIN_FIELDS:
                yield Finding(Level.ERROR, f"{path}:{number}",
                              f"unknown merge field '{match.group(1)}' (not a column of "
                              "subscribers.csv)")


def _check_node(path: Path, node: Node, line: int) -> Iterator[Finding]:
    where = f"{path}:{line}"
    if node.kind == "Link":
        href = str(node.value.get("dest_url", ""))
        if not href.startswith(LINK_SCHEMES) and not href.startswith("#"):
            yield Finding(Level.ERROR, where, f"link {href!r} is not http(s) or mailto: "
                                              "it will not work in an email")
    elif node.kind == "Image":
        src = str(node.value.get("dest_url", ""))
        alt = node.text()
        if not alt.strip():
            yield Finding(Level.WARNING, where, f"image {src!r} has no alt text")
        if not _SCHEME.match(src):
            local = (path.parent / src).resolve()
            if not local.exists():
                yield Finding(Level.ERROR, where, f"image {src!r} does not exist")
            else:
                yield Finding(Level.WARNING, where, f"image {src!r} is a local file: readers "
                                                    "cannot see it; use an https:// URL")
        elif not src.startswith("https://"):
            yield Finding(Level.WARNING, where, f"image {src!r} is not served over https")


def check_size(path: Path, size: int) -> Iterator[Finding]:
    if size >= GMAIL_CLIP_BYTES:
        yield Finding(Level.ERROR, str(path), f"HTML is {size / 1024:.0f} KB: Gmail clips "
                                              "messages over ~102 KB")
    elif size >= GMAIL_CLIP_BYTES * 0.8:
        yield Finding(Level.WARNING, str(path), f"HTML is {size / 1024:.0f} KB: nearing "
                                                "Gmail's ~102 KB clipping limit")


def check_numbers(numbers: list[int], where: str) -> Iterator[Finding]:
    for number, count in Counter(numbers).items():
        if count > 1:
            yield Finding(Level.ERROR, where, f"instalment number {number} is used {count} times")
    present = set(numbers)
    for missing in range(1, max(present, default=0)):
        if missing not in present:
            yield Finding(Level.WARNING, where, f"no instalment number {missing}")
