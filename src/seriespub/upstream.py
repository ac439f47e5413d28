"""A delivery record committed to git: is this checkout's the newest, and is it pushed?

A series can be sent from two places when its ledger is committed: the CI job of `schedule
install` (which commits `.seriespub/ledger.db` after each run) and the author's own
checkout. A checkout that has not pulled the job's last commit holds an older ledger, and a
send from it would mail again every reader the job already reached; a part sent by hand and
not pushed is sent again by the job's next run.

Guarantees:
- nothing is asked of git unless the ledger is tracked in a checkout whose branch has an
  upstream (a series run from one place, its `.seriespub/` ignored as `init` sets it up,
  runs no git at all);
- `require_newest` fetches that upstream (never a prompt: GIT_TERMINAL_PROMPT=0 and ssh in
  batch mode; at most FETCH_SECONDS) and refuses, before anything is sent, when it holds
  commits to the ledger that this checkout lacks; a fetch that fails is a warning (offline,
  a remote that moved), never a stop;
- in the CI job itself (GITHUB_ACTIONS=true) nothing is fetched: it checked out the newest
  commit and its runs never overlap (the workflow's `concurrency:`);
- `unpushed_warning` says, after a send from such a checkout, that the record must be
  committed and pushed before the job runs again.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from seriespub.errors import InputError

FETCH_SECONDS = 20.0
_LOCAL_SECONDS = 5.0


@dataclass(frozen=True)
class Tracked:
    """A ledger committed in a checkout with an upstream."""

    folder: Path
    ledger: str  # its path as git names it, from the top of the checkout
    upstream: str  # "origin/main"


def tracked(folder: Path, ledger: Path) -> Tracked | None:
    """The ledger's checkout when it is tracked there and the branch has an upstream."""
    if not _in_checkout(folder):
        return None  # no git started for a series outside any checkout (most)
    relative = _git(folder, "ls-files", "--full-name", "--", str(ledger))
    if not relative:
        return None
    upstream = _git(folder, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
    if not upstream:
        return None
    return Tracked(folder, relative.splitlines()[0], upstream)


def require_newest(folder: Path, ledger: Path) -> str | None:
    """Refuse (InputError) when the upstream has commits to the ledger this checkout lacks;
    a warning to show when that could not be checked; None otherwise."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return None
    found = tracked(folder, ledger)
    if found is None:
        return None
    remote = found.upstream.split("/", 1)[0]
    fetched = _run(folder, ["fetch", "--quiet", remote], FETCH_SECONDS)
    if fetched.returncode != 0:
        why = _last_line(fetched.stderr) or f"git fetch exited with {fetched.returncode}"
        return (
            f"could not check {found.upstream} for a newer delivery record ({why}); "
            "if the CI job sent since your last pull, pull before sending"
        )
    behind = _git(folder, "rev-list", "--count", f"HEAD..{found.upstream}", "--", found.ledger)
    if behind and behind != "0":
        commits = "commit" if behind == "1" else "commits"
        raise InputError(
            f"{found.upstream} has a newer delivery record: {behind} {commits} to "
            f"{found.ledger} that this checkout lacks (the CI job sent since your last pull); "
            "a send from here would mail those readers again. Nothing was sent",
            hint="git pull, then run the command again",
        )
    return None


def unpushed_warning(folder: Path, ledger: Path) -> str | None:
    """After a send from a checkout whose ledger is tracked: the job's next run must see
    this record, or it sends the same part again."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return None
    found = tracked(folder, ledger)
    if found is None:
        return None
    return (
        f"this send is recorded only here: commit and push {found.ledger} before the CI "
        "job's next run, or it sends the same part again"
    )


def _in_checkout(folder: Path) -> bool:
    """A `.git` (folder, or file of a worktree) here or above; GIT_DIR set counts too."""
    if os.environ.get("GIT_DIR"):
        return True
    here = folder.resolve()
    return any((p / ".git").exists() for p in (here, *here.parents))


def _git(folder: Path, *args: str) -> str:
    done = _run(folder, list(args), _LOCAL_SECONDS)
    return done.stdout.strip() if done.returncode == 0 else ""


def _run(folder: Path, args: list[str], seconds: float) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
        "LC_ALL": "C",
    }
    try:
        return subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=seconds,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"no answer in {seconds:.0f} s")
    except OSError as exc:  # no git installed
        return subprocess.CompletedProcess(args, 127, "", exc.strerror or "git not found")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1].removeprefix("fatal: ") if lines else ""
