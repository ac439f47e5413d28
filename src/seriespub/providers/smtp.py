"""SMTP: one message per recipient, over one reused connection per worker thread.

Each recipient is one MAIL/RCPT/DATA transaction, so every reply maps to one person:

- 2xx to the message → SENT; 4xx → TRANSIENT; 5xx → FAILED, and BOUNCED when the refusal is
  about the address (enhanced code 5.1.x or 5.2.1, or 550/551/553 without an enhanced code);
- MAIL FROM refused → the whole rest of the batch: 4xx TransientSendError, 5xx Permanent;
  so is a RCPT refusal that is about the sender's rights (530, "Relay access denied"):
  every reader would be refused alike, and none of them is marked failed;
- a reused connection found closed (or 421) before the message went out → reconnect once and
  resend: nothing was delivered. On a fresh connection that is a TransientSendError;
- cannot connect → TransientSendError; bad login, TLS problem or wrong `security` for the
  port → PermanentSendError with a hint (see `smtp_connect`);
- connection lost during DATA → AmbiguousSendError: the server may have taken the message.

`open` (called by the core before it records anything) connects, greets, secures and logs
in once, so a misconfigured server stops the run before any delivery is pending; that
connection then carries the first batch.

A failure part way through a batch never hides what was already sent:

- TransientSendError / PermanentSendError are raised only before any recipient of the call
  has a result; after that, `send_batch` returns the
  results so far plus TRANSIENT results (the error as reason) for the rest, which the core
  retries as single recipients;
- AmbiguousSendError carries `partial_results`: a result for every recipient except the one
  in doubt (SENT/FAILED/TRANSIENT before it, TRANSIENT "not attempted" after it).
"""

from __future__ import annotations

import email.utils
import re
import smtplib
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path

