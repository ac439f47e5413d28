"""A real SMTP server (aiosmtpd) on 127.0.0.1 in a thread, for SMTP provider and CLI tests.

    with running_smtp_server() as server:
        server.handler.refuse["gone@example.com"] = "550 5.1.1 <gone@example.com>: user unknown"
        ...  # send to 127.0.0.1:server.port with security "none"
        assert [m.rcpt_tos for m in server.received] == [["a@example.com"]]

`credentials` turns on AUTH (without requiring TLS); `tls` (from `make_tls_files`) turns on
STARTTLS, required before anything else, or implicit TLS with `implicit_tls=True`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

# The name the fake servers greet with. Without one, aiosmtpd asks `socket.getfqdn()` on each
# connection: a DNS query off this machine (and a stall of seconds where no resolver answers).
FAKE_NAME = "fake-smtp.seriespub.test"


@dataclass
class Received:
    """One message as the server took it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: Any
    helo: str | None = None  # the name the client gave in EHLO/HELO

    def parsed(self) -> EmailMessage:
        parsed: EmailMessage = email.message_from_bytes(self.data, policy=policy.default)
        return parsed


@dataclass
class RecordingHandler:
    """Records every message; refuses or drops chosen addresses (keys are lower-case)."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address → RCPT reply
    drop_after_data: set[str] = field(default_factory=set)  # take DATA, then hang up
    # After this many messages, answer MAIL FROM with `sender_reply` (throttling, policy).
    sender_limit: int | None = None
    sender_reply: str = "454 4.7.0 Throttling failure: Maximum sending rate exceeded"
    peers: set[Any] = field(default_factory=set)  # one per TCP connection
    logins: list[str] = field(default_factory=list)
    sessions: list[SMTP] = field(default_factory=list)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        self._seen(server, session)
        return responses

    async def handle_HELO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        session.host_name = hostname
        self._seen(server, session)
        return f"250 {server.hostname}"

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.sender_limit is not None and len(self.received) >= self.sender_limit:
            return self.sender_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        self.received.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                data,
                session.peer,
                session.host_name,
            )
        )
        if any(a.lower() in self.drop_after_data for a in envelope.rcpt_tos):
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()  # taken, but the client never hears "250"
        return "250 Message accepted for delivery"

    def _seen(self, server: SMTP, session: Session) -> None:
        self.peers.add(session.peer)
        if server not in self.sessions:
            self.sessions.append(server)


@dataclass
class FakeSmtpServer:
    host: str
    port: int
    handler: RecordingHandler
    controller: Controller

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def connections(self) -> int:
        """TCP connections that got as far as EHLO/HELO."""
        return len(self.handler.peers)

    def by_recipient(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        for message in self.received:
            for address in message.rcpt_tos:
                out.setdefault(address.lower(), []).append(message)
        return out

    def hang_up_all(self) -> None:
        """Close every connection from the server side, like an idle timeout."""

        def close() -> None:
            for smtp in self.handler.sessions:
                if smtp.transport is not None:
                    smtp.transport.close()

        self.controller.loop.call_soon_threadsafe(close)

    def delivery_toml(self) -> str:
        """A `[delivery]` block that points seriespub at this server."""
        return (
            f'[delivery]\nprovider = "smtp"\n[delivery.smtp]\nhost = "{self.host}"\n'
            f'port = {self.port}\nsecurity = "none"\n'
        )


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A default (verifying) client context that trusts this self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.cert))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


def make_tls_files(folder: Path) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("127.0.0.1")
    san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    cert = _certificate(name, name, key.public_key(), key, ca=True, san=san)
    folder.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(folder / "cert.pem", folder / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@dataclass(frozen=True)
class PrivateCa:
    """A private certificate authority and a server certificate it signed for 127.0.0.1."""

    ca_cert: Path
    server_cert: Path
    server_key: Path

    def server_files(self) -> TlsFiles:
        return TlsFiles(self.server_cert, self.server_key)


def make_private_ca(folder: Path, *, key_identifiers: bool = True) -> PrivateCa:
    """A CA (not trusted by the system) and a server certificate for 127.0.0.1 and localhost;
    without `key_identifiers`, as older recipes made them (refused by a strict verifier)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("seriespub test CA")
    ids = {"key_identifiers": key_identifiers}
    ca_cert = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True, **ids)
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    cert = _certificate(
        _name("127.0.0.1"), ca_name, key.public_key(), ca_key, ca=False, san=san, **ids
    )
    folder.mkdir(parents=True, exist_ok=True)
    files = PrivateCa(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    _write_pem(files.ca_cert, ca_cert)
    _write_pem(files.server_cert, cert)
    _write_key(files.server_key, key)
    return files


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: Any,
    issuer: Any,
    public_key: Any,
    signing_key: Any,
    *,
    ca: bool,
    san: Any = None,
    key_identifiers: bool = True,
) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if key_identifiers:
        # RFC 5280's key identifiers: Python 3.13's default context (VERIFY_X509_STRICT)
        # refuses a chain without them ("Missing Authority Key Identifier").
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    if ca:
        usage = x509.KeyUsage(
            digital_signature=True,
            key_cert_sign=True,
            crl_sign=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            encipher_only=False,
            decipher_only=False,
        )
        builder = builder.add_extension(usage, critical=True)
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _write_pem(path: Path, cert: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: Any) -> None:
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class _Authenticator:
    def __init__(self, credentials: dict[str, str], handler: RecordingHandler) -> None:
        self.credentials = credentials
        self.handler = handler

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.credentials.get(login) == password
        if ok:
            self.handler.logins.append(login)
        return AuthResult(success=ok, handled=False)  # False: the server replies 535


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_smtp_server(
    *,
    credentials: dict[str, str] | None = None,
    tls: TlsFiles | None = None,
    implicit_tls: bool = False,
    auth_require_tls: bool = False,
    auth_required: bool = False,
    handler: RecordingHandler | None = None,
) -> Iterator[FakeSmtpServer]:
    """Start aiosmtpd on 127.0.0.1 in a thread; stop it on exit.

    `auth_require_tls`: AUTH is offered only after STARTTLS; `auth_required`: MAIL FROM
    before a login is refused with 530 5.7.0.
    """
    handler = handler or RecordingHandler()
    kwargs: dict[str, Any] = {}
    if credentials is not None:
        kwargs.update(
            authenticator=_Authenticator(credentials, handler),
            auth_require_tls=auth_require_tls,
            auth_required=auth_required,
        )
    if tls is not None and implicit_tls:
        kwargs.update(ssl_context=tls.server_context())
    elif tls is not None:
        kwargs.update(tls_context=tls.server_context(), require_starttls=True)
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), server_hostname=FAKE_NAME, **kwargs
    )
    controller.start()
    try:
        yield FakeSmtpServer("127.0.0.1", controller.port, handler, controller)
    finally:
        controller.stop()


@dataclass
class RawServer:
    """A TCP listener on 127.0.0.1 that greets late or never (`accepted`: connections)."""

    port: int
    accepted: threading.Event = field(default_factory=threading.Event)
    connections: int = 0


@contextmanager
def raw_smtp_server(greet_after: float | None) -> Iterator[RawServer]:
    """A minimal SMTP server that waits `greet_after` seconds before its 220 (None: never,
    like a port that expects TLS or a hung server), then answers EHLO and QUIT."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # accept() notices `stop` soon
    server = RawServer(listener.getsockname()[1])
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client may hang up at any point
            _converse(conn)

    def _converse(conn: socket.socket) -> None:
        if greet_after is None or stop.wait(greet_after):
            stop.wait()
            return
        conn.sendall(b"220 slow.example ESMTP\r\n")
        for line in conn.makefile("rb"):
            if line[:4].upper() in (b"EHLO", b"HELO"):
                conn.sendall(b"250-slow.example\r\n250 8BITMIME\r\n")
            elif line[:4].upper() == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"502 not here\r\n")

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            server.connections += 1
            server.accepted.set()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        listener.close()
