"""The package as built, installed outside the checkout, does what the README's first command
does from it: an author who installs seriespub from a wheel (PyPI, `pipx install`) gets the
templates, the site and the console script, not only the modules.

Every other test imports the checkout's `src/`, where a file the wheel leaves out is still
found. Here the wheel is built from this checkout (hatchling, no build isolation: no network),
installed with `--no-index --no-deps` into a fresh venv that borrows the dev venv's
dependencies through a `.pth` line, and run from a copy of the example series with no
`PYTHONPATH`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "seriespub"

pytestmark = pytest.mark.slow  # a wheel build and a venv: about 10 s


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling", reason="hatchling (the dev extra) builds the wheel")
    out = tmp_path_factory.mktemp("wheel")
    done = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(out), str(REPO)],
        REPO,
        {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("seriespub-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv's bin folder, with the wheel installed and the dev venv's packages."""
    venv = tmp_path_factory.mktemp("venv")
    done = _run([sys.executable, "-m", "venv", str(venv)], venv, dict(os.environ))
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        venv,
        dict(os.environ),
    ).stdout.strip()
    # A plain path line: the dev venv's packages, but not its own .pth files (the editable
    # install of the checkout is one of them).
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "dev-venv.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    done = _run(
        [str(python), "-m", "pip", "install", "--no-index", "--no-deps", "-q", str(wheel)],
        venv,
        {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv / "bin"


def _outside_env(bin_dir: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SERIESPUB_"))}
    return {**env, "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "HOME": str(home)}


def test_the_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        "seriespub/" + path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert wanted - names == set()
    assert not [n for n in names if n.endswith(".pyc")]


def test_the_installed_package_sends_the_example_series_to_the_outbox(
    installed: Path, tmp_path: Path
) -> None:
    series = tmp_path / "series"
    series.mkdir()
    for name in ("seriespub.toml", "subscribers.csv"):
        shutil.copy(REPO / name, series / name)
    shutil.copytree(REPO / "drafts", series / "drafts")
    env = _outside_env(installed, tmp_path)

    where = _run(
        [str(installed / "python"), "-c", "import seriespub; print(seriespub.__file__)"],
        tmp_path,
        env,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout

    # The README's first command, through the console script the wheel installs.
    sent = _run([str(installed / "seriespub"), "send", "next", "--yes"], series, env)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    active = sum(
        1 for line in (series / "subscribers.csv").read_text().splitlines()[1:] if "active" in line
    )
    mails = list((series / ".seriespub" / "outbox" / "001").glob("*.eml"))
    assert len(mails) == active > 0
    assert b"Content-Type: text/html" in mails[0].read_bytes()  # the MJML template was found

    site_toml = (series / "seriespub.toml").read_text() + (
        '\n[site]\nbase_url = "https://example.org/series/"\n'
    )
    (series / "seriespub.toml").write_text(site_toml)
    built = _run([str(installed / "seriespub"), "site"], series, env)
    assert built.returncode == 0, built.stdout + built.stderr
    site = series / "site"
    assert (site / "feed.xml").read_text().startswith("<?xml")  # the site's templates
    assert (site / "style.css").stat().st_size > 0
