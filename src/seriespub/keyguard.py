"""The unsubscribe key a series sends with, as its ledger remembers it.

Every reader's unsubscribe links, and the tokens the inbox matches, verify only under the key
they were made with. The ledger keeps the key's fingerprint (`UnsubscribeKey.fingerprint`: 64
bits of an HMAC under the key, of a label of its own). It reveals nothing of the key and
forges no token; a guess at the key can be checked against it, but as well against any
reader's own token. It is never shown.

Guarantees:
- the first real send records it (`send test` too: its links are real); a ledger from
  before this record, its next real send;
- a real send (`send next|retry|due|test`) with another key, or with no key at all while
  readers hold links, is refused before anything is written, sent or generated;
- keys change only on purpose (`accept_new`: `--new-unsubscribe-key`), recorded at once;
- while no reader holds a link (nothing has gone out), the key in use is simply recorded;
- `problem` and `key_changed` only read: for `check`, a dry run, and the tokens an
  unsubscribe endpoint or the inbox brings (which fail to match under another key: they
  say why, and the inbox's stay there);
- tokens verify under the key in use and every previous key (`verifying_keys`,
  `seriespub.previouskeys`), which never make one. A key replaced on purpose is kept there
  when seriespub holds it (the generated `.seriespub/secret`, which the option also renews
  when no SERIESPUB_SECRET is set); one from SERIESPUB_SECRET only the author can keep, in
  SERIESPUB_SECRET_PREVIOUS. The ledger remembers the fingerprints of replaced keys, so a
  token refused for want of one says how to accept it again (`earlier_key_missing`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from seriespub import previouskeys
from seriespub.errors import ConfigError, SeriespubError
from seriespub.ledger import Ledger
from seriespub.message import UnsubscribeKey
from seriespub.series import STATE_DIR, Series

ACCEPT_OPTION = "--new-unsubscribe-key"
KEEP_OLD_LINKS = (
    f"to keep them working, set the old key in {previouskeys.PREVIOUS_ENV} (in .env or the "
    "environment; keys there verify tokens and never make one)"
)


def require_same_key(
    series: Series, ledger: Ledger, command: str, *, accept_new: bool = False
) -> str | None:
    """Refuse (`refuse_other_key`) a send whose key is not the one recorded, unless
    `accept_new`; then record the key in use. Returns what to tell the author when a key
    that readers' links were made with was replaced (None otherwise)."""
    if not accept_new:
        refuse_other_key(series, ledger, command)
    recorded = ledger.key_fingerprint()
    if accept_new and recorded is not None:
        _keep_generated_key(series, recorded)
    current = UnsubscribeKey(series.unsubscribe_secret()).fingerprint()
    if current == recorded:
        return None
    parts = ledger.parts_with_links() if recorded is not None else []
    ledger.record_key_fingerprint(current, replaced=recorded if parts else None)
    if not parts or recorded is None:
        return None
    changed = f"unsubscribe key changed on purpose ({_source(series)}): the unsubscribe links in "
    if recorded in _previous_prints(series):
        return changed + f"{_parts(parts)} keep working (the old key is a previous key)"
    return changed + f"{_parts(parts)} no longer work; {KEEP_OLD_LINKS}"


def verifying_keys(series: Series) -> list[UnsubscribeKey]:
    """Every key a token sent may be made with: the one in use (never created here: with
    none yet, a throwaway that matches no token), then the previous ones."""
    secrets = [series.unsubscribe_secret(create=False), *series.previous_unsubscribe_secrets()]
    return [UnsubscribeKey(secret) for secret in secrets]


def _keep_generated_key(series: Series, recorded: str) -> None:
    """On a change on purpose, the generated key the links were made with goes to
    .seriespub/secret.previous; with no SERIESPUB_SECRET a new one replaces it (the change
    asked for). A key that is not the recorded one was never in readers' links."""
    path = series.key_path
    if _generated_print(series) != recorded:
        return
    if series.secrets.get("SERIESPUB_SECRET") is not None:
        previouskeys.keep(series.state_dir, path.read_bytes().strip())
    else:
        previouskeys.replace_generated(path)


def _previous_prints(series: Series) -> set[str]:
    return {UnsubscribeKey(k).fingerprint() for k in series.previous_unsubscribe_secrets()}


def refuse_other_key(series: Series, ledger: Ledger, command: str = "send next") -> None:
    """ConfigError, with what to do (`command`: the send to repeat with ACCEPT_OPTION),
    when a real send would break readers' links; reads only and creates no key (`send
    test` calls it first, and records the key only when none is recorded yet)."""
    found = problem(series, ledger)
    if found is not None:
        recorded = ledger.key_fingerprint()
        raise ConfigError(f"{found}; nothing was sent", hint=hint(series, command, recorded))


def problem(series: Series, ledger: Ledger) -> str | None:
    """What a real send would be refused for (reads only, creates no key), or None."""
    recorded = ledger.key_fingerprint()
    found = None if recorded is None else _mismatch(series, ledger, recorded)
    return None if found is None else ": ".join(found)


