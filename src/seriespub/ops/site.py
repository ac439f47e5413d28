"""`seriespub site` as a library call: build the static site, or serve a built one."""

from __future__ import annotations

import datetime as dt
import urllib.parse

from seriespub import publishing
from seriespub.lock import site_lock
from seriespub.series import Series as Series  # re-exported for the CLI's types
from seriespub.site.build import BuildResult, out_dir_of, require_site, site_files, write_site
from seriespub.site.serve import Server, serve_site
from seriespub.statefiles import tighten_folder


def build(series: Series, now: dt.datetime | None = None) -> BuildResult:
    """Build the site of `series` into its `[site] out_dir`; the ledger is only read. One
    build at a time (`lock.site_lock`): a second is refused with LockHeld, naming the first."""
    require_site(series)
    now = now or dt.datetime.now(dt.UTC)
    with site_lock(series.state_dir):
        tighten_folder(series.state_dir)  # a build writes there: loose modes of old go
        drafts = publishing.drafts_of(series, strict=False)
        with publishing.open_ledger(series, readonly=True) as ledger:
            parts, files = site_files(series, drafts, ledger, now)
        return write_site(series, parts, files)


def serve(series: Series, port: int = 8000) -> tuple[Server, str]:
    """Serve the built site on 127.0.0.1 at its base URL's path; returns the server and URL."""
    from seriespub.errors import InputError

    base_url = require_site(series)
    out = out_dir_of(series)
    if not (out / "index.html").is_file():
        raise InputError("no site built here yet", path=out, hint="run: seriespub site")
    path = urllib.parse.urlsplit(base_url).path or "/"
    try:
        server = serve_site(out, urllib.parse.unquote(path), port)  # as requests are matched
    except OSError as exc:
        raise InputError(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", hint="choose another with --port"
        ) from None
    return server, f"http://127.0.0.1:{server.port}{path}"
