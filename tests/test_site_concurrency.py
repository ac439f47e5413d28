"""Two `seriespub site` builds at once, as real processes: the second says plainly that
another build is running (as a second `send` does) and changes nothing; the first finishes.

The first build is held mid-way by a draft that is a named pipe (a draft on a slow network
drive): it blocks reading it until the test writes the text.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import DRAFT, seriespub_process

SITE = '[site]\nbase_url = "https://example.org/teaming/"\n'


def seriespub(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return seriespub_process(root, *args, output=True)


def test_a_second_site_build_at_once_is_refused_in_one_line(
    make_series: Callable[..., Path], cli: Callable[..., object]
) -> None:
    root = make_series(drafts=2, extra_toml=SITE)
    assert cli(root, "send", "next", "--yes").exit_code == 0  # type: ignore[attr-defined]
    slow = root / "drafts" / "03-part-3.md"
    os.mkfifo(slow)
    first = seriespub(root, "site")
    with slow.open("w", encoding="utf-8") as writer:  # returns once the first build reads it
        second = seriespub(root, "site")
        try:
            err = second.communicate(timeout=30)[1].decode()
        except subprocess.TimeoutExpired:
            second.kill()
            second.communicate()
            pytest.fail("the second build waited on the first's drafts instead of refusing")
        finally:
            writer.write(DRAFT.format(title="Part 3 title", status="ready", number=3))
    out, first_err = first.communicate(timeout=60)
    assert first.returncode == 0, first_err.decode()
    assert "1 part published" in out.decode()
    assert second.returncode == 1 and "Traceback" not in err, err
    assert err.count("error: ") == 1 and "another seriespub run" in err, err
    assert f"pid {first.pid}" in err and "building the site" in err, err
    assert "try again when it finishes" in err, err
