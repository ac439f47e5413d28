"""Every bench measures the checkout it sits in, not another installed copy of seriespub.

The README tells a newcomer to run `python bench/X.py` from the repository; a virtualenv whose
editable install points at another checkout (the main branch's, say) must not be what a bench
in this one times. Each script is loaded as `python bench/X.py` would load it (its folder
first on the path), with a decoy `seriespub` package first on PYTHONPATH standing in for the
other copy, and without running its main."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHES = sorted(path.name for path in (ROOT / "bench").glob("*.py"))

LOAD = """
import runpy, sys
script = sys.argv[1]
sys.path.insert(0, str(__import__("pathlib").Path(script).parent))  # as `python script` does
runpy.run_path(script, run_name="loaded_by_test")
import seriespub  # what its main would import, if the load did not
print(seriespub.__file__)
"""


@pytest.fixture(scope="module")
def decoy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding another, empty `seriespub` package: the copy installed elsewhere."""
    folder = tmp_path_factory.mktemp("decoy")
    (folder / "seriespub").mkdir()
    (folder / "seriespub" / "__init__.py").write_text('"""Another copy."""\n')
    return folder


@pytest.mark.parametrize("bench", BENCHES)
def test_a_bench_imports_the_seriespub_of_its_own_checkout(bench: str, decoy: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(decoy)}
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(ROOT / "bench" / bench)],
        capture_output=True,
        text=True,
        env=env,
        cwd=decoy,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(done.stdout.strip().splitlines()[-1]) == ROOT / "src" / "seriespub" / "__init__.py"
