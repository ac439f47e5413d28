"""A real HTTP server on 127.0.0.1 in a thread, for provider fakes.

Subclass `FakeHandler`, implement `handle_request(method, path, headers, body)` returning
`Reply`, or `Reply.drop()` to close the socket after reading the request (the "accepted,
but the answer never arrived" case). State lives on the server object (`self.server.state`).
"""

from __future__ import annotations

import json
import socket
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        h = {"Content-Type": "application/json", **(headers or {})}
        return cls(status, json.dumps(payload).encode(), h)

    @classmethod
    def dropped(cls) -> Reply:
        return cls(drop=True)


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Kept, not printed: a client gone mid-answer (a killed send) is part of the tests,
        # and socketserver's print lands in whatever stderr a test is capturing then (the
        # CLI runner's), which reads as the command's own traceback.
        self.errors.append(traceback.format_exc())

    @property
    def errors(self) -> list[str]:
        found: list[str] = self.__dict__.setdefault("_errors", [])
        return found


class FakeHandler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        raise NotImplementedError

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.handle_request(self.command, self.path, headers, body)
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch


@contextmanager
def serve(handler: type[FakeHandler], state: Any) -> Iterator[tuple[str, Any]]:
    """Run `handler` on 127.0.0.1 on a free port; yields (base_url, state)."""
    server = FakeServer(("127.0.0.1", 0), handler)
    server.state = state
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
