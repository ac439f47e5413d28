"""A small IMAP client over imaplib: find candidates, read them, move the processed ones.

Guarantees: messages are read with BODY.PEEK, so no \\Seen flag is ever set by reading;
only the messages passed to `move` leave the folder, with their flags; the done folder is
created when missing; two runs reading one inbox at once (a sync beside a send) both end
well, the messages moved once; every imaplib, socket or TLS error becomes one `InboxError` line.
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from seriespub.config import InboxSettings, Secret
from seriespub.errors import SeriespubError
from seriespub.tlstrust import untrusted_hint

_FETCH_UID = re.compile(rb"\bUID (\d+)")
_CHUNK = 100  # messages per FETCH: bounded memory per round trip
_MOVE_ATTEMPTS = 3  # other runs moving the same messages meanwhile
# What an unsubscribe request, a bounce or a complaint has; the rest is never fetched.
_CANDIDATES = (
    ("HEADER", "Content-Type", "report"),
    ("SUBJECT", "unsubscribe"),
    ("FROM", "mailer-daemon"),
    ("FROM", "postmaster"),
    ("FROM", "mail delivery"),
    ("SUBJECT", "undeliver"),
    ("SUBJECT", "delivery"),
    ("SUBJECT", "failure notice"),
    ("SUBJECT", "returned mail"),
    ("SUBJECT", "abuse"),
    ("SUBJECT", "complaint"),
    ("FROM", "sns.amazonaws.com"),  # Amazon SES notifications by email (no-reply@sns.…)
)


class InboxError(SeriespubError):
    """The inbox cannot be reached, logged in to, or changed."""


@dataclass(frozen=True)
class Fetched:
    uid: str
    raw: bytes


def quote(name: str) -> str:
    """An IMAP quoted string (config allows printable ASCII only)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapInbox:
    """One logged-in session on the folder named in `[inbox]`."""

    def __init__(
        self,
        conn: imaplib.IMAP4,
        settings: InboxSettings,
        extra_terms: Sequence[tuple[str, ...]] = (),
    ) -> None:
        self._conn = conn
        self._settings = settings
        self._terms = (*_CANDIDATES, *extra_terms)

    @property
    def where(self) -> str:
        return f"{self._settings.host}/{self._settings.folder}"

    def candidates(self) -> list[str]:
        """UIDs of the messages that may be ours, oldest first."""
        terms = " ".join(f"{t[0]} " + " ".join(quote(a) for a in t[1:]) for t in self._terms)
        # UNDELETED: a message moved by COPY on a server without UIDPLUS stays behind,
        # flagged \Deleted, and must not be read again.
        criteria = "UNDELETED " + "OR " * (len(self._terms) - 1) + terms
        data = self._ok(self._conn.uid("SEARCH", criteria), "search")
        found = b" ".join(d for d in data if isinstance(d, bytes)).split()
        return sorted((u.decode() for u in found), key=int)

    def fetch(self, uids: Sequence[str]) -> Iterator[Fetched]:
        """Whole messages, without setting \\Seen."""
        for start in range(0, len(uids), _CHUNK):
            uid_set = ",".join(uids[start : start + _CHUNK])
            data = self._ok(self._conn.uid("FETCH", uid_set, "(UID BODY.PEEK[])"), "fetch")
            for item in data:
                if isinstance(item, tuple) and (m := _FETCH_UID.search(item[0])):
                    yield Fetched(m.group(1).decode(), item[1])

    def move(self, uids: Sequence[str]) -> None:
        """Move to the done folder (created if missing); MOVE, else COPY and expunge them.
        Messages another run moved meanwhile (a second sync, a send reading the inbox) are
        no error: the server refuses the whole command, so the rest are moved again."""
        left = list(uids)
        self._ensure_done_folder(left)
        for attempt in range(1, _MOVE_ATTEMPTS + 1):
            if not left:
                return
            try:
                self._move_now(",".join(left))
                return
            except InboxError:
                still = self._still_here(left)
                if len(still) == len(left) or attempt == _MOVE_ATTEMPTS:
                    raise  # not (only) a race with another run: a real refusal
                left = still

    def _move_now(self, uid_set: str) -> None:
        target = quote(self._settings.done_folder)
        if self._has("MOVE"):
            self._ok(self._conn.uid("MOVE", uid_set, target), "move")
            return
        self._ok(self._conn.uid("COPY", uid_set, target), "copy")
        self._ok(self._conn.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)"), "flag")
        if self._has("UIDPLUS"):  # expunge these only, never another deleted message
            self._ok(self._conn.uid("EXPUNGE", uid_set), "expunge")

    def _still_here(self, uids: Sequence[str]) -> list[str]:
        """Those of `uids` still in the folder (NOOP first: it hears of other sessions'
        expunges)."""
        self._conn.noop()
        data = self._ok(self._conn.uid("SEARCH", "UID", ",".join(uids)), "search")
        found = b" ".join(d for d in data if isinstance(d, bytes)).split()
        return [uid for uid in uids if uid.encode() in found]

    def _ensure_done_folder(self, uids: Sequence[str]) -> None:
        if not uids or self._done_folder_exists():
            return
        answer = self._conn.create(quote(self._settings.done_folder))
        if answer[0] != "OK" and self._done_folder_exists():
            return  # another run created it meanwhile
        self._ok(answer, f"create folder {self._settings.done_folder!r}")

    def _done_folder_exists(self) -> bool:
        typ, data = self._conn.list('""', quote(self._settings.done_folder))
        return typ == "OK" and any(d for d in data if d)

    def _has(self, capability: str) -> bool:
        return capability in self._conn.capabilities

    def _ok(self, answer: tuple[str, list[object]], doing: str) -> list[object]:
        typ, data = answer
        if typ != "OK":
            said = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
            raise InboxError(f"IMAP {self.where}: {doing} refused: {said}")
        return data


