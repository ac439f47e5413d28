"""`seriespub schedule` as library calls: the release calendar, its iCalendar file, and the
lines that run `send due` unattended (cron, a systemd user timer, GitHub Actions).

The calendar is read through a read-only session (`ops.session`): it changes nothing. Only
`write_ics` writes, and only the file the author named, under `seriespub.outputs`' rules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from seriespub import (
    __version__,
    installers,
    notices,
    outputs,
    promises,
    publishing,
    schedule,
    tracks,
)
from seriespub import tracking as tracks_ops
from seriespub.config import INBOX_PASSWORD
from seriespub.drafts import DraftSet
from seriespub.errors import InputError
from seriespub.ics import export_ics
from seriespub.ops.session import Session, utc_now
from seriespub.previouskeys import PREVIOUS_ENV
from seriespub.schedule import PlannedRelease, format_local, relative
from seriespub.scheduling import calendar as plan_of
from seriespub.series import Series

__all__ = [
    "Calendar",
    "Install",
    "PlannedRelease",
    "ReaderCalendar",
    "calendar",
    "format_local",
    "ics_data",
    "install",
    "reader_calendar",
    "relative",
    "write_ics",
]


@dataclass(frozen=True)
class Calendar:
    title: str
    timezone: str
    releases: list[PlannedRelease]
    now: dt.datetime
    warnings: list[str]

    def as_json(self) -> dict[str, object]:
        return {"timezone": self.timezone, "releases": [_release_json(p) for p in self.releases]}


def _release_json(p: PlannedRelease) -> dict[str, object]:
    """One release; a held part's time is `held_until`, its `sent_at` null (nobody has it)."""
    held = p.status is schedule.ReleaseStatus.HELD
    when = p.sent_at.isoformat() if p.sent_at else None
    return {
        "number": p.number,
        "title": p.title,
        "release": p.release.isoformat(),
        "status": p.status.value,
        "pinned": p.pinned,
        "ready": p.ready,
        "sent_at": None if held else when,
        "held_until": when if held else None,
    }


def calendar(session: Session) -> Calendar:
    """Every instalment's release at the session's `now`, and what looks wrong with it."""
    s, drafts = session.series, session.drafts(strict=False)
    publishing.warn_sent_without_draft(s, drafts, session.ledger)
    releases = plan_of(s, drafts, session.ledger, session.now)
    return Calendar(
        s.settings.series.title,
        s.settings.schedule.timezone,
        _held_shown_as_held(releases, session.ledger.held_only(session.now)),
        session.now,
        schedule.warnings(releases, session.now)
        + schedule.skip_warnings(s.settings.schedule, session.now),
    )


def _held_shown_as_held(releases: list[PlannedRelease], held: set[int]) -> list[PlannedRelease]:
    """A part the provider holds (`send next --at`) has reached nobody: shown as held, at
    the time it is held until, never as sent (`send cancel` may still withdraw it)."""
    return [
        dataclasses.replace(p, status=schedule.ReleaseStatus.HELD) if p.number in held else p
        for p in releases
    ]


@dataclass(frozen=True)
class ReaderCalendar:
    """One reader's own coming parts (`seriespub.tracks`), as if every send goes as planned."""

    email: str
    cohort: str  # front | late
    received: list[int]
    parts: list[tuple[int, str, dt.datetime]]  # number, title, slot
    # The front's draft the next slot's send waits for (`status`'s "once part N is ready"):
    # the parts at `waits_at` go out once it is ready, none before (but those due now).
    waits_for: int | None = None
    waits_at: dt.datetime | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "email": self.email,
            "cohort": self.cohort,
            "received": self.received,
            "parts": [
                {"number": n, "title": t, "release": w.isoformat()} for n, t, w in self.parts
            ],
            "waits_for": self.waits_for,
        }


