"""A permission error's hint is about the file that could not be written: the .seriespub/
hint under an error about subscribers.csv or a draft sent the author to the wrong folder."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from seriespub.statefiles import os_error


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM, errno.EROFS])
def test_the_hint_names_what_could_not_be_written(code: int, tmp_path: Path) -> None:
    listed = tmp_path / "subscribers.csv"
    error = os_error(OSError(code, "denied", str(listed)), listed, "cannot write")
    assert error.hint is not None and ".seriespub" not in error.hint
    assert "subscribers.csv" in error.hint
    state = tmp_path / ".seriespub" / "ledger.db"
    error = os_error(OSError(code, "denied", str(state)), state, "cannot write")
    assert error.hint is not None and ".seriespub/" in error.hint


def test_a_temp_file_beside_the_list_is_named_by_its_folder(tmp_path: Path) -> None:
    temp = tmp_path / ".subscribers-k2j4h1.csv"
    error = os_error(OSError(errno.EACCES, "denied", str(temp)), temp, "cannot continue")
    assert str(error).startswith(f"{tmp_path}: cannot continue: ")
    assert error.hint is not None and str(tmp_path) in error.hint
