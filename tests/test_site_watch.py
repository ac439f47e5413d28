"""`preview --watch`: the draft served on 127.0.0.1, the page reloading as the author edits."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from seriespub.site.serve import POLL_SCRIPT, LivePreview


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    answer = conn.getresponse()
    return answer.status, answer.read().decode()


def test_live_preview_version_changes_with_any_watched_file(tmp_path: Path) -> None:
    draft, template = tmp_path / "draft.md", tmp_path / "email.mjml"
    draft.write_text("one")
    live = LivePreview(lambda: "<html><body>hi</body></html>", [draft, template], port=0)
    try:
        assert live.url.startswith("http://127.0.0.1:")
        first = get(live.server.port, "/__version")[1]
        template.write_text("now there is one")  # created: a change too
        assert get(live.server.port, "/__version")[1] != first
        assert get(live.server.port, "/")[1] == f"<html><body>hi{POLL_SCRIPT}</body></html>"
    finally:
        live.stop()


@pytest.mark.slow
def test_preview_watch_serves_the_draft_and_signals_each_edit(
    make_series: Callable[..., Path],
) -> None:
    root = make_series(drafts=2, ready=1)
    draft = root / "drafts" / "02-part-2.md"  # still a draft: the one being written
    proc = subprocess.Popen(
        [sys.executable, "-m", "seriespub", "preview", "2", "--watch", "--port", "0"],
        cwd=root,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "watching 02-part-2.md: open http://127.0.0.1:" in line, line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        status, page = get(port, "/")
        assert status == 200 and "Part 2 title" in page and POLL_SCRIPT in page
        before = get(port, "/__version")[1]
        assert get(port, "/__version")[1] == before  # nothing changed: no reload
        draft.write_text(draft.read_text().replace("Part 2 title", "A better title"))
        stat = draft.stat()
        os.utime(draft, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert get(port, "/__version")[1] != before
        assert "A better title" in get(port, "/")[1]
        draft.write_text(draft.read_text().replace("{{ name", "{% for x in y %}{{ name"))
        status, page = get(port, "/")  # a mistake mid-edit shows, not crashes
        assert status == 200 and "02-part-2.md" in page and POLL_SCRIPT in page
        assert get(port, "/elsewhere")[0] == 404
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
        rest = proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        assert code == 0, rest
