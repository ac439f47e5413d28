"""The author's operations as library calls: load, render, open the ledger, build a provider.

The CLI parses its options, calls these, and renders the results; tests and scripts can call
them directly. Nothing here knows about the terminal.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from seriespub import notices, runlog
from seriespub.drafts import DraftSet, load_drafts, read_draft
from seriespub.errors import InputError
from seriespub.ledger import Ledger
from seriespub.models import Instalment
from seriespub.pathtext import shown
from seriespub.providers import ProviderContext, make_provider
from seriespub.series import Series
from seriespub.statefiles import not_a_folder, tighten_folder

if TYPE_CHECKING:
    from seriespub.message import PreparedMessage
    from seriespub.providers import Provider


def drafts_of(series: Series, strict: bool = True) -> DraftSet:
    """The series' drafts. Not `strict` (a report): those that do not load are left out, and
    a warning names each one with why, so that a part never silently takes another's place."""
    drafts = load_drafts(series.drafts_dir, strict=strict)
    for problem in drafts.problems:
        notices.warn(f"{problem} (left out)")
    return drafts


def warn_sent_without_draft(series: Series, drafts: DraftSet, ledger: Ledger) -> None:
    """A warning for each published part (`site.published`: sent, or on the site) that has
    no loaded draft or whose draft is set back to `status: draft`: a report leaves the
    first out, and `site` refuses to build over either; neither should pass silently."""
    from seriespub.site import published
    from seriespub.site.urls import read_record

    on_site = published.on_the_site(series.state_dir, read_record(series.state_dir))
    for part in published.stranded(drafts.instalments, ledger.instalment_records(), on_site):
        notices.warn(f"{part.named()} {part.done} but {_why_warned(series, part.missing)}")


def _why_warned(series: Series, missing: bool) -> str:
    if missing:
        return f"has no draft in {series.drafts_dir} (left out; restore it, e.g. from git)"
    return "is set back to status: draft (site keeps its page; set 'status: ready')"


@contextmanager
def open_ledger(series: Series, *, readonly: bool = False) -> Iterator[Ledger]:
    """The series' ledger; `readonly` for commands that only report (creates nothing).

    A missing ledger starts a new series only when nothing shows that the series has sent
    before: the run log records a due or sent instalment, or the outbox holds messages of a
    real send (`NNN/`, not the `NNN-test/` of `send test`). The unsubscribe key and the lock
    file are not evidence (`send test` makes the key without sending, as `preview` and a dry
    run of earlier versions did);
    an *empty* ledger file is refused whatever the rest of the folder holds.
    """
    state = series.state_dir
    if os.path.lexists(state) and not state.is_dir():
        raise not_a_folder(state)
    history = None if series.ledger_path.exists() else sent_before(series)
    if not readonly:
        tighten_folder(state)  # a write is when loose modes of an older version go
    with Ledger.open(series.ledger_path, readonly=readonly, history=history) as ledger:
        yield ledger


def sent_before(series: Series) -> str | None:
    """What shows that this series has sent before (None when nothing does)."""
    wal = Path(f"{series.ledger_path}-wal")
    if wal.exists() and wal.stat().st_size:  # an empty one is what a read leaves behind
        return f"its write-ahead log {wal.name} still holds deliveries"
    for event in runlog.read(series.state_dir):
        if event.get("event") in ("due", "sent") and event.get("instalment") is not None:
            return (
                f"the run log ({runlog.log_path(series.state_dir)}) records part "
                f"{event['instalment']} as {event['event']}"
            )
    for folder in _entries(series.outbox_dir, lambda e: e.name.isdigit() and e.is_dir()):
        if _entries(Path(folder), lambda e: e.name.endswith(".eml"), first=True):
            return f"the outbox holds sent messages ({folder})"
    return None


def _entries(
    folder: Path, wanted: Callable[[os.DirEntry[str]], bool], *, first: bool = False
) -> list[str]:
    """Paths in `folder` that are `wanted` (only the first with `first`); none if unreadable
    (no outbox: another provider)."""
    found = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if wanted(entry):
                    found.append(entry.path)
                    if first:
                        break
    except OSError:
        return []
    return sorted(found)


def resolve(
    series: Series,
    drafts: DraftSet,
    ref: str,
    ledger: Ledger | None = None,
) -> Instalment:
    """`next`, a number, or a path to a draft → the instalment it names."""
    if ref == "next":
        from seriespub.sending import choose_next

        if ledger is None:
            with open_ledger(series, readonly=True) as own:
                return choose_next(drafts.instalments, own)
        return choose_next(drafts.instalments, ledger)
    if ref.isdigit():
        found = drafts.by_number(int(ref))
        if found is None:
            raise InputError(
                f"no instalment number {ref} in {series.drafts_dir}",
                hint="seriespub status lists them",
            )
        return found
    if not ref.strip():
        raise InputError("no instalment given", hint="give next, a number, or a draft file")
    path = Path(ref)
    if not path.is_file():
        raise InputError("no such draft", path=ref, hint="give next, a number, or a draft file")
    return read_draft(path)


def render(
    series: Series,
    drafts: DraftSet,
    instalment: Instalment,
    *,
    create_key: bool = True,
    pin_urls: bool | None = None,
) -> PreparedMessage:
    """Render an instalment once, with the next instalment's title for the teaser.

    `create_key=False` for what only looks (a dry run, `preview`, `check`): with no
    unsubscribe key yet, the links use a throwaway one and nothing is written
    (`Series.unsubscribe_secret`). What sends keeps the default, which also pins the
    site URLs the email links to (`site.urls.email_links`); `pin_urls=False` for a send
    only the author gets (`send test`): a draft renamed before readers get it still counts.
    """
    from seriespub.render.email import RenderInputs, prepare  # not for reports

    schedule = series.settings.schedule
    cadence = schedule.every_weeks if schedule.first_release is not None else None
    from seriespub.site.urls import email_links

    base_url = series.settings.site.base_url
    pin = create_key if pin_urls is None else pin_urls
    links = email_links(base_url, series.state_dir, drafts, instalment, pin=pin)
    inputs = RenderInputs(
        series.settings.series,
        series.unsubscribe_secret(create=create_key),
        drafts.after(instalment.number),
        series.template_path,
        cadence,
        links,
    )
    message = prepare(instalment, inputs)
    from seriespub.checking import require_known_fields  # checking imports this module

    require_known_fields(series, instalment, message)  # what `check` refuses, send does
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
            f"({shown(instalment.path)})",
        )