def _connect(settings: InboxSettings, context: ssl.SSLContext) -> imaplib.IMAP4:
    port = settings.port or (993 if settings.security == "tls" else 143)
    if settings.security == "tls":
        return imaplib.IMAP4_SSL(settings.host, port, ssl_context=context, timeout=settings.timeout)
    conn = imaplib.IMAP4(settings.host, port, timeout=settings.timeout)
    if settings.security == "starttls":
        conn.starttls(ssl_context=context)
    return conn


@contextmanager
def open_inbox(
    settings: InboxSettings,
    password: Secret,
    context: ssl.SSLContext,
    extra_terms: Sequence[tuple[str, ...]] = (),
) -> Iterator[ImapInbox]:
    """Connect, log in, select `folder` read-write; log out at the end."""
    where = f"IMAP {settings.host}:{settings.port or ''}".rstrip(":")
    try:
        conn = _connect(settings, context)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise InboxError(
            f"{where}: cannot connect: {_reason(exc)}", hint=_port_hint(settings, exc)
        ) from None
    try:
        _login_and_select(conn, settings, password, where)
        yield ImapInbox(conn, settings, extra_terms)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise InboxError(f"{where}: {_reason(exc)}") from None
    finally:
        _logout(conn)


def _login_and_select(
    conn: imaplib.IMAP4, settings: InboxSettings, password: Secret, where: str
) -> None:
    try:
        conn.login(settings.username, password.reveal())
    except imaplib.IMAP4.error as exc:
        raise InboxError(
            f"{where}: login as {settings.username} refused: {_reason(exc)}",
            hint="check [inbox] username and IMAP_PASSWORD",
        ) from None
    typ, caps = conn.capability()  # after login a server may offer more (MOVE)
    if typ == "OK" and caps and isinstance(caps[0], bytes):
        conn.capabilities = tuple(caps[0].decode(errors="replace").upper().split())
    typ, _data = conn.select(quote(settings.folder))
    if typ != "OK":
        raise InboxError(
            f"{where}: no folder {settings.folder!r}",
            hint="set [inbox] folder to an existing folder, e.g. INBOX",
        )


def _logout(conn: imaplib.IMAP4) -> None:
    with suppress(OSError, imaplib.IMAP4.error):
        conn.logout()


def _port_hint(settings: InboxSettings, exc: BaseException) -> str | None:
    """What to do about a certificate not trusted (`seriespub.tlstrust`), and the usual
    mix-ups of port and `security`: TLS spoken to a port that greets in plain text (143),
    or a plain greeting awaited from one that waits for TLS (993)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return untrusted_hint(exc, "inbox", settings.ca_file)
    port = settings.port or (993 if settings.security == "tls" else 143)
    if settings.security == "tls" and isinstance(exc, ssl.SSLError) and "WRONG_VERSION" in str(exc):
        return f'port {port} greets in plain text: set security = "starttls" (or the TLS port)'
    if settings.security != "tls" and isinstance(exc, socket.timeout | TimeoutError):
        return f'no greeting from port {port}: if it is the TLS port (993), set security = "tls"'
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({exc.verify_message})"
    text = exc.args[0] if exc.args else exc
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return getattr(exc, "strerror", None) or str(text)
