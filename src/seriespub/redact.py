"""The one scrubber: no configured secret is ever printed or stored, in any encoding.

Guarantee: once a secret has been registered, `scrub` replaces it with `***` — the raw
value, its URL-encoded forms (`%XX` in either case, `+` for spaces), its JSON- and
HTML-escaped forms (JSON's is IMAP's quoted string too), how a Python repr of a str or
bytes shows it or its JSON-escaped form (an exception's message quoting a server), its
base64 (standard and URL-safe, padded or not), and the base64 of any text that holds it
(HTTP Basic `user:secret`, SMTP AUTH PLAIN `\\0user\\0secret` and LOGIN) — and so does
every run of base64-looking text that decodes to something holding a
registered secret (two levels deep: base64 of base64). A secret cut short at the end of a
text (a reason truncated to a length) is scrubbed too, and so is an AWS SigV4 signature.

Secrets are registered when they are read (`config.Secret`: every value taken from the
environment or `.env`) and when a provider builds credentials from them (`register_basic_auth`,
`register_sasl_plain`). Everything seriespub prints or stores about a failure goes through
here: `SeriespubError` (message, hint, reason), `RecipientResult.reason`, the ledger's
reasons, the run log, and the CLI's `fail` and `--json` output as a last line of defence.

Secrets shorter than `MIN_ANYWHERE` characters are scrubbed only where they stand alone
(not inside a longer word), so a short password cannot garble every message; one shorter
than `MIN_DECODED` is not looked for inside decoded base64 (random bytes hold it too often).
The registry is process-wide and thread-safe; `scrub` costs nothing while it is empty and is
meant for error paths, not for every message sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MASK = "***"
MIN_ANYWHERE = 8  # shorter forms are matched only as whole words
MIN_TAIL = 8  # a cut-off secret is recognised from this many characters
MIN_DECODED = 4  # shorter forms are not looked for inside decoded base64
_MIN_RUN = 12  # base64 runs worth decoding: shorter ones hold at most 8 bytes
_B64_RUN = re.compile(rf"[A-Za-z0-9+/_-]{{{_MIN_RUN},}}={{0,2}}")
_B64_RUN_BYTES = re.compile(_B64_RUN.pattern.encode())
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# A SigV4 signature can be replayed for a few minutes: never show one.
_SIGNATURE = re.compile(r"(Signature=)[0-9a-fA-F]{64}")
_DECODE_DEPTH = 2


@dataclass(frozen=True)
class _State:
    """What is registered, with everything `scrub` needs precomputed; replaced, never changed."""

    secrets: frozenset[str] = frozenset()
    forms: frozenset[str] = frozenset()
    pattern: re.Pattern[str] | None = None
    # A cheap test first: every match of `pattern` holds one of these forms' first characters.
    needles: re.Pattern[str] | None = None
    # What decoded base64 is searched for: forms of at least MIN_DECODED characters (random
    # bytes hold a given 1-3 character word far too often).
    deep: re.Pattern[str] | None = None
    deep_needles: re.Pattern[bytes] | None = None
    tails: tuple[str, ...] = ()  # long forms, longest first, for cut-off secrets

    def may_hold(self, text: str) -> bool:
        return self.needles is not None and self.needles.search(text) is not None

    def may_hold_bytes(self, data: bytes) -> bool:
        return self.deep_needles is not None and self.deep_needles.search(data) is not None


_lock = threading.Lock()
_state = _State()


def _add(secrets: Iterable[str], forms: Iterable[str]) -> None:
    global _state
    with _lock:
        all_forms = _state.forms | frozenset(f for f in forms if f)
        deep = frozenset(f for f in all_forms if len(f) >= MIN_DECODED)
        _state = _State(
            secrets=_state.secrets | frozenset(s for s in secrets if s),
            forms=all_forms,
            pattern=_compile(all_forms),
            needles=_needles(all_forms),
            deep=_compile(deep),
            deep_needles=_byte_needles(deep),
            tails=tuple(sorted((f for f in all_forms if len(f) > MIN_TAIL), key=len, reverse=True)),
        )


def _needles(forms: frozenset[str]) -> re.Pattern[str] | None:
    """Matches wherever a form may start (a `%XX` escape may be in either case: any `%`)."""
    starts = {"%" if "%" in f[:MIN_ANYWHERE] else f[:MIN_ANYWHERE] for f in forms}
    ordered = sorted(starts, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


def _byte_needles(forms: frozenset[str]) -> re.Pattern[bytes] | None:
    needles = _needles(forms)
    return re.compile(needles.pattern.encode()) if needles else None


def register(value: str) -> None:
    """Scrub `value` and its encoded forms from now on (empty values are ignored)."""
    if value and value not in _state.secrets:
        _add([value], forms_of(value))


def register_basic_auth(user: str, password: str) -> None:
    """HTTP Basic credentials: the password, and `user:password` in base64."""
    register(password)
    if password:
        _add([], _b64_forms(f"{user}:{password}".encode()))


def register_sasl_plain(user: str, password: str) -> None:
    """SMTP AUTH credentials: PLAIN (`\\0user\\0password`, with or without authzid), LOGIN."""
    register(password)
    if password:
        blobs = (f"\0{user}\0{password}", f"{user}\0{user}\0{password}")
        _add([], [form for blob in blobs for form in _b64_forms(blob.encode())])


def forget_all() -> None:
    """Empty the registry (tests only: a process normally keeps its secrets)."""
    global _state
    with _lock:
        _state = _State()


def scrub(text: str) -> str:
    """`text` with every registered secret, in any known encoding, replaced by `***`."""
    state = _state
    if state.pattern is not None and text:
        if len(text) >= _MIN_RUN:
            text = _B64_RUN.sub(lambda m: _mask_run(m.group(), state), text)
        if state.may_hold(text):
            text = _cut_tail(state.pattern.sub(MASK, text), state.tails)
    return _SIGNATURE.sub(r"\1" + MASK, text) if "Signature=" in text else text


def scrub_data(value: Any) -> Any:
    """A copy of JSON-like data (dicts, lists, tuples, strings) with every string scrubbed."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_data(k): scrub_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_data(v) for v in value]
    return value


