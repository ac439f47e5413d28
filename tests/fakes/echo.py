"""Servers on 127.0.0.1 that echo a request's credentials back in their error answers.

Some proxies and gateways do this; seriespub must never show or store what comes back.

    with echo_http(EchoState(status=401)) as (url, state):
        ...  # point any HTTP provider's api_url at `url`

Every request gets `state.status` with a JSON body whose `message`, `Message`, `error`,
`errors[].message` (and, for SES, `__type`) carry every request header, the decoded Basic
credentials, the string fields of a JSON body and `state.extra`, credentials first so they
survive a reason cut at 500 characters. With `state.batch_entries`, Postmark's batch path
answers 200 with one refused entry per message instead, each entry echoing the same, and
every other path 200 with nothing in it.

    with echo_smtp(credentials={"mailer": PASSWORD}, refuse_auth=True) as server:
        ...  # AUTH fails with a 535 that repeats the login, password and base64 blob

`refuse_auth=False` takes the login and then refuses every RCPT (`rcpt_code`) with a reply
that repeats them.

    with echo_imap(reply="BAD") as port:
        ...  # [inbox] on 127.0.0.1:port, security = "none"

An IMAP server that refuses every LOGIN with a tagged `NO` or `BAD` reply repeating the
command line it got, quoted password and all.
"""

from __future__ import annotations

import base64
import binascii
import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from fakes.httpserver import FakeHandler, Reply, serve
from fakes.smtp import FAKE_NAME, FakeSmtpServer, RecordingHandler, free_port


@dataclass
class EchoState:
    status: int = 401
    extra: list[str] = field(default_factory=list)  # more text to echo (a leaked key)
    batch_entries: bool = False  # Postmark: 200 + refused entries
    error_type: str = "UnrecognizedClientException"  # SES: the error code it names
    requests: list[dict[str, str]] = field(default_factory=list)


class EchoHandler(FakeHandler):
    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        state: EchoState = self.server.state
        state.requests.append(headers)
        echo = echo_text(headers, body, state.extra)
        if state.batch_entries and path.startswith("/email/batch"):
            entries = [
                {"ErrorCode": 300, "Message": echo, "To": m.get("To", "")} for m in json.loads(body)
            ]
            return Reply.json(200, entries)
        if state.batch_entries:  # the stream's settings, the suppression dump: nothing to say
            return Reply.json(200, {"Suppressions": []})
        payload = {
            "message": echo,
            "Message": echo,
            "error": echo,
            "ErrorCode": 10,
            "errors": [{"message": echo}],
            "name": "validation_error",
            "__type": state.error_type,
        }
        return Reply.json(
            state.status, payload, {"x-amzn-ErrorType": f"{state.error_type}:http://internal"}
        )


def echo_text(headers: dict[str, str], body: bytes, extra: list[str]) -> str:
    """What a careless gateway repeats: credentials first, then everything else."""
    parts = [
        f"{name}: {value}"
        for name, value in headers.items()
        if name in ("authorization", "x-postmark-server-token", "x-amz-security-token")
    ]
    auth = headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        parts.append("basic=" + _b64decode(auth[6:]))
    parts += extra
    parts += [f"{name}: {value}" for name, value in headers.items()]
    parts += _json_strings(body)
    return "denied: " + " | ".join(parts)


def _b64decode(text: str) -> str:
    try:
        return base64.b64decode(text).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return text


def _json_strings(body: bytes) -> list[str]:
    try:
        data = json.loads(body)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    return [f"{k}={v[:80]}" for k, v in data.items() if isinstance(v, str)]


@contextmanager
def echo_http(state: EchoState | None = None) -> Iterator[tuple[str, EchoState]]:
    """Run the echoing HTTP server; yields (base_url, state)."""
    with serve(EchoHandler, state or EchoState()) as running:
        yield running


class _EchoAuthenticator:
    """Refuses (or takes) every login, repeating what it was given in the reply."""

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        echo = smtp_echo(login, password)
        session.echo = echo  # type: ignore[attr-defined]  # read back by handle_RCPT
        if not self.refuse:
            return AuthResult(success=True, auth_data=auth_data)
        message = f"535 5.7.8 {mechanism} refused: {echo}"
        return AuthResult(success=False, handled=False, message=message)


def smtp_echo(login: str, password: str) -> str:
    """The login, password and both AUTH blobs, as a gateway would repeat them."""
    plain = base64.b64encode(f"\0{login}\0{password}".encode()).decode()
    secret = base64.b64encode(password.encode()).decode()
    return f"user={login} pass={password} plain={plain} login={secret}"


@dataclass
class EchoRcptHandler(RecordingHandler):
    """Refuses every recipient with a reply that repeats the session's credentials."""

    rcpt_code: str = "554 5.7.1"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        return f"{self.rcpt_code} <{address}> refused: {getattr(session, 'echo', '')}"


@contextmanager
def echo_smtp(
    *, refuse_auth: bool = True, rcpt_code: str = "554 5.7.1"
) -> Iterator[FakeSmtpServer]:
    """aiosmtpd on 127.0.0.1 (AUTH without TLS) whose replies echo the credentials."""
    handler = EchoRcptHandler(rcpt_code=rcpt_code)
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        server_hostname=FAKE_NAME,
        authenticator=_EchoAuthenticator(refuse_auth),
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield FakeSmtpServer("127.0.0.1", controller.port, handler, controller)
    finally:
        controller.stop()


class _ImapEchoHandler(socketserver.StreamRequestHandler):
    """Greets, answers CAPABILITY and LOGOUT, and refuses LOGIN repeating its line."""

    server: _ImapEchoServer

    def handle(self) -> None:
        self.wfile.write(b"* OK IMAP4rev1 echo ready\r\n")
        for line in self.rfile:
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            command = rest.split(b" ", 1)[0].upper()
            if command == b"CAPABILITY":
                self.wfile.write(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n")
            elif command == b"LOGIN":
                reply = self.server.reply.encode()
                self.wfile.write(
                    tag + b" " + reply + b" [AUTHENTICATIONFAILED] got: " + rest + b"\r\n"
                )
            elif command == b"LOGOUT":
                self.wfile.write(b"* BYE\r\n" + tag + b" OK bye\r\n")
                return
            else:
                self.wfile.write(tag + b" BAD unknown\r\n")


class _ImapEchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    reply = "NO"


@contextmanager
def echo_imap(reply: str = "NO") -> Iterator[int]:
    """An IMAP server on 127.0.0.1 refusing LOGIN with `reply` (NO or BAD); yields its port."""
    server = _ImapEchoServer(("127.0.0.1", 0), _ImapEchoHandler)
    server.reply = reply
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
