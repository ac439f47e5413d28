"""`seriespub site`: the released parts → a folder of static files, written only where changed.

A rebuild compares each file's bytes and rewrites only those that differ, and removes the
files an earlier build wrote that the site no longer has (listed in `.seriespub/site-files.json`);
anything else in the folder (a CNAME, a .nojekyll the author added) is left alone. A file the
site needs that exists, is not empty and was not written by a build (the author's own
`style.css`) is refused before anything is written. The list is extended before the first
write, so files of a build cut short are still known as ours.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from seriespub.drafts import DraftSet
from seriespub.errors import ConfigError, InputError
from seriespub.ledger import InstalmentRecord, Ledger
from seriespub.outputs import check_not_own, remove_cut_short, write_whole
from seriespub.series import Series
from seriespub.site import edits, published, urls
from seriespub.site.content import Part, released_parts
from seriespub.site.pages import EPOCH, SiteInputs, render_site
from seriespub.statefiles import FILE_MODE

MANIFEST = published.MANIFEST


@dataclass
class BuildResult:
    out_dir: Path
    parts: list[Part]
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def files(self) -> int:
        return len(self.written) + self.unchanged


def require_site(series: Series) -> str:
    """The base URL, or a ConfigError saying how to set up `[site]`."""
    base_url = series.settings.site.base_url
    if base_url is None:
        raise ConfigError(
            "no [site] base_url",
            where=str(series.config_path),
            hint='add [site] with base_url = "https://example.org/series/"',
        )
    return base_url


def out_dir_of(series: Series) -> Path:
    """The `[site] out_dir`; InputError if it leads (through a symlink) to the series' own
    files or folders (`seriespub.outputs`)."""
    out = series.root / series.settings.site.out_dir
    check_not_own(series, out, hint=_OUT_HINT)
    return out


_OUT_HINT = "make [site] out_dir a folder of its own (not a symlink into the series' folders)"


def site_files(
    series: Series, drafts: DraftSet, ledger: Ledger, now: dt.datetime
) -> tuple[list[Part], dict[str, str]]:
    """The released parts and every file of the site (nothing is written)."""
    from seriespub.render.wording import wording
    from seriespub.scheduling import releases_by_number

    base_url = require_site(series)
    settings = series.settings
    releases = releases_by_number(series, drafts, ledger, now)
    slugs = urls.read_record(series.state_dir)
    records = ledger.instalment_records()
    lost = lost_pages(series, drafts, records, slugs)
    if lost is not None:
        raise lost
    notes = wording(settings.series.language, settings.series.title, None).notes
    parts = released_parts(
        drafts.instalments,
        records,
        releases,
        slugs,
        now,
        notes,
        _kept(series, slugs, ledger, records),
        ledger.held_only(now),
    )
    parts = edits.dated(parts, _recorded_shown(series), now)
    inputs = SiteInputs(
        settings.series,
        base_url,
        settings.site.subscribe,
        settings.schedule.timezone,
        len(drafts.instalments),
        _set_up(series),
    )
    return parts, render_site(parts, inputs)


def _recorded_shown(series: Series) -> dict[int, edits.Shown]:
    """What earlier builds published of each part; entries this one cannot trust left out."""
    recorded = {n: edits.from_json(v) for n, v in urls.read_shown(series.state_dir).items()}
    return {n: shown for n, shown in recorded.items() if shown is not None}


def _set_up(series: Series) -> dt.datetime:
    """When the series' settings last changed (seriespub.toml's modification time)."""
    try:
        return dt.datetime.fromtimestamp(series.config_path.stat().st_mtime, dt.UTC)
    except OSError:  # read a moment ago: gone since, the build says so elsewhere
        return EPOCH


def _kept(
    series: Series, slugs: dict[int, str], ledger: Ledger, records: dict[int, InstalmentRecord]
) -> dict[int, dt.datetime]:
    """The pages up now and when each first went up: a calendar change that moves an unsent
    part's slot ahead, or a held send (withdrawn or not), must not take down a page readers
    may hold a link to."""
    on_site = published.on_the_site(series.state_dir, slugs)
    recorded = urls.read_released(series.state_dir)
    kept = {n: recorded.get(n) or _date_of_older_build(ledger, records, n) for n in on_site}
    return {n: when for n, when in kept.items() if when is not None}


def _date_of_older_build(
    ledger: Ledger, records: dict[int, InstalmentRecord], number: int
) -> dt.datetime | None:
    """The date a build from before `site.json` kept dates gave a page still up: when its
    send started or was held for (such a build put a held part up at hand-over)."""
    record = records.get(number)
    if record is not None and record.started_at is not None:
        return record.started_at
    return ledger.last_held_for(number)


# What a send refused for a lost page says (`sending`): the site cannot be built then.
_SEND_UNBUILT = (
    "the site cannot be built until it is restored, so this send's "
    '"View in browser" link would land on no page'
)


def lost_pages(
    series: Series,
    drafts: DraftSet,
    records: dict[int, InstalmentRecord],
    slugs: dict[int, str],
    *,
    sending: bool = False,
) -> InputError | None:
    """The error for published parts (`site.published`) the drafts no longer publish, or
    None: building without them would drop their pages and break every reader's link.
    `sending`: said of a send, whose new page no build could then put up."""
    on_site = published.on_the_site(series.state_dir, slugs)
    lost = published.stranded(drafts.instalments, records, on_site)
    if not lost:
        return None
    base_url = require_site(series)
    named = "; ".join(_lost_part(base_url, p, slugs.get(p.number)) for p in lost)
    pages = "its page" if len(lost) == 1 else "their pages"
    why = _SEND_UNBUILT if sending else f"a build would drop {pages} and break readers' links"
    return InputError(f"{named}: {why}", path=series.drafts_dir, hint=_lost_hint(lost))


def _lost_part(base_url: str, part: published.Stranded, slug: str | None) -> str:
    where = urls.page_url(base_url, part.number, slug) if slug else "URL not recorded yet"
    return f"{part.named()} ({where}) {part.why}"


def _lost_hint(lost: list[published.Stranded]) -> str:
    fixes = []
    if any(p.missing for p in lost):
        fixes.append(
            "restore the draft under the same number (e.g. git checkout -- drafts/), "
            "or fix it if it does not load; a new file name keeps the URL; to take down a "
            "page no email links to, restore it with 'status: draft'"
        )
    if not all(p.missing for p in lost):
        fixes.append(
            "set 'status: ready' again: its emails cannot be recalled, so its page "
            "stays; change its text if it must say something else"
        )
    return "; ".join(fixes)


def write_site(series: Series, parts: list[Part], files: dict[str, str]) -> BuildResult:
    """Write `files` into the out folder (changed ones only) and record the published URLs."""
    out = out_dir_of(series)
    result = BuildResult(out, parts)
    before = published.written_before(series.state_dir)
    for name in sorted(files):
        check_not_own(series, out / name, hint=_OUT_HINT)  # a symlinked subfolder, too
        if name not in before:
            _refuse_if_authors(out / name, files[name].encode("utf-8"))
    urls.record_slugs(
        series.state_dir,
        {p.number: p.slug for p in parts},
        {p.number: p.released for p in parts},
        {n: shown.as_json() for n, shown in edits.shown(parts).items()},
    )
    remove_cut_short(series.state_dir / MANIFEST)  # only a build writes it, under its lock
    _record_written(series, before | set(files))
    for name in sorted(files):
        remove_cut_short(out / name)  # of a build killed mid-write: never published
        if _write_if_changed(out / name, files[name].encode("utf-8")):
            result.written.append(name)
        else:
            result.unchanged += 1
    result.removed = _remove_stale(series, out, before, set(files))
    return result


def _refuse_if_authors(path: Path, data: bytes) -> None:
    """InputError if `path` holds something of the author's that writing `data` would lose."""
    try:
        held = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    if held and held != data:
        raise InputError(
            "already exists and is not a file seriespub wrote",
            path=path,
            hint="move it out of the way (the site has a file of this name), "
            "or set [site] out_dir to a folder of its own",
        )


