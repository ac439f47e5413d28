"""`seriespub check` as a library call: every finding about a series, counted.

Reads only (settings, drafts, the rendered messages, the subscriber list); changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from seriespub.checking import check_series
from seriespub.render.checks import Finding, Level
from seriespub.series import Series

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
    the late joiners held back because their next part is still a draft."""
    return CheckOutcome(check_series(series) + _held_late_joiners(series, now))


def _held_late_joiners(series: Series, now: dt.datetime | None) -> list[Finding]:
    from seriespub import notices
    from seriespub.errors import SeriespubError
    from seriespub.ops.session import session, utc_now
    from seriespub.tracking import draft_warnings

    try:
        # A draft that does not load is already an error above: no warning about it too.
        with notices.muted(), session(series, "check", now=now or utc_now(), readonly=True) as held:
            lines = draft_warnings(held)
    except SeriespubError:
        return []  # an unreadable list or ledger is reported by the checks above
    return [Finding(Level.WARNING, str(series.drafts_dir), line) for line in lines]
