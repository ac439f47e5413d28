"""Everything that would embarrass the author, found before sending."""

from __future__ import annotations

import bisect
import enum
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from seriespub.config import DeliverySettings, SeriesSettings
from seriespub.render import templating
from seriespub.render.markdown import Node, merge_tags, parse

GMAIL_CLIP_BYTES = 102 * 1024
SUBJECT_MAX_OCTETS = 998  # RFC 5322's hard line limit
SUBJECT_LONG_CHARS = 150  # inboxes show 40-70; past this it reads as spam
PLACEHOLDER_HOSTS = ("example.com", "example.org", "example.net", "localhost", "127.0.0.1")
PLACEHOLDER_SUFFIXES = (".example", ".test", ".invalid", ".localhost")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
LINK_SCHEMES = ("http://", "https://", "mailto:")
BUILTIN_FIELDS = {"name", "email", "unsubscribe_url"}
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# In a rendered part: every id a link within it may lead to, and the headings' own.
_TARGET = re.compile(r'\bid="([^"]+)"')
_HEADING_ID = re.compile(r'<h[1-6] id="([^"]+)"')


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
    line_of = line_finder(body, body_line)
    previous = 1  # the title: the email's and the page's <h1>
    fragments: list[tuple[int, str]] = []  # (line, "#target") of each link within the part
    for node in parse(body, offsets=True).walk():
        yield from _check_node(path, node, line_of(node.start))
        if node.kind == "Heading":
            level = int(str(node.value["level"]).removeprefix("H"))
            yield from _check_heading(f"{path}:{line_of(node.start)}", level, previous)
            previous = level
        elif node.kind == "Link" and str(node.value.get("dest_url", "")).startswith("#"):
            fragments.append((line_of(node.start), str(node.value["dest_url"])))
    if fragments:
        yield from _check_fragments(path, body, fragments)
    for offset, problem in templating.draft_problems(body):
        yield Finding(Level.ERROR, f"{path}:{body_line + offset}", problem)
    for number, field in unknown_fields(body, body_line, fields):
        yield Finding(Level.ERROR, f"{path}:{number}", unknown_field_message(field))


def unknown_fields(body: str, body_line: int, fields: set[str]) -> Iterator[tuple[int, str]]:
    """(line, field) for each merge tag (outside code) whose field no subscriber has."""
    known = fields | BUILTIN_FIELDS
    line_of = line_finder(body, body_line)
    for match in merge_tags(body):
        if match.group(1) not in known:
            yield line_of(match.start()), match.group(1)


def line_finder(body: str, body_line: int) -> Callable[[int], int]:
    """offset in `body` → its line in the file, by bisection (counting newlines from the top
    for each of thousands of links made a long draft's check quadratic)."""
    newlines = [match.start() for match in re.finditer("\n", body)]
    return lambda offset: body_line + bisect.bisect_left(newlines, offset)


def unknown_field_message(field: str) -> str:
    return f"unknown merge field '{field}' (not a column of subscribers.csv)"


def _check_node(path: Path, node: Node, line: int) -> Iterator[Finding]:
    where = f"{path}:{line}"
    if node.kind == "Link":
        href = str(node.value.get("dest_url", ""))
        if not href.startswith(LINK_SCHEMES) and not href.startswith("#"):
            yield Finding(
                Level.ERROR,
                where,
                f"link {href!r} is not http(s) or mailto: it will not work in an email",
            )
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
                yield Finding(
                    Level.WARNING,
                    where,
                    f"image {src!r} is a local file: readers cannot see it; use an https:// URL",
                )
        elif not src.startswith("https://"):
            yield Finding(Level.WARNING, where, f"image {src!r} is not served over https")


def _check_fragments(path: Path, body: str, links: list[tuple[int, str]]) -> Iterator[Finding]:
    """Links within the part (`#a-heading`, `#fn-1`) that lead to no heading or note of it,
    as the email and the page give them ids (`render.headings`, `render.footnotes`)."""
    from seriespub.render.markdown import to_html

    fragment = to_html(body, named_anchors=False)
    targets = set(_TARGET.findall(fragment))
    headings = [f"#{t}" for t in _HEADING_ID.findall(fragment)]
    for line, href in links:
        if href[1:] not in targets:
            listed = f" (its headings: {', '.join(headings)})" if headings else ""
            yield Finding(
                Level.WARNING,
                f"{path}:{line}",
                f"link {href!r} leads to no heading or note of this part{listed}",
            )