def scrub_default(value: Any) -> str:
    """A `json.dumps(default=...)` for objects that are not JSON: their scrubbed `str`."""
    return scrub(str(value))


def forms_of(value: str) -> set[str]:
    """How `value` may come back from a server: raw, URL-, JSON-, HTML-escaped, base64."""
    import html  # here: `seriespub.errors` imports this module, every command imports that

    forms = {
        value,
        urllib.parse.quote(value, safe=""),  # matched with either case of hex digits
        urllib.parse.quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
    }
    for shown in (value, json.dumps(value)[1:-1]):  # JSON-escaped is IMAP's quoted string too
        forms |= _repr_bodies(shown) | _repr_bodies(shown.encode())
    raw = value.encode()
    forms |= _b64_forms(raw)
    forms |= {core for core in _b64_cores(raw) if len(core) >= MIN_ANYWHERE}
    return forms


def _repr_bodies(value: str | bytes) -> set[str]:
    """`value` as it shows inside the Python repr of a longer str or bytes (an exception's
    message often holds one: imaplib's `BAD [b'...']`, smtplib's `(535, b'...')`).

    Backslashes and non-printable characters are escaped; a `'` is escaped or not, as the
    quote the longer text's repr chose.
    """
    # With a `"` added, repr quotes in `'` and escapes any `'` of `value`.
    quote_forced = repr(value + '"') if isinstance(value, str) else repr(value + b'"')
    body = quote_forced[quote_forced.index("'") + 1 : -2]
    return {body, body.replace("\\'", "'")}


def _b64_forms(data: bytes) -> set[str]:
    out = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(data).decode("ascii")
        out |= {text, text.rstrip("=")}
    return out


def _b64_cores(data: bytes) -> set[str]:
    """The part of `data`'s base64 that is the same wherever it starts in a longer text.

    Base64 encodes 3 bytes as 4 characters, so there are three alignments; the first and
    last groups mix in neighbouring bytes and are left out.
    """
    out = set()
    for offset in range(3):
        text = base64.b64encode(b"\0" * offset + data).decode("ascii")
        end = len(text) - (4 if (offset + len(data)) % 3 else 0)
        core = text[4 if offset else 0 : end]
        out |= {core, core.replace("+", "-").replace("/", "_")}
    return out


def _compile(forms: frozenset[str]) -> re.Pattern[str] | None:
    if not forms:
        return None
    ordered = sorted(forms, key=len, reverse=True)  # longest first: whole blobs win
    long = [_form_regex(f) for f in ordered if len(f) >= MIN_ANYWHERE]
    short = [_form_regex(f) for f in ordered if len(f) < MIN_ANYWHERE]
    parts = long[:]
    if short:
        parts.append(r"(?<![A-Za-z0-9])(?:" + "|".join(short) + r")(?![A-Za-z0-9])")
    return re.compile("|".join(parts))


def _form_regex(form: str) -> str:
    """`form` as a regex; a `%XX` escape matches with either case of hex digits (RFC 3986)."""
    pieces = re.split(r"(%[0-9A-F]{2})", form)
    return "".join(_percent_regex(p) if i % 2 else re.escape(p) for i, p in enumerate(pieces))


def _percent_regex(escape: str) -> str:
    return "%" + "".join(f"[{c}{c.lower()}]" if c.isalpha() else c for c in escape[1:])


def _mask_run(run: str, state: _State) -> str:
    return MASK if _hides_secret(run.encode("ascii"), state, _DECODE_DEPTH) else run


def _hides_secret(run: bytes, state: _State, depth: int) -> bool:
    """True if base64-looking `run`, at any of its 4 alignments, decodes to a secret."""
    letters = run.rstrip(b"=").translate(_TO_STANDARD)
    for skip in range(4):
        decoded = _decode(letters[skip:])
        if decoded is None:
            continue
        if state.may_hold_bytes(decoded) and _matches(decoded, state):
            return True
        if depth > 1 and any(
            _hides_secret(m.group(), state, depth - 1) for m in _B64_RUN_BYTES.finditer(decoded)
        ):
            return True
    return False


def _matches(decoded: bytes, state: _State) -> bool:
    text = decoded.decode("utf-8", "replace")
    return state.deep is not None and state.deep.search(text) is not None


def _decode(letters: bytes) -> bytes | None:
    extra = len(letters) % 4
    if extra == 1:
        letters = letters[:-1]
    elif extra:
        letters += b"=" * (4 - extra)
    if len(letters) < 8:
        return None
    try:
        return binascii.a2b_base64(letters)
    except (binascii.Error, ValueError):
        return None


def _cut_tail(text: str, tails: tuple[str, ...]) -> str:
    """A form cut off at the end of `text` (a reason truncated to a length) is masked too."""
    for form in tails:
        start = text.rfind(form[:MIN_TAIL])
        if start >= 0 and form.startswith(text[start:]):
            return text[:start] + MASK
    return text
