"""Stable page URLs: `NN-slug/`, the slug fixed the first time a part is published.

The slug comes from the draft's file name (`03-what-teams-told-us.md` → `what-teams-told-us`),
which authors rarely rename; once recorded in `.seriespub/site.json` a renamed file or a new
title changes nothing. Emails ask here too, so "view in browser" names the page the site will
build. A send pins its URLs while a build may record its own: both change the record under
`.seriespub/site.json.lock` (held for a read and a small write; a second waits), where a slug
already recorded always wins, and where the temp file of a writer killed mid-write goes.
The record also keeps the date each page first went up (`released`), so a page stays dated
as readers saw it even if a calendar change later moves its unsent part's slot ahead, and
what each part's page and feed entry last showed (`content`, kept by `site.edits`), so an
edit is dated by the build that published it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from seriespub.drafts import NUMBER_PREFIX, DraftSet, slugify
from seriespub.errors import InputError
from seriespub.models import Instalment
from seriespub.statefiles import FILE_MODE, open_private, private_dir

if TYPE_CHECKING:
    from seriespub.render.email import SiteLinks

# Writing the record and making emails' links import what reading it does not (the message
# machinery, `secrets`): `status` and `check` only read it.

RECORD_NAME = "site.json"
RECORD_LOCK_NAME = "site.json.lock"


def slug_from_file(instalment: Instalment) -> str:
    """The draft's file name without its number and extension, as a URL segment."""
    stem = NUMBER_PREFIX.sub("", instalment.path.stem, count=1)
    return slugify(stem or instalment.title)


def page_dir(number: int, slug: str) -> str:
    """`01-slug`: the page's folder in the site (its URL is base_url + this + "/")."""
    return f"{number:02d}-{slug}"


def read_record(state_dir: Path) -> dict[int, str]:
    """The slugs published so far (number → slug); empty before the first build."""
    return _numbered(_read_raw(state_dir), "slugs")


def read_released(state_dir: Path) -> dict[int, dt.datetime]:
    """When each page first went up (number → aware time); unreadable values are left out."""
    dates = {}
    for number, text in _numbered(_read_raw(state_dir), "released").items():
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            continue
        if when.tzinfo is not None:
            dates[number] = when
    return dates


def read_shown(state_dir: Path) -> dict[int, object]:
    """What builds recorded of each part's content (number → the JSON value, unchecked:
    `site.edits` reads it)."""
    return {int(k): v for k, v in _content_of(_read_raw(state_dir)).items() if k.isdigit()}


def _read_raw(state_dir: Path) -> dict[str, object]:
    path = state_dir / RECORD_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot read the published URLs: {exc}",
            path=path,
            hint="restore it from git; deleting it may change published URLs",
        ) from None
    return raw if isinstance(raw, dict) else {}


def _numbered(raw: Mapping[str, object], key: str) -> dict[int, str]:
    values = raw.get(key)
    if not isinstance(values, dict):
        return {}
    return {int(k): str(v) for k, v in values.items() if str(k).isdigit()}


def record_slugs(
    state_dir: Path,
    slugs: Mapping[int, str],
    released: Mapping[int, dt.datetime] | None = None,
    shown: Mapping[int, object] | None = None,
) -> dict[int, str]:
    """Add `slugs` (and first `released` dates) to the record atomically, a value already
    recorded winning, and `shown` (what a build published of each part), replacing what was
    recorded of those parts; the slugs as they now are. Unchanged content leaves the file
    untouched."""
    from seriespub.outputs import remove_cut_short, write_whole

    path = state_dir / RECORD_NAME
    with _record_locked(state_dir):
        remove_cut_short(path)  # of a writer killed mid-write: every writer holds this lock
        raw = _read_raw(state_dir)
        record, dates = _numbered(raw, "slugs"), _numbered(raw, "released")
        merged = {**slugs, **record}
        new_dates = {**{n: w.isoformat() for n, w in (released or {}).items()}, **dates}
        content = _content_of(raw)
        content.update({str(n): v for n, v in (shown or {}).items()})
        data = dict(raw)  # a key this version does not know is kept
        if merged or "slugs" in raw:
            data["slugs"] = {str(k): merged[k] for k in sorted(merged)}
        if new_dates:
            data["released"] = {str(k): new_dates[k] for k in sorted(new_dates)}
        if content:
            data["content"] = {k: content[k] for k in sorted(content, key=_by_number)}
        if data != raw:
            text = json.dumps(data, indent=1) + "\n"
            write_whole(path, text.encode("utf-8"), mode=FILE_MODE)
    return merged


def _content_of(raw: Mapping[str, object]) -> dict[str, object]:
    values = raw.get("content")
    return {str(k): v for k, v in values.items()} if isinstance(values, dict) else {}


def _by_number(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (-1, key)


@contextmanager
def _record_locked(state_dir: Path) -> Iterator[None]:
    private_dir(state_dir)
    fd = open_private(state_dir / RECORD_LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the kernel drops it when its holder dies
        yield
    finally:
        os.close(fd)


def slug_for(instalment: Instalment, record: Mapping[int, str]) -> str:
    return record.get(instalment.number) or slug_from_file(instalment)


def page_url(base_url: str, number: int, slug: str) -> str:
    return f"{base_url}{page_dir(number, slug)}/"


def email_links(
    base_url: str | None,
    state_dir: Path,
    drafts: DraftSet,
    instalment: Instalment,
    *,
    pin: bool = False,
) -> SiteLinks | None:
    """The "view in browser" URL and the earlier ready parts' URLs; None without `[site]`.

    `pin` (what sends): the URLs given to readers are recorded now, not at the next build,
    so a draft renamed before that build keeps the page where readers' links point."""
    if base_url is None:
        return None
    record = read_record(state_dir)
    linked = [i for i in drafts.instalments if i.number < instalment.number and i.is_ready]
    slugs = {i.number: slug_for(i, record) for i in [*linked, instalment]}
    if pin and not slugs.items() <= record.items():
        record = record_slugs(state_dir, slugs)
        slugs = {n: record[n] for n in slugs}  # a build may have recorded one meanwhile
    earlier = tuple(
        (i.number, i.title, page_url(base_url, i.number, slugs[i.number])) for i in linked
    )
    from seriespub.render.email import SiteLinks

    return SiteLinks(page_url(base_url, instalment.number, slugs[instalment.number]), earlier)
