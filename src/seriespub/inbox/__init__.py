"""Unsubscribe requests, bounces and complaints read from the author's inbox over IMAP.

    report = sync_inbox(series, warn=print)   # None when [inbox] is not configured

Guarantees:
- only messages that changed or confirmed a reader's state are moved to `done_folder`;
  everything else stays where it was, unread state included (all reads are BODY.PEEK);
- a request or report names a reader only through their token or an address on the list: a
  forged unsubscribe (no token, a wrong one) changes nothing and stays in the inbox;
- a bounce or complaint about another series' message is left for that series: its
  returned List-Id says so, or, when it returns no headers, the Message-IDs it quotes
  (derived per series) are none this series gave the reader;
- an unsubscribe request whose subject carries another series' tag (the mailto: link of a
  series sharing the key, where the reader's token is the same) is left for that series;
- marks are written before the messages are moved, and are idempotent, so a crash between
  the two, or a second run, changes nothing more;
- a message that cannot be read is skipped with a warning, never a traceback;
- tokens match under the key in use and every previous key (`keyguard.verifying_keys`);
- under another unsubscribe key than the series sent with (`seriespub.keyguard`), a warning
  says so: readers' tokens cannot match, and their requests stay in the inbox; when a request
  is left after a change of keys whose old key is not kept, a warning says how to keep it.
  Reading the inbox never makes a key.
"""

from __future__ import annotations

import functools
import hashlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from seriespub import subscribers
from seriespub.config import INBOX_PASSWORD
from seriespub.inbox.apply import Marks, apply
from seriespub.inbox.classify import (
    NO_VALID_TOKEN,
    Bounce,
    Complaint,
    Ignored,
    Lookup,
    Outcome,
    Unreadable,
    Unsubscribe,
    classify,
)
from seriespub.inbox.imap import InboxError, open_inbox
from seriespub.inbox.settings import verp_pattern
from seriespub.series import Series

if TYPE_CHECKING:
    from seriespub.message import UnsubscribeKey

__all__ = ["InboxError", "InboxReport", "sync_inbox"]

Warn = Callable[[str], None]


@dataclass
class InboxReport:
    changed: int = 0  # rows of subscribers.csv changed
    unsubscribed: int = 0
    bounced: int = 0  # permanent bounces read
    soft_bounced: int = 0  # temporary bounces read
    complained: int = 0
    failed_deliveries: int = 0  # ledger rows marked failed
    moved: int = 0
    left: int = 0  # candidates left in the folder
    refused_requests: int = 0  # unsubscribe requests left: no token of a reader's matched
    warnings: list[str] = field(default_factory=list)


def sync_inbox(series: Series, warn: Warn | None = None) -> InboxReport | None:
    """Read `[inbox]`, mark readers, move what was processed; None if not configured."""
    settings = series.settings.inbox
    if settings is None:
        return None
    password = series.secrets.require(INBOX_PASSWORD, "[inbox]")
    report, marks, done = InboxReport(), Marks(), []
    key_changed = _warn_of_key(series, report, warn)
    kept = _kept_series_id(series)
    lookup = _lookup(series, by_message_id=kept is not None or not key_changed, series_id=kept)
    with open_inbox(settings, password, _tls(series), _extra_terms(series)) as inbox:
        uids = inbox.candidates()
        for fetched in inbox.fetch(uids):
            key = hashlib.sha256(fetched.raw).hexdigest()[:16]
            if _take(
                classify(fetched.raw, lookup),
                marks,
                report,
                key,
                f"{inbox.where} UID {fetched.uid}",
                warn,
            ):
                done.append(fetched.uid)
        applied = apply(series, marks)
        inbox.move(done)
    if report.refused_requests and not key_changed:  # else said before reading
        _warn_of_earlier_key(series, report, warn)
    report.changed, report.failed_deliveries = applied.changed, applied.failed_deliveries
    report.moved, report.left = len(done), len(uids) - len(done)
    return report


def _take(
    outcomes: list[Outcome],
    marks: Marks,
    report: InboxReport,
    key: str,
    where: str,
    warn: Warn | None,
) -> bool:
    """Add a message's outcomes to `marks`; True when it was processed (to be moved)."""
    processed = False
    for outcome in outcomes:
        if isinstance(outcome, Unreadable):
            report.warnings.append(f"{where}: skipped: {outcome.why}")
            if warn:
                warn(report.warnings[-1])
        elif isinstance(outcome, Unsubscribe | Complaint | Bounce):
            marks.add(outcome, key)
            processed = True
            _count(outcome, report)
        elif isinstance(outcome, Ignored) and outcome.why:
            if outcome.why == NO_VALID_TOKEN:
                report.refused_requests += 1
            if warn:
                warn(f"{where}: left in place: {outcome.why}")
    return processed