def key_changed(series: Series) -> str | None:
    """Why no token sent can match here ("the unsubscribe key … differs from the one part 1
    was sent with"), from the series' ledger opened read-only; None when the key is the
    one recorded or a previous key is, or when the ledger cannot be read (the commands
    that send say so)."""
    try:
        with _read_ledger(series) as ledger:
            recorded = None if ledger is None else ledger.key_fingerprint()
            if ledger is None or recorded is None or recorded in _previous_prints(series):
                return None
            found = _mismatch(series, ledger, recorded)
    except SeriespubError:
        return None
    return None if found is None else found[0]


def earlier_key_missing(series: Series) -> str | None:
    """Why tokens made before a change on purpose cannot match here (the replaced key is
    no previous key), with how to accept them again; None when every replaced key is kept."""
    try:
        with _read_ledger(series) as ledger:
            earlier = [] if ledger is None else ledger.earlier_key_fingerprints()
            kept = {k.fingerprint() for k in verifying_keys(series)} if earlier else set()
    except SeriespubError:
        return None
    if all(fingerprint in kept for fingerprint in earlier):
        return None
    return (
        "the unsubscribe key was changed on purpose and the earlier one is not kept, so "
        f"tokens made with it cannot match; {KEEP_OLD_LINKS}"
    )


@contextlib.contextmanager
def _read_ledger(series: Series) -> Iterator[Ledger | None]:
    """The ledger opened read-only, None when there is none (nothing was sent)."""
    if not series.ledger_path.exists():
        yield None
        return
    with Ledger.open(series.ledger_path, readonly=True) as ledger:
        yield ledger


def _mismatch(series: Series, ledger: Ledger, recorded: str) -> tuple[str, str] | None:
    """(why the key here is not `recorded`, what that does to a send) while readers hold
    links; None when it is, or when no reader holds a link yet."""
    here = series.has_unsubscribe_key()
    if here and UnsubscribeKey(series.unsubscribe_secret()).fingerprint() == recorded:
        return None
    parts = ledger.parts_with_links()
    if not parts:
        return None
    sent = f"{_parts(parts)} {'was' if len(parts) == 1 else 'were'} sent with"
    if not here:
        return (
            f"no unsubscribe key here (SERIESPUB_SECRET is not set and {STATE_DIR}/secret "
            f"is missing), but {sent} one",
            "a new key would stop readers' unsubscribe links working",
        )
    if recorded in _previous_prints(series):
        return (
            f"the unsubscribe key ({_source(series)}) differs from the one {sent} (a "
            "previous key now, so readers' links keep working)",
            f"keys change only with {ACCEPT_OPTION}",
        )
    return (
        f"the unsubscribe key ({_source(series)}) differs from the one {sent}",
        "readers' unsubscribe links would stop working",
    )


def hint(series: Series, command: str = "send next", recorded: str | None = None) -> str:
    """What to do about a `problem`; `command`: the send that accepts a new key; `recorded`:
    the fingerprint the ledger keeps, when known. The generated key the links were made
    with, still in .seriespub/secret beside a new SERIESPUB_SECRET, is kept by the option
    itself (`_keep_generated_key`): the author need not copy it anywhere."""
    where = "SERIESPUB_SECRET (e.g. in .env or the CI job's secrets)"
    if series.secrets.get("SERIESPUB_SECRET") is None:
        where += f" or restore {STATE_DIR}/secret"
    elif recorded is not None and _generated_print(series) == recorded:
        return (
            f"set the key the series sent with: unset SERIESPUB_SECRET, or give it the "
            f"content of {STATE_DIR}/secret; to change keys on purpose: seriespub {command} "
            f"{ACCEPT_OPTION} (the links already sent keep working: the key in "
            f"{STATE_DIR}/secret they were made with is kept as a previous key)"
        )
    return (
        f"set the key the series sent with: {where}; to change keys on purpose: seriespub "
        f"{command} {ACCEPT_OPTION} (to keep the links already sent working, set the old "
        f"key in {previouskeys.PREVIOUS_ENV} first)"
    )


def _generated_print(series: Series) -> str | None:
    """The fingerprint of the generated key in .seriespub/secret, None without one."""
    try:
        key = series.key_path.read_bytes().strip()
    except OSError:
        return None
    return UnsubscribeKey(key).fingerprint() if key else None


def _source(series: Series) -> str:
    if series.secrets.get("SERIESPUB_SECRET") is not None:
        return "SERIESPUB_SECRET"
    return f"{STATE_DIR}/secret"


def _parts(numbers: list[int]) -> str:
    """[1, 2, 3, 5] → 'parts 1–3 and 5'; [2] → 'part 2'."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    shown = [f"{r[0]}–{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs]
    if len(numbers) == 1:
        return f"part {shown[0]}"
    listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
    return f"parts {listed}"
