"""A send's worker threads share a bounded number of malloc arenas (seriespub.arenas).

glibc gives each new thread that allocates its own arena, up to eight per core, and each
keeps what its thread freed for reuse: eight workers building and dropping request bodies
held about 10 MB more at 1,000,000 readers than at 10,000 (`bench/bench_scale.py`). The test
runs a real `send next` in its own process (a fresh allocator) with eight requests in flight
and counts the arenas glibc reports at the end (`malloc_info`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from seriespub.arenas import MAX_ARENAS

GLIBC = hasattr(os, "confstr") and "glibc" in (os.confstr("CS_GNU_LIBC_VERSION") or "")

# Runs the CLI, then prints how many arenas ("heaps") glibc's malloc_info lists.
COUNT_ARENAS = """
import ctypes, sys, tempfile
from seriespub.cli import app
try:
    app(["send", "next", "--yes"])
except SystemExit as exit:
    code = exit.code
libc = ctypes.CDLL("libc.so.6")
libc.fdopen.restype = ctypes.c_void_p
with tempfile.TemporaryFile() as out:
    stream = libc.fdopen(out.fileno(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(stream))
    libc.fflush(ctypes.c_void_p(stream))
    out.seek(0)
    info = out.read().decode()
print(code, info.count("<heap nr="))
"""


@pytest.mark.skipif(not GLIBC, reason="malloc arenas are glibc's")
def test_a_send_with_eight_requests_in_flight_uses_few_malloc_arenas(
    make_series: Callable[..., Path],
) -> None:
    root = make_series(
        subscribers=400,
        delivery='[delivery]\nprovider = "outbox"\nbatch_size = 10\nconcurrency = 8\n',
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", COUNT_ARENAS],
        cwd=root,
        env={**env, "SERIESPUB_SECRET": "s" * 32},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    code, arenas = done.stdout.split()[-2:]
    assert code in ("0", "None"), done.stdout + done.stderr[-2000:]
    assert len(list((root / ".seriespub" / "outbox").rglob("*.eml"))) == 400
    assert 1 <= int(arenas) <= MAX_ARENAS, f"{arenas} malloc arenas"
