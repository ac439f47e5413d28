"""Stable page URLs: `NN-slug/`, the slug fixed the first time a part is published.

The slug comes from the draft's file name (`03-what-teams-told-us.md` → `what-teams-told-us`),
which authors rarely rename; once recorded in `.seriespub/site.json` a renamed file or a new
title changes nothing. Emails ask here too, so "view in browser" names the page the site will
build.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from seriespub.drafts import NUMBER_PREFIX, DraftSet, slugify
from seriespub.errors import InputError
from seriespub.models import Instalment
from seriespub.outputs import write_whole
from seriespub.render.email import SiteLinks

RECORD_NAME = "site.json"


def slug_from_file(instalment: Instalment) -> str:
    """The draft's file name without its number and extension, as a URL segment."""
    stem = NUMBER_PREFIX.sub("", instalment.path.stem, count=1)
    return slugify(stem or instalment.title)


def page_dir(number: int, slug: str) -> str:
    """`01-slug`: the page's folder in the site (its URL is base_url + this + "/")."""
    return f"{number:02d}-{slug}"


def read_record(state_dir: Path) -> dict[int, str]:
    """The slugs published so far (number → slug); empty before the first build."""
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
    slugs = raw.get("slugs", {}) if isinstance(raw, dict) else {}
    return {int(k): str(v) for k, v in slugs.items() if str(k).isdigit()}


def write_record(state_dir: Path, slugs: Mapping[int, str]) -> None:
    """Record the slugs atomically; unchanged content leaves the file untouched."""
    path = state_dir / RECORD_NAME
    text = json.dumps({"slugs": {str(k): slugs[k] for k in sorted(slugs)}}, indent=1) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    write_whole(path, text.encode("utf-8"))


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
        write_record(state_dir, {**record, **slugs})
    earlier = tuple(
        (i.number, i.title, page_url(base_url, i.number, slugs[i.number])) for i in linked
    )
    return SiteLinks(page_url(base_url, instalment.number, slugs[instalment.number]), earlier)