def reader_calendar(session: Session, address: str) -> ReaderCalendar:
    """`schedule --reader`: the parts `address` gets next and when, as the next sends give
    them: a front part still a draft when the next send takes it up holds the whole round
    until the next slot (`promises.draft_ahead`); InputError if `address` is unknown."""
    s, drafts = session.series, session.drafts(strict=False)
    found = tracks_ops.find(session, address)
    if found is None:
        raise InputError(
            f"{address} is not in {s.subscribers_path.name}",
            hint="seriespub subscribers list shows who is",
        )
    releases = plan_of(s, drafts, session.ledger, session.now)
    by_number = {p.number: p for p in releases}
    given = tracks_ops.inputs(session, drafts, None)
    reader = tracks_ops.one_reader(session, found, given.latest, given.slot)
    received = sorted(reader.has)
    how = tracks_ops.mode(session)
    cohort = "front" if tracks.is_front(reader, given.part_one, how) else "late"
    titles = {p.number: p.title for p in releases}
    # What the next `send due` gives them now (a slot passed before cron's run, a reader
    # back since the last slot): those parts now, and the rest planned from there.
    due = promises.due_now(session, drafts, by_number, reader)
    now_parts: list[int] = []
    released = list(given.released)
    if due is not None and found.status.value == "active":
        after = next(tracks_ops.once_sent([reader], due, given.part_one, how))
        now_parts, reader = sorted(after.has - reader.has), after
        released = sorted(set(released) | set(due.front_parts))
    unsent = [p for p in releases if p.sent_at is None and p.number not in released]
    fronts = {p.number: p.release for p in unsent}
    # A draft the next send takes up holds the round: nothing (but what is due now) before
    # the next slot, where it goes once ready, and the parts after it move from there.
    front_now = promises.front_due(session, drafts, by_number)
    at = tracks_ops.next_slot(session)
    waits = promises.draft_ahead(session, drafts, front_now, at, by_number)
    start = session.now
    if waits is not None and at is not None:
        fronts |= _fronts_once_ready(session, drafts, front_now, waits, at)
        start = at
    slots = itertools.islice(
        itertools.dropwhile(lambda w: w < start, schedule.slot_times(s.settings.schedule)),
        520,
    )
    # Due now: at the current time, in the series' zone as every other time shown.
    now_local = session.now.astimezone(schedule.zone(s.settings.schedule.timezone))
    coming = [(n, now_local) for n in now_parts] + tracks.reader_calendar(
        reader,
        released=released,
        upcoming=[p.number for p in unsent],
        slots=slots,
        now=session.now,
        part_one=given.part_one or (releases[0].release if releases else None),
        fronts=fronts,
        mode=how,
        held=given.held,
    )
    if found.status.value != "active":
        coming = []  # unsubscribing stops the track
    if not any(w == at for _, w in coming):
        waits = None  # nothing of theirs waits for it
    parts = [(n, titles.get(n, ""), w) for n, w in coming]
    return ReaderCalendar(found.key, cohort, received, parts, waits, at if waits else None)


@dataclass(frozen=True)
class _Went:
    """A send record as if a part went out at `started_at` (`schedule.SendRecord`)."""

    started_at: dt.datetime | None
    finished_at: dt.datetime | None


def _fronts_once_ready(
    session: Session, drafts: DraftSet, front_now: tuple[int, ...], waits: int, at: dt.datetime
) -> dict[int, dt.datetime]:
    """When the front gets part `waits` (a draft the next send waits for) and each part
    after it: `waits` at `at`, the next slot, and the others where the calendar puts them
    once it went out then (`schedule.plan`: one cadence later; with catch_up = "all", their
    own slots, those passed by then in its run); `front_now` go out now."""
    records: dict[int, schedule.SendRecord] = dict(session.ledger.instalment_records())
    for number in front_now:
        records[number] = _Went(session.now, session.now)
    records[waits] = _Went(at, at)
    moved = schedule.plan(drafts.instalments, records, session.series.settings.schedule, at)
    return {p.number: max(p.release, at) for p in moved if p.number >= waits}


def ics_data(cal: Calendar) -> bytes:
    """The releases as an iCalendar document."""
    return export_ics(cal.releases, cal.title, cal.timezone, cal.now)


def write_ics(series: Series, cal: Calendar, path: Path) -> None:
    """Export the releases as an iCalendar file (`seriespub.outputs`: never over the
    series' own files, nor over a file that is not a calendar); a bad path is one line."""
    outputs.write_output(series, path, ics_data(cal), outputs.CALENDAR)


