"""`seriespub check` as a library call: every finding about a series, counted.

Reads only (settings, drafts, the rendered messages, the subscriber list); changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seriespub.checking import check_series, config_finding
from seriespub.render.checks import Finding, Level
from seriespub.series import Series

if TYPE_CHECKING:
    from seriespub.ops.session import Session

__all__ = ["CheckOutcome", "Finding", "Level", "check"]


@dataclass(frozen=True)
class CheckOutcome:
    findings: list[Finding]

    @property
    def errors(self) -> int:
        return sum(f.level is Level.ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors

    def as_json(self) -> dict[str, object]:
        return {
            "errors": self.errors,
            "warnings": self.warnings,
            "findings": [
                {"level": f.level.value, "where": f.where, "message": f.message}
                for f in self.findings
            ],
        }


def check(series: Series, now: dt.datetime | None = None) -> CheckOutcome:
    """Drafts, links, images, size and the subscriber list, in the order to fix them; then
    a release calendar that cannot be worked out, an unsubscribe key that is not the one
    the series sent with, the late joiners held back because their next part is still
    a draft, and a GitHub Actions workflow that installs another seriespub or starts no run
    at a pinned release."""
    from seriespub.ops.session import utc_now

    when = now or utc_now()  # one clock for the calendar and the workflow findings
    return CheckOutcome(
        check_series(series) + _session_findings(series, when) + _workflow_findings(series, when)
    )


def _workflow_findings(series: Series, now: dt.datetime) -> list[Finding]:
    """A workflow of the series' repository that installs another seriespub than the one
    `schedule install` would write now (an upgrade since): an older one refuses a ledger
    this one has written (its schema), so the job stops at its next release."""
    from seriespub import __version__, installers
    from seriespub.ops.calendar import path_in_repo, repository_of

    repo = repository_of(series.root)
    flows = repo / ".github" / "workflows"
    found = sorted([*flows.glob("*.yml"), *flows.glob("*.yaml")]) if flows.is_dir() else []
    if not found:
        return []
    wanted = installers.installed_spec(series.settings.schedule.install, __version__).requirement
    problems = _missed_pinned_releases(series, found, now, path_in_repo(series.root))
    for path in found:
        installed = installers.workflow_install(path, path_in_repo(series.root))
        if installed is not None and wanted is not None and installed != wanted:
            problems.append(
                Finding(
                    Level.WARNING,
                    str(path),
                    f"its runner installs {installed}, not this seriespub ({wanted}): once "
                    "this one writes the ledger an older one refuses it; run `seriespub "
                    "schedule install` again and commit the workflow",
                )
            )
    return problems


def _missed_pinned_releases(
    series: Series, found: list[Path], now: dt.datetime, series_path: str
) -> list[Finding]:
    """A workflow that starts no run at a pinned release still ahead (a part pinned after
    it was installed): the part would go out at its next run, up to an hour late."""
    from seriespub import installers
    from seriespub.ops.calendar import pinned_releases
    from seriespub.schedule import format_local

    flows: dict[Path, list[str]] = {}
    for path in found:
        crons = installers.workflow_crons(path, series_path)
        if crons:
            flows[path] = crons
    if not flows:
        return []
    problems = []
    for part, when in sorted(pinned_releases(series).items()):
        if when <= now:
            continue
        for path, crons in flows.items():
            if not any(installers.cron_fires_at(c, when) for c in crons):
                problems.append(
                    Finding(
                        Level.WARNING,
                        str(path),
                        f"no run of it starts at part {part}'s pinned release "
                        f"({format_local(when)}): it would go out at the next run, up to an "
                        "hour late; run `seriespub schedule install` again and commit the "
                        "workflow",
                    )
                )
    return problems


def _session_findings(series: Series, now: dt.datetime) -> list[Finding]:
    from seriespub import notices
    from seriespub.errors import SeriespubError
    from seriespub.ops.session import session
    from seriespub.tracking import draft_warnings

    try:
        # A draft that does not load is already an error above: no warning about it too.
        with notices.muted(), session(series, "check", now=now, readonly=True) as held:
            problems = _calendar_problems(held)
            lines = [] if problems else draft_warnings(held)
            problems += [] if problems else _skip_findings(held)
            problems = _lost_pages(held) + problems
            problems += _key_problems(held)
    except SeriespubError:
        return []  # an unreadable list or ledger is reported by the checks above
    held_back = [Finding(Level.WARNING, str(series.drafts_dir), line) for line in lines]
    return problems + held_back


def _skip_findings(held: Session) -> list[Finding]:
    """Coming `skip` dates that skip nothing (`schedule.skip_warnings`), at the config."""
    from seriespub import schedule

    s = held.series
    if s.settings.schedule.first_release is None:
        return []
    where = str(s.config_path)
    return [
        Finding(Level.WARNING, where, line)
        for line in schedule.skip_warnings(s.settings.schedule, held.now)
    ]


def _lost_pages(held: Session) -> list[Finding]:
    """Sent parts without a draft, with `[site]`: the build refuses them (`site.build`)."""
    from seriespub.site.build import lost_pages
    from seriespub.site.urls import read_record

    s = held.series
    if s.settings.site.base_url is None:
        return []
    records = held.ledger.instalment_records()
    lost = lost_pages(s, held.drafts(strict=False), records, read_record(s.state_dir))
    if lost is None:
        return []
    where = str(s.drafts_dir)
    return [Finding(Level.ERROR, where, str(lost).removeprefix(f"{where}: "))]


def _key_problems(held: Session) -> list[Finding]:
    """A send would be refused: the key in use is not the one readers' links were made
    with (`seriespub.keyguard`); or a previous key is too short to verify tokens with."""
    from seriespub import keyguard
    from seriespub.errors import ConfigError

    try:
        held.series.previous_unsubscribe_secrets()
    except ConfigError as exc:  # named at the variable, or the file that holds the key
        return [config_finding(exc, str(held.series.config_path))]
    found = keyguard.problem(held.series, held.ledger)
    return [] if found is None else [Finding(Level.ERROR, str(held.series.ledger_path), found)]


def _calendar_problems(held: Session) -> list[Finding]:
    """The calendar's own error (a draft's release out of range, a grid that ends) as a
    finding: every command that plans releases would stop on it."""
    from seriespub.errors import ConfigError, InputError
    from seriespub.scheduling import releases_by_number

    s = held.series
    try:
        releases_by_number(s, held.drafts(strict=False), held.ledger, held.now)
    except InputError as exc:
        where = str(exc.path or s.drafts_dir)
        return [Finding(Level.ERROR, where, str(exc).removeprefix(f"{where}: "))]
    except ConfigError as exc:
        return [config_finding(exc, str(s.config_path))]
    return []
