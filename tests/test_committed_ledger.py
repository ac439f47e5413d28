"""A series whose ledger is committed to git, sent from two checkouts: the CI job's and the
author's. Real git, a bare repository on disk as the remote (no network).

The GitHub Actions workflow of `schedule install` commits `.seriespub/ledger.db` after each
run. A checkout that has not pulled the job's last commit holds an older ledger: a send from
it would mail again every reader the job reached. And a part sent by hand from a checkout
whose ledger is not pushed is sent again by the job's next run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

LEDGER = ".seriespub/ledger.db"


def git(where: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def commit_ledger(where: Path, message: str) -> None:
    """What the workflow does after a run: commit the record and push it."""
    git(where, "add", "-f", LEDGER)
    git(where, "commit", "-q", "-m", message)
    git(where, "push", "-q")


def outbox_count(root: Path) -> int:
    return len(list((root / ".seriespub" / "outbox").rglob("*.eml")))


@pytest.fixture
def two_checkouts(
    make_series: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """(the CI job's checkout, the author's), sharing a bare origin; part 1 sent by the job
    and pushed before the author cloned."""
    for name, value in {
        "GIT_AUTHOR_NAME": "Ann",
        "GIT_AUTHOR_EMAIL": "ann@example.com",
        "GIT_COMMITTER_NAME": "Ann",
        "GIT_COMMITTER_EMAIL": "ann@example.com",
        "SERIESPUB_SECRET": "k" * 40,  # the job's secret and the author's .env agree
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    job = make_series(drafts=3, subscribers=3, name="job")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    git(job, "init", "-q", "-b", "main")
    (job / ".gitignore").write_text(".seriespub/\n", encoding="utf-8")
    git(job, "add", ".")
    git(job, "commit", "-q", "-m", "series")
    git(job, "remote", "add", "origin", str(origin))
    git(job, "push", "-q", "-u", "origin", "main")

    return job, origin


def test_a_checkout_behind_the_jobs_ledger_refuses_to_send(
    two_checkouts: tuple[Path, Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    job, origin = two_checkouts
    assert cli(job, "send", "next", "--yes").exit_code == 0
    commit_ledger(job, "part 1")
    laptop = tmp_path / "laptop"
    subprocess.run(["git", "clone", "-q", str(origin), str(laptop)], check=True)
    assert cli(job, "send", "next", "--yes").exit_code == 0  # the job sends part 2 …
    commit_ledger(job, "part 2")  # … and pushes; the author has not pulled

    stale = cli(laptop, "send", "next", "--yes")
    assert stale.exit_code == 1
    assert "newer delivery record" in stale.output
    assert "git pull" in stale.output
    assert outbox_count(laptop) == 0  # nobody mailed part 2 a second time

    git(laptop, "pull", "-q")
    fresh = cli(laptop, "send", "next", "--yes")
    assert fresh.exit_code == 0, fresh.output
    assert outbox_count(laptop) == 3  # part 3, once each
    assert "Part 3" in fresh.output or "part 3" in fresh.output
    # Sent from here: the job's checkout does not have this record until it is pushed.
    assert f"commit and push {LEDGER}" in fresh.output


def test_an_unreachable_remote_is_a_warning_not_a_stop(
    two_checkouts: tuple[Path, Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    job, _ = two_checkouts
    assert cli(job, "send", "next", "--yes").exit_code == 0
    commit_ledger(job, "part 1")
    git(job, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    result = cli(job, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert "could not check" in result.output
    assert outbox_count(job) == 6


def test_an_untracked_ledger_is_not_checked(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    """A series run from one place (the ledger git-ignored, as `init` sets it up): no git
    is asked anything, even inside a repository whose remote cannot be reached."""
    root = make_series(drafts=1, subscribers=2)
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", "/nonexistent/origin.git")
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert "could not check" not in result.output
    assert "commit and push" not in result.output


def test_a_dry_run_behind_the_jobs_ledger_warns_that_the_send_would_be_refused(
    two_checkouts: tuple[Path, Path], cli: Callable[..., Any], tmp_path: Path
) -> None:
    """The dry run shows the plan of the older ledger (part 2 to everyone): it must say that
    the job already sent more and that the real send will refuse, not present it as is."""
    job, origin = two_checkouts
    assert cli(job, "send", "next", "--yes").exit_code == 0
    commit_ledger(job, "part 1")
    laptop = tmp_path / "laptop"
    subprocess.run(["git", "clone", "-q", str(origin), str(laptop)], check=True)
    assert cli(job, "send", "next", "--yes").exit_code == 0
    commit_ledger(job, "part 2")

    dry = cli(laptop, "send", "next", "--dry-run")
    assert dry.exit_code == 0, dry.output
    warning = next(line for line in dry.stderr.splitlines() if "newer delivery record" in line)
    assert warning.startswith("warning: origin/main has a newer delivery record")
    assert "git pull" in warning
    assert outbox_count(laptop) == 0
    assert git(laptop, "status", "--porcelain") == ""  # the checkout itself is untouched

    git(laptop, "pull", "-q")
    fresh = cli(laptop, "send", "next", "--dry-run")
    assert fresh.exit_code == 0, fresh.output
    assert "newer delivery record" not in fresh.output
    assert "Part 3" in fresh.stderr