@dataclass(frozen=True)
class Install:
    """Ready-to-paste lines for each way of running `send due` unattended."""

    crontab: str
    units: dict[str, str]  # file name → text, for ~/.config/systemd/user/
    enable_hint: str
    workflow: str  # .github/workflows/seriespub.yml
    secrets: list[str]  # repository secrets the workflow needs
    requirement: str | None  # what the workflow pip-installs; None: could not tell
    source: str  # where that came from, or why it could not be told
    # Secrets set in this shell's environment but not in .env: cron and systemd miss them.
    shell_only: list[str] = field(default_factory=list)
    # The series' unsubscribe key is the one generated into .seriespub/secret: the job's
    # SERIESPUB_SECRET must be that key, which is never committed.
    generated_key: Path | None = None  # the key file, when it is the one the series uses


def pinned_releases(series: Series) -> dict[int, dt.datetime]:
    """Each draft's pinned `release:` (part → aware, in the series' zone); drafts that do
    not load are left out (`check` and `schedule` say why), as is a missing drafts folder."""
    try:
        with notices.muted():
            drafts = publishing.drafts_of(series, strict=False)
    except InputError:
        return {}
    tz = schedule.zone(series.settings.schedule.timezone)
    return {
        i.number: schedule.localize(i.release, tz)
        for i in drafts.instalments
        if i.release is not None
    }


def install(series: Series, repo_path: str | None = None, python: str = sys.executable) -> Install:
    """The lines for `series`; `repo_path` is its folder inside its git repository
    (default: worked out from the nearest `.git`)."""
    _require_one_line(series.root, python)
    command = shlex.join([python, "-m", "seriespub"])
    secrets = [
        *installers.secret_names(series.settings.delivery.provider),
        # A send reads the inbox first, where tokens made with replaced keys come too.
        *([INBOX_PASSWORD] if series.settings.inbox is not None else []),
        *([PREVIOUS_ENV] if series.secrets.get(PREVIOUS_ENV) is not None else []),
    ]
    cron = (
        installers.github_cron(series.settings.schedule)
        if series.settings.schedule.first_release
        else "0 * * * *"
    )
    spec = installers.installed_spec(series.settings.schedule.install, __version__)
    site = series.settings.site
    workflow = installers.github_workflow(
        repo_path or path_in_repo(series.root),
        secrets=secrets,
        cron=cron,
        pinned=installers.pinned_runs(cron, pinned_releases(series), utc_now()),
        install=spec.requirement,
        site_dir=site.out_dir if site.base_url else None,
    )
    source = spec.source if spec.requirement else (spec.problem or spec.source)
    names = list(dict.fromkeys(["SERIESPUB_SECRET", *secrets]))
    return Install(
        installers.crontab_line(series.root, command),
        installers.systemd_units(series.root, command),
        installers.systemd_enable_hint(series.root),
        workflow,
        names,
        spec.requirement,
        source,
        # The previous keys too: an unattended send reads the inbox, where old tokens come.
        series.secrets.only_in_environment([*names, PREVIOUS_ENV]),
        _generated_key(series),
    )


def _require_one_line(folder: Path, python: str) -> None:
    """cron and systemd read one entry per line: a line break in the series' folder (or the
    interpreter's path) would split the crontab line and the unit files."""
    for what, text in (("the series folder", str(folder)), ("the Python it runs", python)):
        if "\n" in text or "\r" in text:
            raise InputError(
                f"{what} has a line break in its path ({text!r}): cron and systemd read one "
                "entry per line, so no line can run it",
                hint="move the series to a folder whose name has no line break",
            )


def _generated_key(series: Series) -> Path | None:
    """The generated key file, when it is the key the series sends with."""
    if series.secrets.get("SERIESPUB_SECRET") is None and series.key_path.exists():
        return series.key_path
    return None


def repository_of(root: Path) -> Path:
    """The git repository holding the series folder `root` (the nearest `.git`), else
    `root` itself."""
    folder = root
    while folder != folder.parent:
        if (folder / ".git").exists():
            return folder
        folder = folder.parent
    return root


def path_in_repo(root: Path) -> str:
    """The series folder `root` as the workflow names it: relative to its repository."""
    return root.relative_to(repository_of(root)).as_posix() or "."
