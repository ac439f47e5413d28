"""The undo record of an append to the list: it cuts back only its own part-written append."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import ok
from seriespub import appendundo

OLD = b"email,name\nann@example.com,Ann\n"
ROWS = b"bob@example.com,Bob\ncy@example.com,Cy\n"


def killed_mid_append(tmp_path: Path) -> Path:
    """A list whose append recorded itself, then died with part of a row written."""
    path = tmp_path / "subscribers.csv"
    path.write_bytes(OLD)
    appendundo.begin(path, os.stat(path), len(OLD) + len(ROWS))
    with open(path, "ab") as handle:
        handle.write(ROWS[:25])
    return path


def test_the_part_written_append_is_cut_back_and_the_record_dropped(tmp_path: Path) -> None:
    path = killed_mid_append(tmp_path)
    assert appendundo.undo(path) is True
    assert path.read_bytes() == OLD
    assert not appendundo.record_path(path).exists()
    assert appendundo.undo(path) is False  # nothing left to undo


def test_a_list_an_editor_saved_since_is_left_as_it_is(tmp_path: Path) -> None:
    path = killed_mid_append(tmp_path)
    saved = tmp_path / ".subscribers.csv.swp"
    saved.write_bytes(OLD + b"dee@example.com,Dee\n")
    os.replace(saved, path)  # a new file, as editors save
    assert appendundo.undo(path) is False
    assert path.read_bytes() == OLD + b"dee@example.com,Dee\n"
    assert not appendundo.record_path(path).exists()


def test_a_list_longer_than_the_append_made_it_is_left_as_it_is(tmp_path: Path) -> None:
    path = killed_mid_append(tmp_path)
    with open(path, "ab") as handle:  # written in place by something else since
        handle.write(ROWS * 3)
    assert appendundo.undo(path) is False
    assert path.read_bytes().startswith(OLD + ROWS[:25])


def test_a_record_cut_short_is_dropped_and_the_list_untouched(tmp_path: Path) -> None:
    path = tmp_path / "subscribers.csv"
    path.write_bytes(OLD)
    record = appendundo.record_path(path)
    record.parent.mkdir()
    record.write_text('{"dev": 1, "ino"', encoding="utf-8")
    assert appendundo.undo(path) is False
    assert path.read_bytes() == OLD and not record.exists()


def test_commands_that_only_read_the_list_see_it_as_before_a_killed_append(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    """`check`, `status` and `subscribers list` read without the list's lock, so they cannot
    cut a killed append back; they read the list as it was before it (as they do while a
    live append is under way), and leave the file for the next writer to mend."""
    root = make_series(subscribers=3)
    path = root / "subscribers.csv"
    before = path.read_bytes()
    status = ok(cli(root, "status")).output
    row = b"dee@example.com,Dee,active,2026-01-02\n"
    appendundo.begin(path, os.stat(path), len(before) + len(row))
    with open(path, "ab") as handle:
        handle.write(row[:4])  # killed here: 'dee@' and no line break
    torn = path.read_bytes()

    assert "subscribers.csv" not in cli(root, "check").output
    listed = json.loads(ok(cli(root, "subscribers", "list", "--json")).stdout)
    assert [r["email"] for r in listed] == [f"reader{i:04d}@example.com" for i in (1, 2, 3)]
    assert ok(cli(root, "status")).output == status
    assert path.read_bytes() == torn  # a reader never writes the list

    ok(cli(root, "subscribers", "add", "eve@example.com"))  # a writer: cuts it back first
    assert path.read_bytes().startswith(before) and b"dee@" not in path.read_bytes()
