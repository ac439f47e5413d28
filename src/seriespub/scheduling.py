"""The calendar applied to a series: what is due now, and provider-side release times."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from seriespub import schedule
from seriespub.drafts import DraftSet
from seriespub.errors import ConfigError, InputError
from seriespub.ledger import Ledger
from seriespub.models import Instalment
from seriespub.providers import scheduling_hint
from seriespub.providers.spec import describe_ahead
from seriespub.schedule import PlannedRelease
from seriespub.series import Series

if TYPE_CHECKING:
    from seriespub.providers import Provider


def has_calendar(series: Series) -> bool:
    return series.settings.schedule.first_release is not None


def calendar(
    series: Series, drafts: DraftSet, ledger: Ledger, now: dt.datetime
) -> list[PlannedRelease]:
    """Every instalment's release; a ConfigError with a hint when no calendar is set up."""
    if not has_calendar(series):
        raise ConfigError(
            "no [schedule] first_release",
            where=str(series.config_path),
            hint="add [schedule] with first_release = 2027-01-05T09:00:00 and "
            'timezone = "Europe/London"',
        )
    return schedule.plan(
        drafts.instalments, ledger.instalment_records(), series.settings.schedule, now
    )


def releases_by_number(
    series: Series, drafts: DraftSet, ledger: Ledger, now: dt.datetime
) -> dict[int, PlannedRelease]:
    """The calendar keyed by number, or empty when the series has none."""
    if not has_calendar(series):
        return {}
    return {p.number: p for p in calendar(series, drafts, ledger, now)}


def provider_send_time(
    series: Series,
    provider: Provider,
    instalment: Instalment,
    at: str,
    release: PlannedRelease | None = None,
    now: dt.datetime | None = None,
) -> dt.datetime:
    """`--at` → an aware UTC time the provider can hold the send until."""
    now = now or dt.datetime.now(dt.UTC)
    ahead = provider.max_schedule_ahead
    if ahead is None:
        raise InputError(
            f"the {provider.name} provider cannot hold messages until a time",
            hint=f"providers that can: {scheduling_hint()}; or run `seriespub send due` from cron",
        )
    if at == "slot":
        if release is None:
            raise InputError(
                f"part {instalment.number} has no slot: set up [schedule] first",
                hint="add [schedule] with first_release and timezone to seriespub.toml, or "
                "give a time: seriespub send next --at '2026-12-01 09:00'",
            )
        when = release.release
        if when <= now:
            raise InputError(
                f"part {instalment.number}'s slot ({schedule.format_local(when)}) has passed",
                hint=f"send it now with: {schedule.SEND_NOW}",
            )
    else:
        when = schedule.parse_when(at, series.settings.schedule.timezone, now)
    if when - now > ahead:
        raise InputError(
            f"{schedule.format_local(when)} is too far ahead: {provider.name} "
            f"holds messages for at most {describe_ahead(ahead)}",
            hint="give a nearer time, or send it when it is due: seriespub send next then "
            "(or seriespub send due from cron)",
        )
    return when.astimezone(dt.UTC)
