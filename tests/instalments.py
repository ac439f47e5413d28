"""Two real instalments for the tests that run real mail tools (Chromium, SpamAssassin).

`example_series` copies this repository's own series (seriespub.toml and the example
instalment, drafts/01-…) into a folder and adds a rich second instalment with every element
a draft may hold: headings, a table, code, an image, a footnote, a blockquote, a list.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DRAFT = "01-leading-across-systems.md"
POSTAL = "Impact4Health Ltd, 1 Example Street, Leeds LS1 1AA, United Kingdom"

RICH = """---
title: "What the teams told us"
subject: "Part 2: What the teams told us"
preheader: "Three findings from a year of work with leadership teams."
status: ready
---

Hello {{{{ name | default("there") }}}},

This week I share what the teams told us, with a [link to the full notes](https://example.com/notes)
and **one figure** you can check in `survey.csv`, the file we published.[^survey]

## What we asked

> The most useful question was also the simplest: *who else needs to be in this room?*
> ([the session notes](https://example.com/session))

### Who answered

| Team | Members | Since |
|------|---------|-------|
| North | 12 | 2019 |
| South | 7 | 2021 |

```
answers = load("survey.csv")
print(len(answers), "leaders answered")
```

![Leaders from three organisations around one table]({image})

1. Ask who is missing.
2. Invite them before the agenda is set.

---

Next week I will write about what changed afterwards.

[^survey]: 240 leaders answered between March and May; the
    [survey notes](https://example.com/survey) describe the method.
"""


def example_series(root: Path, image: str = "https://example.com/photos/table.jpg") -> Path:
    """A series folder at `root`: the repository's config and example, plus the rich part 2."""
    (root / "drafts").mkdir(parents=True)
    config = (REPO / "seriespub.toml").read_text(encoding="utf-8")
    config = config.replace("[series]\n", f'[series]\npostal_address = "{POSTAL}"\n', 1)
    (root / "seriespub.toml").write_text(config, encoding="utf-8")
    shutil.copy(REPO / "drafts" / EXAMPLE_DRAFT, root / "drafts" / EXAMPLE_DRAFT)
    (root / "drafts" / "02-what-the-teams-told-us.md").write_text(
        RICH.format(image=image), encoding="utf-8"
    )
    (root / "subscribers.csv").write_text(
        "email,name,status,subscribed_at\nada@example.org,Ada Lovelace,active,2026-01-01\n",
        encoding="utf-8",
    )
    return root


def write_png(path: Path, width: int, height: int) -> Path:
    """A real RGB PNG (a colour gradient) of the given size, written without any library."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, 110, y * 255 // height))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


def send_to_outbox(
    root: Path, parts: int, key: str = "outbox-test-key-" + "0123456789abcdef" * 2
) -> list[Path]:
    """Send the series at `root` `parts` times with the real CLI (a child process, this
    checkout's sources, `key` the unsubscribe key) to its outbox; the .eml of each part."""
    import os
    import subprocess
    import sys

    source = str(REPO / "src")
    path = os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "SERIESPUB_SECRET": key, "PYTHONPATH": path}
    for _ in range(parts):
        done = subprocess.run(
            [sys.executable, "-m", "seriespub", "send", "next", "--yes"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    outbox = root / ".seriespub" / "outbox"
    return [next((outbox / f"{n:03d}").glob("*.eml")) for n in range(1, parts + 1)]


def seriespub_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a child `seriespub` runs in: this checkout's sources first on
    PYTHONPATH, whatever its working folder; `extra` added."""
    import os

    path = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def start_seriespub(
    root: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdout: Any = None,
    stderr: Any = None,
    text: bool = False,
) -> Any:
    """`seriespub ARGS` started at `root` (`seriespub_env(env)`); its Popen, not waited for.
    stdout and stderr are piped unless given (`subprocess.DEVNULL`, …)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "seriespub", *args],
        cwd=root,
        env=seriespub_env(env),
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE if stderr is None else stderr,
        text=text,
    )


def run_seriespub(
    root: Path, *args: str, env: dict[str, str] | None = None, preexec_fn: Any = None
) -> Any:
    """`seriespub ARGS` at `root` with the real CLI (a child process, this checkout's
    sources), as a user runs it; `env` adds to the environment, `preexec_fn` runs in the
    child before it starts (a resource limit). Its CompletedProcess."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "seriespub", *args],
        cwd=root,
        env=seriespub_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=preexec_fn,
    )


def build_site(root: Path) -> None:
    """`seriespub site` at `root`, as a user runs it; it must succeed."""
    done = run_seriespub(root, "site")
    assert done.returncode == 0, done.stdout + done.stderr