def _write_if_changed(path: Path, data: bytes) -> bool:
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder: {exc.strerror}", path=path.parent) from None
    write_whole(path, data, durable=False)  # a page lost to a power cut is rebuilt next time
    return True


def _record_written(series: Series, names: set[str]) -> None:
    manifest = series.state_dir / MANIFEST
    text = json.dumps(sorted(names), indent=0) + "\n"
    if not manifest.exists() or manifest.read_text(encoding="utf-8") != text:
        # Whole or not at all: a torn list would make every earlier page look like the
        # author's own file, refused by every later build.
        write_whole(manifest, text.encode("utf-8"), mode=FILE_MODE)


def _remove_stale(series: Series, out: Path, before: set[str], current: set[str]) -> list[str]:
    """Files an earlier build wrote that this one did not; then the new list is recorded."""
    # Only names this build could have written: a tampered list removes nothing outside.
    removed = sorted(
        n for n in before - current if ".." not in Path(n).parts and not Path(n).is_absolute()
    )
    for name in removed:
        path = out / name
        check_not_own(series, path, hint=_OUT_HINT)
        remove_cut_short(path)  # or a killed build's temp keeps the folder (and is published)
        path.unlink(missing_ok=True)
        if path.parent != out and not any(path.parent.iterdir()):
            path.parent.rmdir()
    _record_written(series, current)
    return removed
