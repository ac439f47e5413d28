"""The systemd user units of `schedule install`, read by systemd's own parser.

`systemd-analyze verify --user` loads a unit into a test manager without a running systemd
(this container has none as PID 1): it needs only a runtime folder (XDG_RUNTIME_DIR), and
with debug logging it prints each unit as systemd understood it. The units are checked for
what an author relies on: no warning or error, the timer's calendar valid, and systemd's
WorkingDirectory and command line exactly the series folder and the seriespub command.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seriespub.installers import systemd_units

ANALYZE = shutil.which("systemd-analyze")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed (Debian systemd)"),
]

# Spaces, a specifier, non-ASCII letters, a shell variable, quotes and a backslash.
FOLDERS = ["Lettres d’été 100%", "Ada's $HOME letters", 'Notes "du" soir \\ n']


def analyze(tmp_path: Path, *args: str, debug: bool = False) -> subprocess.CompletedProcess[str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "XDG_RUNTIME_DIR": str(runtime),
        "LANG": "C.UTF-8",
        # Debug logging also prints each unit as systemd understood it.
        "SYSTEMD_LOG_LEVEL": "debug" if debug else "info",
    }
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def verify(tmp_path: Path, unit: Path, debug: bool = False) -> subprocess.CompletedProcess[str]:
    args = ("verify", "--user", "--man=no", "--generators=no", str(unit))
    return analyze(tmp_path, *args, debug=debug)


def write_units(tmp_path: Path, folder: Path, command: list[str]) -> dict[str, Path]:
    where = tmp_path / "units"
    where.mkdir(exist_ok=True)
    paths = {}
    for name, text in systemd_units(folder, shlex.join(command)).items():
        paths[name.rsplit(".", 1)[1]] = where / name
        (where / name).write_text(text, encoding="utf-8")
    return paths


def understood(dump: str, key: str) -> str:
    """One setting of the unit as systemd's debug dump shows it."""
    match = re.search(rf"^\s*{key}: (.*)$", dump, re.M)
    assert match, dump
    return match.group(1)


def run_words(command_line: str) -> list[str]:
    """The words systemd executes for the dump's `Command Line`: the dump shows them before
    the variables of the arguments are expanded at start (systemd.service(5): `$NAME` is a
    variable, `$$` a `$`); an argument with a lone `$` would be a variable. The dump quotes
    as a shell does but writes `$` as `\\$` within double quotes, which shlex keeps."""
    executable, *args = shlex.split(command_line.replace("\\$", "$"))
    assert not any("$" in a.replace("$$", "") for a in args), args
    return [executable, *(a.replace("$$", "$") for a in args)]


@pytest.mark.parametrize("name", FOLDERS)
def test_systemd_reads_the_service_as_written(tmp_path: Path, name: str) -> None:
    """Before: `$` was doubled where systemd does not expand variables (WorkingDirectory=
    kept `$$HOME`: the service could not enter the folder), and a quote or a backslash in
    the interpreter's path was a fatal 'special characters' error."""
    folder = tmp_path / name
    # The interpreter inside the series folder (a venv there), its path as odd as the folder.
    (folder / "bin").mkdir(parents=True)
    python = folder / "bin" / "python"
    python.symlink_to(sys.executable)
    command = [str(python), "-m", "seriespub"]
    units = write_units(tmp_path, folder, command)

    plain = verify(tmp_path, units["service"])
    assert plain.returncode == 0 and plain.stderr == "", plain.stderr

    found = verify(tmp_path, units["service"], debug=True)
    dump = found.stdout + found.stderr
    assert understood(dump, "WorkingDirectory") == str(folder)
    assert run_words(understood(dump, "Command Line"))[-5:] == [*command, "send", "due"]
    assert understood(dump, "Description").endswith(f"in {folder}")


@pytest.mark.parametrize("name", FOLDERS)
def test_systemd_accepts_the_timer(tmp_path: Path, name: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    units = write_units(tmp_path, folder, [sys.executable, "-m", "seriespub"])
    checked = verify(tmp_path, units["timer"])
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    found = verify(tmp_path, units["timer"], debug=True)
    dump = found.stdout + found.stderr
    assert understood(dump, "Description").startswith(f"seriespub: check {folder} every")


def test_the_timers_calendar_is_every_five_minutes(tmp_path: Path) -> None:
    (text,) = (t for n, t in systemd_units(tmp_path, "seriespub").items() if n.endswith(".timer"))
    (calendar,) = re.findall(r"^OnCalendar=(.*)$", text, re.M)
    checked = analyze(tmp_path, "calendar", "--iterations=3", calendar)
    assert checked.returncode == 0, checked.stderr
    assert understood(checked.stdout, "Normalized form") == "*-*-* *:00/5:00"
    nexts = re.findall(r"(?:Next elapse|Iter\. #\d): \w+ (\S+ \S+)", checked.stdout)
    assert len(nexts) == 3 and all(t[-4] in "05" and t.endswith(":00") for t in nexts), nexts
