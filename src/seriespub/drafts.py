"""drafts/*.md → ordered instalments (Markdown with YAML front matter).

A draft that loads has a title, subject and preheader that are text (a number, date or `yes`
is taken as written; a list or table is refused with its line), a status of draft or ready,
and a part number from 1 to MAX_NUMBER. `new_draft` never replaces a file, numbers after
every `NN-*.md` whether it loads or not, gives two drafts made at once two numbers (a lock on
the folder), and writes front matter that reads back as given, whole or not at all: a `new`
killed mid-write leaves no draft, only a temp file no `*.md` glob matches, which the next
`new` removes.
Front matter with aliases, nesting past YAML's recursion or a value YAML cannot build, and
a body nested past MAX_NESTING, are refused with file:line before anything renders them.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seriespub.config import YEARS, in_calendar_years
from seriespub.errors import InputError
from seriespub.headers import check_header_value
from seriespub.models import DraftStatus, Instalment
from seriespub.newfiles import create_new, remove_cut_short_drafts
from seriespub.render import TEMPLATE_VARIABLES
from seriespub.statefiles import os_hint, os_words
from seriespub.textfiles import is_utf8, read_text, yaml_string

if TYPE_CHECKING:
    import yaml

NUMBER_PREFIX = re.compile(r"^(\d+)[-_ ]")
KNOWN_KEYS = {"title", "subject", "preheader", "number", "status", "release"}
# Part numbers stay far inside SQLite's integers, and a gap in them is something to warn of.
MAX_NUMBER = 99_999
SHAPE = "a draft starts with front matter: a '---' line, 'title: ...', then a closing '---' line"
Pairs = dict[str, tuple["yaml.Node", "yaml.Node"]]  # front-matter key → (key node, value node)


@dataclass
class DraftSet:
    """The drafts of a series, in order, and whatever stopped some from loading."""

    instalments: list[Instalment] = field(default_factory=list)
    problems: list[InputError] = field(default_factory=list)

    def by_number(self, number: int) -> Instalment | None:
        return next((i for i in self.instalments if i.number == number), None)

    def after(self, number: int) -> Instalment | None:
        return next((i for i in self.instalments if i.number > number), None)


def load_drafts(folder: Path, *, strict: bool = True) -> DraftSet:
    """Read every draft; strict mode raises the first problem, else they are collected."""
    result = DraftSet()
    if not folder.is_dir():
        raise InputError(
            "no drafts folder",
            path=folder,
            hint='create it, or write one with: seriespub new "Title"',
        )
    seen: dict[int, Path] = {}
    for path in sorted(folder.glob("*.md")):
        try:
            instalment = read_draft(path)
            if instalment.number in seen:
                raise InputError(
                    f"number {instalment.number} is also used by {seen[instalment.number].name}",
                    path=path,
                )
            seen[instalment.number] = path
            result.instalments.append(instalment)
        except InputError as problem:
            if strict:
                raise
            result.problems.append(problem)
    result.instalments.sort(key=lambda i: i.number)
    return result


def read_draft(path: Path) -> Instalment:
    """Parse one draft; errors name the file and, where known, the line."""
    text = read_text(path).removeprefix("\ufeff")  # the byte order mark Notepad writes
    front, body = _split(path, text)
    meta, pairs = _parse_front(path, front)
    body_line = text[: len(text) - len(body)].count("\n") + 1 if body else 1
    _refuse_reserved_keys(path, text, meta)
    _refuse_deep_nesting(path, body, body_line)
    return _instalment(path, meta, pairs, body, body_line)


def _refuse_deep_nesting(path: Path, body: str, body_line: int) -> None:
    """Every command that reads the draft stops here, before a renderer recurses on it."""
    from seriespub.render.nesting import MAX_NESTING, too_deep_at

    offset = too_deep_at(body)
    if offset is not None:
        raise InputError(
            f"the text is nested too deeply (more than {MAX_NESTING} levels of quotes or lists)",
            path=path,
            line=body_line + body[:offset].count("\n"),
        )


def _split(path: Path, text: str) -> tuple[str, str]:
    """The front matter's YAML (its line 1 is the file's line 2) and the body, split by
    python-frontmatter's YAML handler (as `frontmatter.parse` does); its YAML is loaded
    here, keeping the nodes, so errors have lines and text fields stay as written."""
    from frontmatter.default_handlers import YAMLHandler

    stripped = text.strip()
    if not stripped:
        raise InputError(f"empty file: {SHAPE}", path=path)
    handler = YAMLHandler()
    if not handler.detect(stripped):
        raise InputError(f"no front matter: {SHAPE}", path=path, line=1)
    try:
        front, body = handler.split(stripped)
    except ValueError:
        raise InputError("front matter has no closing '---' line", path=path, line=1) from None
    return front, body.strip()


def _parse_front(path: Path, front: str) -> tuple[dict[str, Any], Pairs]:
    """The front matter as values, and as YAML nodes (lines, and scalars as written)."""
    import yaml

    try:
        loader = yaml.SafeLoader(front)
    except yaml.reader.ReaderError as exc:  # YAML allows no control character, NUL included
        raise InputError(
            f"front matter: a control character (U+{exc.character:04X}) YAML does not allow",
            path=path,
            line=front[: exc.position].count("\n") + 1,  # `front` begins with "---"'s line end
        ) from None
    try:
        node = loader.get_single_node()
        _refuse_aliases(path, node)
        meta = _construct(path, loader, node)
    except RecursionError:
        raise InputError("front matter: nested too deeply", path=path, line=2) from None
    except yaml.YAMLError as exc:
        # Where the broken construct starts (context) beats where the parser gave up.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None  # the YAML starts after "---"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"front matter: {problem}", path=path, line=line) from None
    finally:
        loader.dispose()
    if not isinstance(meta, dict):
        raise InputError("front matter must be 'key: value' lines", path=path, line=2)
    pairs: Pairs = {}
    if isinstance(node, yaml.MappingNode):
        pairs = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    return meta, pairs


def _refuse_aliases(path: Path, node: yaml.Node | None) -> None:
    """Front matter holds a few fields: an alias there is never needed, and aliases of
    aliases grow exponentially when built (the billion laughs)."""
    seen: set[int] = set()
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if id(current) in seen:  # the composer hands an alias back as the anchored node
            raise InputError(
                "front matter: anchors and aliases (&name, *name) are not supported",
                path=path,
                line=current.start_mark.line + 1,
            )
        seen.add(id(current))
        if isinstance(current.value, list):
            stack.extend(_children(current.value))


def _children(value: list[Any]) -> list[yaml.Node]:
    return [n for item in value for n in (item if isinstance(item, tuple) else (item,))]


def _construct(path: Path, loader: yaml.SafeLoader, node: yaml.Node | None) -> Any:
    """The values of the front matter; a scalar YAML cannot build (a date 2026-13-45)
    is named with its line."""
    if node is None:
        return {}
    try:
        return loader.construct_document(node)
    except _UNBUILDABLE as exc:
        bad = _first_unbuildable(node)
        line = bad.start_mark.line + 1 if bad is not None else None
        value = f" {bad.value!r}" if bad is not None else ""
        why = str(exc) if isinstance(exc, ValueError) or bad is None else _not_a(bad.tag)
        raise InputError(f"front matter: cannot read{value}: {why}", path=path, line=line) from None


# What PyYAML raises for a scalar it cannot build: ValueError (a date 2026-13-45), and for
# an explicit tag on the wrong text (`!!timestamp soon`, `!!bool maybe`, `!!int ''`) the
# AttributeError, KeyError or IndexError of its constructor's own code.
_UNBUILDABLE = (ValueError, AttributeError, KeyError, IndexError)


def _not_a(tag: str) -> str:
    return f"not a valid {tag.replace('tag:yaml.org,2002:', '!!')}"


def _first_unbuildable(node: yaml.Node) -> yaml.ScalarNode | None:
    import yaml

    loader = yaml.SafeLoader("")  # the failed one is left mid-build
    stack: list[yaml.Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.ScalarNode):
            try:
                loader.construct_object(current)
            except _UNBUILDABLE:
                return current
        elif isinstance(current.value, list):
            stack.extend(reversed(_children(current.value)))
    return None


def _text(path: Path, meta: dict[str, Any], pairs: Pairs, key: str) -> str | None:
    """A text field: a string; a number, date or yes/no as written; None when absent."""
    import yaml

    value = meta.get(key)
    if value is None or isinstance(value, str):
        return value
    _, value_node = pairs.get(key, (None, None))
    if isinstance(value_node, yaml.ScalarNode):
        return str(value_node.value)  # `subject: 1.10` means "1.10", not the float 1.1
    raise InputError(f"'{key}' must be text", path=path, line=_line(pairs, key))


def _line(pairs: Pairs, key: str) -> int | None:
    found = pairs.get(key)
    return found[0].start_mark.line + 1 if found else None


def _refuse_reserved_keys(path: Path, text: str, meta: dict[str, Any]) -> None:
    """Extra front-matter keys reach the template as variables: its own names are taken."""
    for key in meta:
        if not isinstance(key, str):
            raise InputError(f"front matter: key {key!r} must be a name", path=path)
        if key in TEMPLATE_VARIABLES:
            line = next(
                (
                    n
                    for n, ln in enumerate(text.splitlines(), 1)
                    if re.match(rf"{re.escape(key)}\s*:", ln)
                ),
                None,
            )
            names = ", ".join(sorted(TEMPLATE_VARIABLES))
            raise InputError(
                f"front matter: '{key}' is reserved for the template ({names}); rename it",
                path=path,
                line=line,
            )


def _instalment(
    path: Path, meta: dict[str, Any], pairs: Pairs, body: str, body_line: int
) -> Instalment:
    title = _title(path, meta, pairs)
    subject = (_text(path, meta, pairs, "subject") or "").strip() or title
    check_header_value("subject", subject, str(path))
    return Instalment(
        number=_number(path, meta, pairs),
        title=title,
        subject=subject,
        body=body,
        path=path,
        status=_status(path, meta, pairs),
        preheader=(_text(path, meta, pairs, "preheader") or "").strip(),
        release=_release(path, meta.get("release"), _line(pairs, "release")),
        body_line=body_line,
        extra={k: v for k, v in meta.items() if k not in KNOWN_KEYS},
    )


def _title(path: Path, meta: dict[str, Any], pairs: Pairs) -> str:
    if "title" not in meta:
        raise InputError("front matter needs a 'title'", path=path, line=2)
    title = (_text(path, meta, pairs, "title") or "").strip()
    if not title:
        raise InputError("'title' is empty", path=path, line=_line(pairs, "title"))
    return title


def _status(path: Path, meta: dict[str, Any], pairs: Pairs) -> DraftStatus:
    given = _text(path, meta, pairs, "status") if "status" in meta else "draft"
    try:
        return DraftStatus((given or "").strip().lower())
    except ValueError:
        raise InputError(
            f"'status' must be draft or ready, not {given or ''!r}",
            path=path,
            line=_line(pairs, "status"),
        ) from None


def _number(path: Path, meta: dict[str, Any], pairs: Pairs) -> int:
    value = meta.get("number")
    if value is None:
        match = NUMBER_PREFIX.match(path.name)
        if not match:
            raise InputError(
                "no 'number' in front matter and no NN- prefix in the file name", path=path
            )
        number = int(match.group(1))
        if not 1 <= number <= MAX_NUMBER:
            raise InputError(
                f"the number in the file name must be from 1 to {MAX_NUMBER}, not {number}",
                path=path,
            )
        return number
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_NUMBER:
        raise InputError(
            f"'number' must be a whole number from 1 to {MAX_NUMBER}, not {value!r}",
            path=path,
            line=_line(pairs, "number"),
        )
    return value


def require_part_number(number: int) -> int:
    """`number` if a part can have it; else the error a command given it reports."""
    if not 1 <= number <= MAX_NUMBER:
        raise InputError(
            f"no instalment number {number}: parts are numbered from 1 to {MAX_NUMBER}",
            hint="seriespub status lists them",
        )
    return number


def _release(path: Path, value: Any, line: int | None) -> dt.datetime | None:
    """A pinned `release:`, refused here (file:line) unless within the calendar's years: the
    one check, so no command that reads drafts, calendar or not, takes one it cannot plan."""
    when = _release_time(path, value, line)
    if when is not None and not in_calendar_years(when):
        raise InputError(f"'release' must be {YEARS}, not {when}", path=path, line=line)
    return when


def _release_time(path: Path, value: Any, line: int | None) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(9, 0))
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise InputError(
            f"'release' must be a date and time like 2026-12-01 09:00, not {value!r}",
            path=path,
            line=line,
        ) from None


# Latin letters with no accent for NFKD to strip: spelled out, not dropped ("Größe": grosse).
_SPELLED = str.maketrans(
    {"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O"}
    | {"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th"}
    | {"ı": "i"}
)


def slugify(title: str) -> str:
    """`title` as a file name and URL segment: ASCII letters, digits and hyphens."""
    text = unicodedata.normalize("NFKD", title.translate(_SPELLED))
    text = text.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "instalment"


def new_draft(folder: Path, title: str) -> Path:
    """Write the next numbered draft (status: draft) and return its path; never replaces."""
    title = _new_title(title)
    text = (
        f'---\ntitle: {yaml_string(title)}\nstatus: draft\npreheader: ""\n---\n\n'
        "Write the instalment here.\n"
    )
    folder.mkdir(parents=True, exist_ok=True)
    with _numbering(folder):
        remove_cut_short_drafts(folder)  # a killed `new`'s temp file: no live writer now
        path = folder / f"{_next_number(folder):02d}-{slugify(title)}.md"
        _create(path, text)
    return path


@contextmanager
def _numbering(folder: Path) -> Iterator[None]:
    """An exclusive flock on the drafts folder itself while a number is picked and its file
    made: two `new` at once (two terminals, a script) wait in turn instead of both taking
    the same number under two titles. The kernel drops it when the process dies."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise InputError(
            f"cannot read the drafts folder: {os_words(exc)}",
            path=folder,
            hint=os_hint(exc, folder),
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _create(path: Path, text: str) -> None:
    """Write a draft that must not exist yet, whole or not at all (`seriespub.newfiles`)."""
    try:
        create_new(path, text)  # a link never replaces: a race loses, not a draft
    except FileExistsError:
        raise InputError("already exists; nothing was changed", path=path) from None
    except OSError as exc:
        raise InputError(
            f"cannot write the draft: {os_words(exc)}; nothing was left behind",
            path=path,
            hint=os_hint(exc, path),
        ) from None


def _new_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise InputError('the title is empty: give one, e.g. seriespub new "Part two"')
    check_header_value("title", title)
    if not is_utf8(title):
        raise InputError(f"the title {title!r} is not UTF-8 text")
    return title


def _next_number(folder: Path) -> int:
    """One past every draft: those that load (their own `number:` counts) and every NN- file,
    loading or not, so that a broken draft is never numbered over."""
    if not folder.is_dir():
        return 1
    prefixed = [int(m.group(1)) for p in folder.glob("*.md") if (m := NUMBER_PREFIX.match(p.name))]
    loaded = [i.number for i in load_drafts(folder, strict=False).instalments]
    number = max([*prefixed, *loaded], default=0) + 1
    if number > MAX_NUMBER:
        raise InputError(f"no number left: parts are numbered from 1 to {MAX_NUMBER}", path=folder)
    return number
