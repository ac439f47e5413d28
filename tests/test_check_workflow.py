"""`check` warns when the series' GitHub Actions workflow installs another seriespub than
the one running: once this one writes the ledger (schema 3), an older one refuses it, so the
scheduled job would stop at its next release until the workflow is made again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

Cli = Callable[..., Any]
# How the runner installs seriespub (a checkout's own install has no URL a runner can reach).
INSTALL = '[schedule]\ninstall = "seriespub @ git+https://example.com/seriespub@0123abcd"\n'


def workflow_of(cli: Cli, root: Path) -> str:
    """The workflow `schedule install` prints for this series, as an author pastes it."""
    result = cli(root, "schedule", "install")
    assert result.exit_code == 0, result.output
    after = result.stdout.split("# 3. GitHub Actions", 1)[1].splitlines()[1:]
    return "\n".join(line for line in after if not line.startswith("# ")) + "\n"


def findings(cli: Cli, root: Path) -> list[dict[str, str]]:
    result = cli(root, "check", "--json")
    return list(json.loads(result.stdout)["findings"])


def save(root: Path, text: str) -> Path:
    path = root / ".github" / "workflows" / "seriespub.yml"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_workflow_pinned_to_another_seriespub_is_warned_of(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=1, extra_toml=INSTALL)
    current = workflow_of(cli, root)
    assert "pip install" in current
    older = current.replace("@0123abcd", "@99ffee00")  # the commit installed before
    path = save(root, older)
    about = [f for f in findings(cli, root) if f["where"] == str(path)]
    assert len(about) == 1, findings(cli, root)
    assert about[0]["level"] == "warning"
    assert "@99ffee00" in about[0]["message"]
    assert "seriespub schedule install" in about[0]["message"]


def test_the_workflow_schedule_install_prints_now_is_not_warned_of(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=1, extra_toml=INSTALL)
    path = save(root, workflow_of(cli, root))
    assert [f for f in findings(cli, root) if f["where"] == str(path)] == []
