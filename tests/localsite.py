"""A built site served on 127.0.0.1 for the real link checker and feed reader to fetch.

The server starts first (port 0: a free one), so the series' base_url can name its address
and every absolute link the site writes (canonical, feed, the emails' links) stays local.
It serves a folder where `series/` (or the root) is the site's out folder, and answers with
a `LinkChecker` header: LinkChecker makes more than ten requests a second only to a server
that does (its documented opt-in), which keeps a crawl well under a second.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class _Handler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("LinkChecker", "a local test server: no rate limit needed")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1; yields its origin (`http://127.0.0.1:PORT`)."""
    folder.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_Handler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def publish_at(www: Path, path: str, site_dir: Path) -> None:
    """Make `site_dir` appear at `path` ("series/" or "") under the served folder `www`."""
    if path.strip("/"):
        (www / path.strip("/")).symlink_to(site_dir, target_is_directory=True)
    else:
        www.rmdir()
        www.symlink_to(site_dir, target_is_directory=True)