from seriespub import redact
from seriespub.config import Secret, SmtpSettings
from seriespub.errors import (
    AmbiguousSendError,
    ConfigError,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from seriespub.message import PreparedMessage
from seriespub.models import Outcome, Recipient, RecipientResult, SubscriberStatus
from seriespub.providers import SPECS, ProviderContext
from seriespub.providers.base import Batch, ProviderBase
from seriespub.providers.smtp_connect import Connector
from seriespub.providers.smtp_connect import tls_context as tls_context_for

SPEC = SPECS["smtp"]

# RFC 3463 enhanced status code at the start of a reply, e.g. "5.1.1 <x>: user unknown".
ENHANCED_CODE = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
ADDRESS_CODES = frozenset({550, 551, 553})  # refusals that usually mean "no such person"
CLOSING = 421  # the server is closing this connection
RELAY_HINT = (
    "log in: set username under [delivery.smtp] and SMTP_PASSWORD in the "
    "environment or .env (submission servers relay only for logged-in senders)"
)


class _NotSent(Exception):
    """The connection failed before the message data went out: safe to send again."""


class SmtpProvider(ProviderBase, spec=SPEC):
    """Sends through an SMTP server with smtplib; thread-safe, one connection per thread."""

    def __init__(
        self,
        settings: SmtpSettings,
        password: Secret | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self._connector = Connector(settings, password, tls_context or tls_context_for())
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[smtplib.SMTP] = set()
        self._spare: list[smtplib.SMTP] = []  # opened by `open`, for the first worker
        self._where = self._connector.where
        if password is not None and settings.username:
            # AUTH PLAIN/LOGIN send it in base64, and some servers repeat what they were sent.
            redact.register_sasl_plain(settings.username, password.reveal())

    def open(self) -> None:
        """Connect, greet, secure and log in once, before the core records any delivery:
        a wrong host, port, security or password fails here, when nothing can have been
        sent. The connection is kept for the first batch."""
        conn = self._connector.open()
        with self._lock:
            self._open.add(conn)
            self._spare.append(conn)

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        message = batch.message
        date = email.utils.formatdate(localtime=True)
        results: list[RecipientResult] = []
        for index, recipient in enumerate(batch.recipients):
            message_id = message.message_id(recipient)
            data = crlf(message.mime_for(recipient, date=date, message_id=message_id))
            try:
                sender = self._envelope_sender(message, recipient)
                results.append(self._send_one(sender, recipient, data, message_id))
            except AmbiguousSendError as exc:
                # This one may have gone out; none after it was tried.
                doubt = RecipientResult(recipient.email, Outcome.UNKNOWN, reason=exc.reason)
                rest = _not_sent(batch.recipients[index + 1 :], "not attempted: " + exc.reason)
                return [*results, doubt, *rest]
            except SendError as exc:
                if not results:
                    raise
                return results + _not_sent(batch.recipients[index:], exc.reason)
        return results

    def _envelope_sender(self, message: PreparedMessage, recipient: Recipient) -> str:
        """`bounce_address` with the reader's token for `{token}` (VERP), else the sender."""
        bounce = self.settings.bounce_address
        if not bounce:
            return message.from_email
        return bounce.replace("{token}", message.key.token(recipient.email))

    def close(self) -> None:
        """QUIT every connection any thread opened."""
        with self._lock:
            connections, self._open, self._spare = self._open, set(), []
        for conn in connections:
            _quit(conn)

    def _send_one(
        self, sender: str, recipient: Recipient, data: bytes, message_id: str
    ) -> RecipientResult:
        while True:
            conn, reused = self._connection()
            try:
                return self._transmit(conn, sender, recipient, data, message_id)
            except _NotSent as exc:
                self._discard(conn)
                if not reused:
                    raise TransientSendError(
                        f"{self._where} closed the connection: {exc}", provider=self.name
                    ) from None
                # A connection idle since the last batch may have timed out: reconnect once.

    def _transmit(
        self, conn: smtplib.SMTP, sender: str, recipient: Recipient, data: bytes, message_id: str
    ) -> RecipientResult:
        """One MAIL/RCPT/DATA transaction; the reply that ended it, as a result."""
        to, envelope_to = recipient.email, recipient.envelope  # IDN domain: A-labels
        options: list[str] = []
        if not (sender + envelope_to).isascii():
            if not conn.has_extn("smtputf8"):
                return RecipientResult(
                    to,
                    Outcome.FAILED,
                    reason=f"address is not ASCII and {self._where} does not offer SMTPUTF8",
                )
            options = ["SMTPUTF8"]
        code, reply = self._envelope(conn, sender, envelope_to, options)
        if code in (250, 251):
            code, reply = self._data(conn, data)
        if code == CLOSING:
            raise _NotSent(f"{code} {_text(reply)}")
        if not 200 <= code < 300:
            _reset(conn)
        return _result(to, code, _text(reply), message_id)

    def _envelope(
        self, conn: smtplib.SMTP, sender: str, to: str, options: list[str]
    ) -> tuple[int, bytes | str]:
        try:
            code, reply = conn.mail(sender, options)
            if code == 250:
                code, reply = conn.rcpt(to)
                if not _refuses_to_relay(code, _text(reply)):
                    return code, reply
                _reset(conn)
                raise PermanentSendError(
                    f"{self._where} will not relay for this connection: {code} {_text(reply)}",
                    provider=self.name,
                    hint=RELAY_HINT,
                )
        except OSError as exc:  # smtplib's errors are OSErrors too
            raise _NotSent(str(exc) or type(exc).__name__) from None
        if code == CLOSING:
            raise _NotSent(f"{code} {_text(reply)}")
        _reset(conn)
        error = TransientSendError if code < 500 else PermanentSendError
        raise error(
            f"{self._where} refused sender {sender}: {code} {_text(reply)}",
            provider=self.name,
            hint=_sender_hint(code, _text(reply)),
        )

    def _data(self, conn: smtplib.SMTP, data: bytes) -> tuple[int, bytes | str]:
        try:
            return conn.data(data)
        except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing went out
            return exc.smtp_code, exc.smtp_error
        except OSError as exc:
            self._discard(conn)
            raise AmbiguousSendError(
                f"connection to {self._where} lost while sending ({exc or type(exc).__name__});"
                " the server may have accepted the message",
                provider=self.name,
            ) from None

    def _connection(self) -> tuple[smtplib.SMTP, bool]:
        """This thread's open connection and True, or a new one and False."""
        conn: smtplib.SMTP | None = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None:
            return conn, True
        with self._lock:
            spare = self._spare.pop() if self._spare else None
        if spare is not None:
            self._local.conn = spare
            return spare, True  # may have idled: found closed, it is reopened once
        conn = self._connector.open()
        self._local.conn = conn
        with self._lock:
            self._open.add(conn)
        return conn, False

    def _discard(self, conn: smtplib.SMTP) -> None:
        conn.close()
        with self._lock:
            self._open.discard(conn)


def _result(to: str, code: int, reply: str, message_id: str) -> RecipientResult:
    if 200 <= code < 300:
        return RecipientResult(to, Outcome.SENT, message_id)
    reason = f"{code} {reply}".strip()
    if code < 500:
        return RecipientResult(to, Outcome.TRANSIENT, reason=reason)
    bounced = SubscriberStatus.BOUNCED if _is_address_refusal(code, reply) else None
    return RecipientResult(to, Outcome.FAILED, reason=reason, new_status=bounced)


def crlf(data: bytes) -> bytes:
    """Every line ending as CRLF: smtplib sends bytes as they are, and servers refuse bare LF
    (RFC 5321 2.3.8). The quoted-printable soft breaks from binascii can be bare LF."""
    pairs = data.count(b"\r\n")
    if data.count(b"\n") == pairs and data.count(b"\r") == pairs:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def _refuses_to_relay(code: int, reply: str) -> bool:
    """A refusal of the sender's rights, not of the reader: 530 (log in first) or a 5xx
    policy refusal that says "relay" (Postfix, Exim, Sendmail, Exchange all do)."""
    if code == 530:
        return True
    enhanced = ENHANCED_CODE.match(reply)
    policy = enhanced is None or enhanced.group(2) == "7"
    return code >= 500 and policy and "relay" in reply.lower()


def _sender_hint(code: int, reply: str) -> str | None:
    """What to change when MAIL FROM is refused for want of TLS or a login (530 5.7.0)."""
    if code != 530:
        return None
    if "starttls" in reply.lower() or "tls" in reply.lower().split():
        return 'set security = "starttls" under [delivery.smtp]'
    return RELAY_HINT


def _not_sent(recipients: Sequence[Recipient], reason: str) -> list[RecipientResult]:
    return [RecipientResult(r.email, Outcome.TRANSIENT, reason=reason) for r in recipients]


def _is_address_refusal(code: int, reply: str) -> bool:
    """True when the refusal is about the mailbox, not the message (spam, policy)."""
    enhanced = ENHANCED_CODE.match(reply)
    if enhanced:
        subject, detail = enhanced.group(2), enhanced.group(3)
        return subject == "1" or (subject, detail) == ("2", "1")
    return code in ADDRESS_CODES


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _reset(conn: smtplib.SMTP) -> None:
    """End a refused transaction so the connection can carry the next one."""
    try:
        conn.rset()
    except OSError:
        conn.close()


def _quit(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except OSError:
        conn.close()


def create(context: ProviderContext) -> SmtpProvider:
    settings = context.settings.delivery.smtp
    password = None
    if settings.username:
        password = context.secrets.require("SMTP_PASSWORD", "delivery.smtp.username")
    ca_file = None
    if settings.ca_file:
        ca_file = context.state_dir.parent / settings.ca_file  # relative to the series
    return SmtpProvider(settings, password, tls_context=_context_with(ca_file))


def _context_with(ca_file: Path | None) -> ssl.SSLContext:
    try:
        return tls_context_for(ca_file)
    except (OSError, ssl.SSLError) as exc:  # missing, unreadable or not PEM
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise ConfigError(
            f"'delivery.smtp.ca_file': cannot load {ca_file}: {reason}",
            hint="give a PEM file of CA certificates, relative to the series folder",
        ) from None
