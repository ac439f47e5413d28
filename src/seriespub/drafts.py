"""drafts/*.md → ordered instalments (Markdown with YAML front matter)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seriespub.errors import InputError
from seriespub.headers import check_header_value
from seriespub.models import DraftStatus, Instalment
from seriespub.render import TEMPLATE_VARIABLES
from seriespub.textfiles import read_text

NUMBER_PREFIX = re.compile(r"^(\d+)[-_ ]")
KNOWN_KEYS = {"title", "subject", "preheader", "number", "status", "release"}


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
    import frontmatter
    import yaml

    text = read_text(path)
    try:
        meta, body = frontmatter.parse(text)
    except yaml.YAMLError as exc:
        # Where the broken construct starts (context) beats where the parser gave up.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None  # the YAML starts after "---"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"front matter: {problem}", path=path, line=line) from None
    body_line = text[: len(text) - len(body)].count("\n") + 1 if body else 1
    _refuse_reserved_keys(path, text, meta)
    return _instalment(path, dict(meta), body, body_line)


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


def _instalment(path: Path, meta: dict[str, Any], body: str, body_line: int) -> Instalment:
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise InputError("front matter needs a 'title'", path=path, line=2)
    subject = str(meta.get("subject") or title).strip()
    check_header_value("subject", subject, str(path))
    status_text = str(meta.get("status", "draft")).strip().lower()
    try:
        status = DraftStatus(status_text)
    except ValueError:
        raise InputError(
            f"status must be 'draft' or 'ready', not {status_text!r}", path=path
        ) from None
    return Instalment(
        number=_number(path, meta),
        title=title.strip(),
        subject=subject,
        body=body,
        path=path,
        status=status,
        preheader=str(meta.get("preheader") or "").strip(),
        release=_release(path, meta.get("release")),
        body_line=body_line,
        extra={k: v for k, v in meta.items() if k not in KNOWN_KEYS},
    )


def _number(path: Path, meta: dict[str, Any]) -> int:
    value = meta.get("number")
    if value is None:
        match = NUMBER_PREFIX.match(path.name)
        if not match:
            raise InputError(
                "no 'number' in front matter and no NN- prefix in the file name", path=path
            )
        return int(match.group(1))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"'number' must be a whole number from 1, not {value!r}", path=path)
    return value


def _release(path: Path, value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(9, 0))
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise InputError(
            f"'release' must be a date and time like 2026-12-01 09:00, not {value!r}", path=path
        ) from None


def slugify(title: str) -> str:
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "instalment"


def new_draft(folder: Path, title: str) -> Path:
    """Write the next numbered draft (status: draft) and return its path."""
    check_header_value("title", title)
    existing = load_drafts(folder, strict=False).instalments if folder.is_dir() else []
    number = max((i.number for i in existing), default=0) + 1
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{number:02d}-{slugify(title)}.md"
    safe_title = title.replace('"', '\\"')
    path.write_text(
        f'---\ntitle: "{safe_title}"\nstatus: draft\npreheader: ""\n---\n\n'
        "Write the instalment here.\n",
        encoding="utf-8",
    )
    return path
