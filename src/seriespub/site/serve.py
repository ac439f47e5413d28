"""Local servers on 127.0.0.1 only: the built site, and a live-reloading preview.

`serve_site` serves the out folder at the base URL's path (so the 404 page's absolute links
work) and answers anything missing with 404.html. `LivePreview` serves one rendered page and
`/__version`, a number that changes whenever the watched file's mtime does; the page polls it
and reloads. Both run in a daemon thread; `stop()` ends them.
"""

from __future__ import annotations

import http.server
import posixpath
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
POLL_SCRIPT = """<script>
(function () {
  var seen = null;
  function poll() {
    fetch("/__version", {cache: "no-store"}).then(function (r) { return r.text(); })
      .then(function (v) { if (seen !== null && v !== seen) { location.reload(); } seen = v; })
      .catch(function () {}).finally(function () { setTimeout(poll, 500); });
  }
  poll();
})();
</script>"""


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler], port: int) -> None:
        self.httpd = http.server.ThreadingHTTPServer((HOST, port), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_site(out_dir: Path, base_path: str = "/", port: int = 8000) -> Server:
    """Serve `out_dir` at `base_path` (e.g. "/teaming/") on 127.0.0.1:`port` (0: any free)."""
    prefix = "/" + base_path.strip("/") + "/" if base_path.strip("/") else "/"

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(out_dir), **kwargs)

        def do_GET(self) -> None:
            if self._route():
                super().do_GET()

        def do_HEAD(self) -> None:
            if self._route():
                super().do_HEAD()

        def _route(self) -> bool:
            """Point self.path into out_dir; False once a redirect or the 404 is answered."""
            asked = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(asked.path)
            query = f"?{asked.query}" if asked.query else ""
            if path + "/" == prefix:
                self._redirect(prefix + query)
                return False
            inside = path.startswith(prefix)
            rest = posixpath.normpath(path[len(prefix) :]) if inside else ".."
            target = out_dir / rest
            if (
                not inside
                or rest.startswith("..")
                or not (target.is_file() or (target / "index.html").is_file())
            ):
                self._not_found()
                return False
            if target.is_dir() and not path.endswith("/"):
                # Here, not in SimpleHTTPRequestHandler, which would drop the base path.
                self._redirect(asked.path + "/" + query)
                return False
            self.path = (
                "/"
                if rest == "."
                else "/" + urllib.parse.quote(rest) + ("/" if path.endswith("/") else "")
            )
            return True

        def _redirect(self, where: str) -> None:
            self.send_response(301)
            self.send_header("Location", where)
            self.end_headers()

        def _not_found(self) -> None:
            page = out_dir / "404.html"
            body = page.read_bytes() if page.is_file() else b"not found"
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Server(Handler, port)


class LivePreview:
    """Serve `render()` at / with live reload whenever one of the `watched` files changes."""

    def __init__(self, render: Callable[[], str], watched: Sequence[Path], port: int = 0) -> None:
        self._render = render
        self._watched = watched
        self._lock = threading.Lock()
        self.server = Server(self._handler(), port)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.port}/"

    @property
    def watched_name(self) -> str:
        """The file being written (the first one watched), for the author."""
        return self._watched[0].name

    def version(self) -> str:
        """Changes whenever a watched file is written, created or removed."""
        stamps = []
        for path in self._watched:
            try:
                stat = path.stat()
                stamps.append(f"{stat.st_mtime_ns}:{stat.st_size}")
            except OSError:
                stamps.append("-")
        return ",".join(stamps)

    def page(self) -> bytes:
        """The rendered page with the poll script; a render error is shown, not raised."""
        import html

        with self._lock:
            try:
                text = self._render()
            except Exception as exc:
                text = (
                    f"<!DOCTYPE html><html><body><pre>{html.escape(str(exc))}</pre></body></html>"
                )
        if "</body>" in text:
            text = text.replace("</body>", POLL_SCRIPT + "</body>", 1)
        else:
            text += POLL_SCRIPT
        return text.encode("utf-8")

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        preview = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                if path == "/__version":
                    self._send(preview.version().encode(), "text/plain")
                elif path == "/":
                    self._send(preview.page(), "text/html; charset=utf-8")
                else:
                    self._send(b"not found", "text/plain", 404)

            def _send(self, body: bytes, kind: str, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def stop(self) -> None:
        self.server.stop()
