"""Opening an SMTP connection: connect, greeting, TLS, login; fast, and explained when wrong.

Guarantees:
- connecting, the greeting and a TLS handshake each wait at most `CONNECT_WAIT` seconds
  (10 s, or `[delivery.smtp] timeout` if shorter); later commands wait `timeout`;
- a port that speaks TLS from its first byte (implicit TLS, port 465) reached with
  `security = "starttls"` or `"none"` is recognised about `PROBE_AFTER` (1 s) after a
  silent start, by a TLS handshake on a second connection, and refused with the hint to set
  `security = "tls"`; `security = "tls"` against a port that greets in plain text (587, 25)
  fails at the handshake with the hint to set `"starttls"`;
- each failure is a SendError: PermanentSendError for what retrying cannot fix (TLS, login,
  settings), TransientSendError otherwise, each with a hint naming the setting to change;
- the password never appears in a message, even when a server echoes it;
- EHLO names the client without a DNS look-up (smtplib's `socket.getfqdn()` is one per
  connection): `helo_name` when set, else the machine's name when it is a domain, else the
  connection's own address as a literal (RFC 5321 4.1.4).
"""

from __future__ import annotations

import select
import smtplib
import socket
import ssl
import time
from pathlib import Path

from seriespub import redact
from seriespub.addresses import is_domain_name
from seriespub.config import Secret, SmtpSettings
from seriespub.errors import PermanentSendError, SendError, TransientSendError
from seriespub.hostnames import address_literal
from seriespub.tlstrust import untrusted_hint

CONNECT_WAIT = 10.0  # connect, greeting, handshake: a healthy server answers at once
PROBE_AFTER = 1.0  # silent this long: is it a TLS port waiting for our hello?
NAME = "smtp"
SECURITY_KEYS = '"tls" is for implicit TLS (port 465); "starttls" for ports 587 and 25'


class _SpeaksTls(OSError):
    """The port answered a TLS handshake: it expects TLS from the first byte."""


class _NoGreeting(TimeoutError):
    """Connected, but the server said nothing."""


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """The system's trusted CAs, plus `ca_file` (PEM) when given."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


class Connector:
    """Opens connections that are greeted, secured and logged in as the settings say."""

    def __init__(
        self, settings: SmtpSettings, password: Secret | None, context: ssl.SSLContext
    ) -> None:
        self.settings = settings
        self._password = password
        self._context = context
        self.where = f"{settings.host}:{settings.port}"
        self.wait = min(CONNECT_WAIT, settings.timeout)
        self.name = settings.helo_name or _own_domain()

    def open(self) -> smtplib.SMTP:
        conn: smtplib.SMTP | None = None
        try:
            conn = self._greeted()
            conn.ehlo()
            if self.settings.security == "starttls":
                self._starttls(conn)
            if self.settings.username:
                self._login(conn)
            return conn
        except (OSError, SendError) as exc:  # smtplib's and ssl's errors are OSErrors
            if conn is not None:
                conn.close()
            if isinstance(exc, SendError):
                raise
            raise self._error(exc) from None

    def scrub(self, text: str) -> str:
        """Server text never echoes the password into our messages, even if a server does
        (nor its AUTH PLAIN/LOGIN base64 forms: `seriespub.redact`)."""
        return redact.scrub(text)

    # -- the steps ---------------------------------------------------------------------------
    def _greeted(self) -> smtplib.SMTP:
        s = self.settings
        conn: smtplib.SMTP
        # Any name stops smtplib's look-up; a literal of our own address replaces it below.
        name = self.name or "[127.0.0.1]"
        if s.security == "tls":
            conn = smtplib.SMTP_SSL(s.host, s.port, name, timeout=self.wait, context=self._context)
        else:
            conn = _PlainClient(self.wait, s.host, s.port, name, timeout=self.wait)
        conn.timeout = s.timeout
        if conn.sock is not None:
            conn.sock.settimeout(s.timeout)
            if self.name is None:
                conn.local_hostname = address_literal(conn.sock.getsockname()[0])
        return conn

    def _starttls(self, conn: smtplib.SMTP) -> None:
        if not conn.has_extn("starttls"):
            raise PermanentSendError(
                f"{self.where} does not offer STARTTLS",
                provider=NAME,
                hint='if this port speaks TLS from the start (465), set security = "tls"; '
                'only on a trusted network, security = "none" sends without TLS',
            )
        conn.starttls(context=self._context)
        conn.ehlo()  # TLS discards what the first EHLO learned

    def _login(self, conn: smtplib.SMTP) -> None:
        if not conn.has_extn("auth"):
            raise self._no_auth(conn)
        try:
            conn.login(str(self.settings.username), self._secret())
        except smtplib.SMTPResponseException:
            raise  # refused: explained by _error
        except smtplib.SMTPException:
            offered = conn.esmtp_features.get("auth", "").strip()
            raise PermanentSendError(
                f"{self.where} offers no login method seriespub knows (AUTH {offered}; "
                "seriespub speaks PLAIN, LOGIN and CRAM-MD5)",
                provider=NAME,
                hint="ask the mail host for PLAIN or LOGIN over TLS",
            ) from None

    def _no_auth(self, conn: smtplib.SMTP) -> PermanentSendError:
        if self.settings.security == "none" and conn.has_extn("starttls"):
            return PermanentSendError(
                f'{self.where} offers AUTH only after STARTTLS, and security is "none"',
                provider=NAME,
                hint='set security = "starttls" under [delivery.smtp], so '
                "the password travels encrypted",
            )
        return PermanentSendError(
            f"{self.where} does not offer AUTH (login), but delivery.smtp.username is set",
            provider=NAME,
            hint="remove delivery.smtp.username if this server needs no "
            "login, or check host and port (submission is port 587)",
        )

    def _secret(self) -> str:
        if self._password is None:
            raise PermanentSendError("SMTP_PASSWORD is not set", provider=NAME)
        return self._password.reveal()

    # -- what went wrong ---------------------------------------------------------------------
    def _error(self, exc: OSError) -> SendError:
        if isinstance(exc, _SpeaksTls):
            return PermanentSendError(
                f"{self.where} expects TLS from the first byte (implicit TLS, as on port "
                f'465), but security = "{self.settings.security}" waits for a plain-text '
                "greeting",
                provider=NAME,
                hint=f'set security = "tls" under [delivery.smtp]; {SECURITY_KEYS}',
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return PermanentSendError(
                f"{self.where}: TLS certificate not trusted: {exc.verify_message}",
                provider=NAME,
                hint=untrusted_hint(exc, "delivery.smtp", self.settings.ca_file),
            )
        if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError):
            return self._handshake_error(exc)
        if isinstance(exc, smtplib.SMTPResponseException):
            return self._response_error(exc)
        return self._transient(exc)

    def _handshake_error(self, exc: ssl.SSLError) -> PermanentSendError:
        reason = exc.reason or str(exc)
        if self.settings.security == "tls":
            greeting = _plain_greeting(self.settings.host, self.settings.port, self.wait)
            if greeting:
                return PermanentSendError(
                    f"{self.where} greets in plain text ({greeting!r}), not TLS, and "
                    'security is "tls"',
                    provider=NAME,
                    hint=f'set security = "starttls" under [delivery.smtp]; {SECURITY_KEYS}',
                )
        return PermanentSendError(
            f"{self.where}: TLS handshake failed: {reason}",
            provider=NAME,
            hint=f"check delivery.smtp.security and port: {SECURITY_KEYS}",
        )

    def _response_error(self, exc: smtplib.SMTPResponseException) -> SendError:
        code, text = exc.smtp_code, self.scrub(_text(exc.smtp_error))
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            error = TransientSendError if code < 500 else PermanentSendError
            return error(
                f"{self.where} refused the login of {self.settings.username!r}: {code} {text}",
                provider=NAME,
                hint="check delivery.smtp.username and SMTP_PASSWORD",
            )
        error = TransientSendError if code < 500 else PermanentSendError
        return error(f"{self.where}: {code} {text}", provider=NAME)

    def _transient(self, exc: OSError) -> TransientSendError:
        if isinstance(exc, _NoGreeting):
            return TransientSendError(
                f"{self.where} accepted the connection but sent no greeting within {self.wait:g} s",
                provider=NAME,
                hint="check delivery.smtp.host and port: is an SMTP server listening there?",
            )
        if isinstance(exc, TimeoutError):
            return TransientSendError(
                f"cannot connect to {self.where}: no answer within {self.wait:g} s",
                provider=NAME,
                hint="check delivery.smtp.host and port",
            )
        reason = self.scrub(str(exc)) or type(exc).__name__
        return TransientSendError(f"cannot connect to {self.where}: {reason}", provider=NAME)


def _own_domain() -> str | None:
    """This machine's name, when it is a domain (`mail.example.org`, not `vm`)."""
    name = socket.gethostname()
    return name if is_domain_name(name) else None


