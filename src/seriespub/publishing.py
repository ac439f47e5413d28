"""The author's operations as library calls: load, render, open the ledger, build a provider.

The CLI parses its options, calls these, and renders the results; tests and scripts can call
them directly. Nothing here knows about the terminal.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seriespub.drafts import DraftSet, load_drafts, read_draft
from seriespub.errors import InputError
from seriespub.ledger import Ledger
from seriespub.message import PreparedMessage
from seriespub.models import Instalment
from seriespub.providers import Provider, ProviderContext, make_provider
from seriespub.render.email import RenderInputs, prepare
from seriespub.series import Series


def drafts_of(series: Series, strict: bool = True) -> DraftSet:
    return load_drafts(series.drafts_dir, strict=strict)


@contextmanager
def open_ledger(series: Series) -> Iterator[Ledger]:
    with Ledger.open(series.ledger_path) as ledger:
        yield ledger


def resolve(series: Series, drafts: DraftSet, ref: str, ledger: Ledger | None = None,
            ) -> Instalment:
    """`next`, a number, or a path to a draft → the instalment it names."""
    if ref == "next":
        from seriespub.sending import choose_next

        if ledger is None:
            with open_ledger(series) as own:
                return choose_next(drafts.instalments, own)
        return choose_next(drafts.instalments, ledger)
    if ref.isdigit():
        found = drafts.by_number(int(ref))
        if found is None:
            raise InputError(f"no instalment number {ref} in {series.drafts_dir}",
                             hint="seriespub status lists them")
        return found
    path = Path(ref)
    if not path.is_file():
        raise InputError("no such draft", path=ref, hint="give next, a number, or a draft file")
    return read_draft(path)


def render(series: Series, drafts: DraftSet, instalment: Instalment) -> PreparedMessage:
    """Render an instalment once, with the next instalment's title for the teaser."""
    schedule = series.settings.schedule
    cadence = schedule.every_weeks if schedule.first_release is not None else None
    inputs = RenderInputs(series.settings.series, series.unsubscribe_secret(),
                          drafts.after(instalment.number), series.template_path, cadence)
    message = prepare(instalment, inputs)
    from seriespub.checking import require_known_fields  # checking imports this module

    require_known_fields(series, instalment, message)     # what `check` refuses, send does
    return message


def provider_for(series: Series, name: str | None = None) -> Provider:
    """The configured provider (or `name`), built with the series' secrets."""
    chosen = name or series.settings.delivery.provider
    context = ProviderContext(series.settings, series.secrets, series.state_dir)
    return make_provider(chosen, context)


def ensure_ready(instalment: Instalment) -> None:
    if not instalment.is_ready:
        raise InputError(
            f"part {instalment.number} ({instalment.title!r}) is still a draft",
            path=instalment.path,
            hint=f"when it is ready, set 'status: ready' in its front matter "
                 f"({os.path.relpath(instalment.path)})")