def _warn_of_key(series: Series, report: InboxReport, warn: Warn | None) -> bool:
    """Warn when the key differs from the one the series sent with; True if it does."""
    from seriespub import keyguard

    changed = keyguard.key_changed(series)
    if changed is not None:
        _warning(report, warn, f"{changed}: token unsubscribes are left in the inbox")
    return changed is not None


def _warn_of_earlier_key(series: Series, report: InboxReport, warn: Warn | None) -> None:
    """Requests were left: say so when a key replaced on purpose, not kept, may be why."""
    from seriespub import keyguard

    missing = keyguard.earlier_key_missing(series)
    if missing is not None:
        _warning(report, warn, f"{missing}: their unsubscribe requests are left in the inbox")


def _warning(report: InboxReport, warn: Warn | None, text: str) -> None:
    report.warnings.append(text)
    if warn:
        warn(text)


def _count(outcome: Unsubscribe | Complaint | Bounce, report: InboxReport) -> None:
    if isinstance(outcome, Unsubscribe):
        report.unsubscribed += 1
    elif isinstance(outcome, Complaint):
        report.complained += 1
    elif outcome.permanent:
        report.bounced += 1
    else:
        report.soft_bounced += 1


def _kept_series_id(series: Series) -> str | None:
    """The series id its ledger kept from the first send (its Message-IDs derive from it
    whatever the title, sender or key are now); None: none kept, or no readable ledger."""
    from seriespub.errors import SeriespubError
    from seriespub.ledger import Ledger

    if not series.ledger_path.exists():
        return None
    try:
        with Ledger.open(series.ledger_path, readonly=True) as ledger:
            return ledger.series_id()
    except SeriespubError:
        return None


def _lookup(series: Series, by_message_id: bool, series_id: str | None = None) -> Lookup:
    """Token → address and address → address over the whole list, built on first use; the
    series' List-Id; its delivery ids and its mailto: tag unless `by_message_id` is False
    (under another key than the series sent with, none would match: reports are read as if
    they quoted none, requests as if untagged), from `series_id` when the ledger kept one."""
    from seriespub.keyguard import verifying_keys
    from seriespub.message import (
        delivery_id_of,
        list_id_of,
        sender_address,
        sender_domain,
        series_id_of,
        series_tag,
    )

    tokens: dict[str, str] = {}
    addresses: set[str] = set()
    # The key in use (never made here: a new key matches no token and no delivery id), then
    # the previous ones, whose tokens match too; read now, so that a bad previous key is one
    # error before the inbox is opened, not a warning per message.
    keys = verifying_keys(series)

    def key() -> UnsubscribeKey:
        return keys[0]

    def load() -> None:
        if addresses:
            return
        for row in subscribers.iter_subscribers(
            series.subscribers_path, subscribers.ProblemTally()
        ):
            address = row.email.lower()
            addresses.add(address)
            tokens.update((k.token(address), address) for k in keys)

    def by_token(token: str) -> str | None:
        load()
        return tokens.get(token)

    def by_address(address: str) -> str | None:
        load()
        return address.lower() if address.lower() in addresses else None

    about = series.settings.series
    list_id = list_id_of(about.title, sender_domain(about.from_))
    if not by_message_id:
        return Lookup(by_token, by_address, list_id)
    own = series_id or series_id_of(key(), about.title, sender_address(about.from_))
    return Lookup(
        by_token,
        by_address,
        list_id,
        functools.partial(delivery_id_of, own),
        series_tag(own),
    )


def _tls(series: Series) -> ssl.SSLContext:
    from seriespub.errors import ConfigError
    from seriespub.providers.smtp_connect import tls_context

    ca_file = series.settings.inbox.ca_file if series.settings.inbox else None
    path = series.root / ca_file if ca_file else None
    try:
        return tls_context(path)
    except OSError as exc:
        raise ConfigError(f"'inbox.ca_file': cannot load {path}: {exc.strerror}") from None


def _extra_terms(series: Series) -> tuple[tuple[str, ...], ...]:
    """Bounces sent to the VERP address, whatever their subject says."""
    bounce = series.settings.delivery.smtp.bounce_address
    if not bounce or verp_pattern(bounce) is None:
        return ()
    return (("TO", bounce.partition("{token}")[0]),)