class _PlainClient(smtplib.SMTP):
    """smtplib.SMTP that notices a silent start and asks whether the port wants TLS."""

    def __init__(self, wait: float, host: str, port: int, name: str, timeout: float) -> None:
        self._wait = wait
        super().__init__(host, port, name, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        deadline = time.monotonic() + self._wait
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        try:
            if not _readable(sock, min(PROBE_AFTER, deadline - time.monotonic())):
                if _speaks_tls(host, port, sock, deadline):
                    raise _SpeaksTls
                if not _readable(sock, deadline - time.monotonic()):
                    raise _NoGreeting
        except BaseException:
            sock.close()
            raise
        return sock


def _readable(sock: socket.socket, seconds: float) -> bool:
    """True once the server sent something (or closed): a greeting is on its way."""
    if seconds <= 0:
        return False
    readable, _, _ = select.select([sock], [], [], seconds)
    return bool(readable)


def _speaks_tls(host: str, port: int, greeting: socket.socket, deadline: float) -> bool:
    """True if a TLS handshake succeeds on a second connection to host:port before the
    first one (`greeting`) hears anything. The certificate is not checked: nothing is sent
    over the probe, it only tells a TLS port from a slow plain one."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    wait = max(deadline - time.monotonic(), 0.01)
    try:
        with (
            socket.create_connection((host, port), wait) as raw,
            probe.wrap_socket(raw, do_handshake_on_connect=False) as tls,
        ):
            return _handshake(tls, greeting, deadline)
    except OSError:
        return False


def _handshake(tls: ssl.SSLSocket, greeting: socket.socket, deadline: float) -> bool:
    tls.setblocking(False)
    while True:
        try:
            tls.do_handshake()
            return True
        except ssl.SSLWantReadError:
            pass
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        readable, _, _ = select.select([tls, greeting], [], [], remaining)
        if greeting in readable or not readable:
            return False  # the plain greeting came first, or time ran out


def _plain_greeting(host: str, port: int, seconds: float) -> str | None:
    """The first line host:port sends on connect if it is a plain-text SMTP greeting."""
    try:
        with socket.create_connection((host, port), seconds) as sock:
            first = sock.recv(200).split(b"\r\n")[0].decode("ascii", "replace")
    except OSError:
        return None
    return first if first[:3] in {"220", "421", "554"} else None


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())