def _check_heading(where: str, level: int, previous: int) -> Iterator[Finding]:
    """Headings as screen readers list them, by level, under the title's <h1>."""
    if level == 1:
        message = "a level-1 heading (#): the title is the part's only one; start sections at ##"
        yield Finding(Level.WARNING, where, message)
    elif level > previous + 1:
        yield Finding(
            Level.WARNING,
            where,
            f"heading level {level} ({'#' * level}) right after level {previous}: screen "
            "readers list headings by level, so a level skipped reads as a missing section; "
            f"use {'#' * (previous + 1)}",
        )


def check_size(path: Path, size: int, text_size: int | None = None) -> Iterator[Finding]:
    """`size`: the HTML part as sent (encoded); `text_size`: the text part, to report."""
    sent = f"HTML is {size / 1024:.0f} KB as sent"
    if text_size is not None:
        sent += f" (text {text_size / 1024:.0f} KB)"
    if size >= GMAIL_CLIP_BYTES:
        yield Finding(Level.ERROR, str(path), f"{sent}: Gmail clips messages over ~102 KB")
    elif size >= GMAIL_CLIP_BYTES * 0.8:
        yield Finding(Level.WARNING, str(path), f"{sent}: nearing Gmail's ~102 KB clipping limit")


def check_subject(path: Path, subject: str) -> Iterator[Finding]:
    octets = len(subject.encode())
    if octets > SUBJECT_MAX_OCTETS:
        yield Finding(
            Level.ERROR,
            str(path),
            f"subject is {octets} bytes: over the {SUBJECT_MAX_OCTETS}-byte line limit of mail",
        )
    elif len(subject) > SUBJECT_LONG_CHARS:
        yield Finding(
            Level.WARNING,
            str(path),
            f"subject is {len(subject)} characters: "
            "inboxes show about 60 and filters distrust "
            f"more than {SUBJECT_LONG_CHARS}",
        )


def check_unsubscribe(
    series: SeriesSettings, delivery: DeliverySettings, where: str
) -> Iterator[Finding]:
    """One-click unsubscribe (RFC 8058), which Gmail and Yahoo require of bulk senders."""
    if _provider_unsubscribes(delivery):
        return
    url = series.unsubscribe_url
    if not url:
        yield Finding(
            Level.WARNING,
            where,
            "no series.unsubscribe_url: List-Unsubscribe is "
            "mailto: only, not RFC 8058 one-click, which Gmail "
            "and Yahoo require of bulk senders",
        )
        return
    host = _host(url)
    if (
        host in PLACEHOLDER_HOSTS
        or host.endswith(PLACEHOLDER_SUFFIXES)
        or host.endswith(tuple("." + h for h in PLACEHOLDER_HOSTS))
    ):
        yield Finding(
            Level.WARNING,
            where,
            f"series.unsubscribe_url points at {host!r}, a "
            "placeholder: readers could not unsubscribe",
        )


def _provider_unsubscribes(delivery: DeliverySettings) -> bool:
    """Postmark broadcast streams, SendGrid groups and Mailgun can own the unsubscribe."""
    return (
        (delivery.provider == "postmark" and delivery.postmark.message_stream == "broadcast")
        or (delivery.provider == "sendgrid" and delivery.sendgrid.asm_group_id is not None)
        or (delivery.provider == "mailgun" and delivery.mailgun.unsubscribe == "mailgun")
    )


def check_api_urls(delivery: DeliverySettings, where: str) -> Iterator[Finding]:
    """An http:// API URL sends the provider's token in clear (loopback excepted)."""
    for name in ("postmark", "sendgrid", "mailgun", "resend", "ses"):
        url = getattr(getattr(delivery, name), "api_url", None)
        if url and url.lower().startswith("http://") and _host(url) not in LOOPBACK_HOSTS:
            yield Finding(
                Level.ERROR,
                where,
                f"delivery.{name}.api_url is http://: the API "
                "token would travel in clear; use https://",
            )


def _host(url: str) -> str:
    import urllib.parse

    try:
        return (urllib.parse.urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def check_numbers(numbers: list[int], where: str) -> Iterator[Finding]:
    for number, count in Counter(numbers).items():
        if count > 1:
            yield Finding(Level.ERROR, where, f"instalment number {number} is used {count} times")
    present = sorted(set(numbers))
    # One warning per gap, however wide: `number: 500` is one slip, not 498 of them.
    for before, after in zip([0, *present], present, strict=False):
        if after - before == 2:
            yield Finding(Level.WARNING, where, f"no instalment number {before + 1}")
        elif after - before > 2:
            yield Finding(Level.WARNING, where, f"no instalment numbers {before + 1}–{after - 1}")
