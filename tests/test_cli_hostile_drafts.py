"""Hostile drafts: YAML aliases that multiply (billion laughs), front matter nested past
any use, an impossible date, and Markdown nested thousands deep each stop every command
with one line naming the draft, never a hang, a traceback or a crash of the engine.

They run as real processes: a hang or a segfault must fail the test, not the test run."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import seriespub_process

FRONT = "---\ntitle: Part 1\nstatus: ready\n{extra}---\n{body}\n"


def laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "laughs": (FRONT.format(extra=laughs(), body="Hello"), "anchors and aliases"),
    "deep-yaml": (FRONT.format(extra="x: " + "[" * 20000 + "\n", body="Hi"), "nested too deeply"),
    "bad-date": (FRONT.format(extra="when: 2026-13-45\n", body="Hi"), "2026-13-45"),
    "deep-markdown": (FRONT.format(extra="", body=">" * 50000 + " deep"), "nested too deeply"),
    # YAML allows no control character (found by tests/test_fuzz_inputs.py): a NUL typed
    # or pasted into the front matter is named with its line.
    "nul-in-front": (FRONT.format(extra="note: a\x00b\n", body="Hi"), ":4: front matter: "),
}


def one_error_line(root: Path, *args: str) -> str:
    proc = seriespub_process(root, *args, output=True)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"seriespub {' '.join(args)} hung")
    text = err.decode()
    assert proc.returncode == 1 and "Traceback" not in text, (proc.returncode, text[-2000:])
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, text
    return errors[0]


@pytest.mark.parametrize("kind", sorted(HOSTILE))
@pytest.mark.parametrize("command", [("preview", "1"), ("send", "next", "--yes")])
def test_a_hostile_draft_is_one_line_naming_it(
    make_series: Callable[..., Path], kind: str, command: tuple[str, ...]
) -> None:
    root = make_series(drafts=1)
    draft = root / "drafts" / "01-part-1.md"
    text, expected = HOSTILE[kind]
    draft.write_text(text, encoding="utf-8")
    line = one_error_line(root, *command)
    assert "01-part-1.md" in line and expected in line, line
    assert not (root / ".seriespub" / "outbox").exists()


def test_check_reports_a_markdown_nested_too_deeply(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=1)
    draft = root / "drafts" / "01-part-1.md"
    draft.write_text(HOSTILE["deep-markdown"][0], encoding="utf-8")
    proc = seriespub_process(root, "check", output=True)
    out, err = proc.communicate(timeout=60)
    text = out.decode() + err.decode()
    assert proc.returncode == 1 and "Traceback" not in text, text[-2000:]
    assert "01-part-1.md" in text and "nested too deeply" in text, text


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_status_leaves_a_hostile_draft_out_with_a_warning(
    make_series: Callable[..., Path], kind: str
) -> None:
    root = make_series(drafts=2)
    text, expected = HOSTILE[kind]
    (root / "drafts" / "01-part-1.md").write_text(text, encoding="utf-8")
    proc = seriespub_process(root, "status", output=True)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err.decode(), err.decode()[-2000:]
    warning = err.decode().splitlines()[0]
    assert warning.startswith("warning: ") and "01-part-1.md" in warning, warning
    assert expected in warning and "left out" in warning, warning
    assert "Part 2 title" in out.decode()


# Explicit YAML tags on a value they cannot build: PyYAML fails with AttributeError,
# KeyError or IndexError rather than its own error (found by tests/test_fuzz_inputs.py).
@pytest.mark.parametrize(
    "tagged", ["!!timestamp soon", "!!timestamp ''", "!!bool maybe", "!!int ''", "!!float ''"]
)
@pytest.mark.parametrize("command", [("check",), ("preview", "1"), ("send", "next", "--yes")])
def test_a_tag_yaml_cannot_build_is_one_line_naming_it(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    tagged: str,
    command: tuple[str, ...],
) -> None:
    root = make_series(drafts=1)
    (root / "drafts" / "01-part-1.md").write_text(
        FRONT.format(extra=f"subject: {tagged}\n", body="Hi"), encoding="utf-8"
    )
    result = cli(root, *command)
    assert result.exit_code == 1, result.output
    said = result.stderr if command != ("check",) else result.stdout
    assert "01-part-1.md:4" in said and "cannot read" in said, said
    assert not (root / ".seriespub" / "outbox").exists()
