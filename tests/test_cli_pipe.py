"""Output read by a program that stops early (`seriespub subscribers list | head`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import TEST_SECRET


def test_a_listing_piped_into_head_ends_quietly_like_unix_tools(
    make_series: Callable[..., Path],
) -> None:
    root = make_series(subscribers=20_000)  # well over a pipe's 64 KB buffer
    process = subprocess.Popen(
        [sys.executable, "-m", "seriespub", "subscribers", "list", "--series", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SERIESPUB_SECRET": TEST_SECRET, "COLUMNS": "120"},
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # `head -1` has what it wanted and exits
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 141  # 128 + SIGPIPE, as `grep | head` gives
    assert first and stderr == ""  # no "error: … Broken pipe", no Python complaint
