"""Every command has help, and the README documents it and opens with the two commands."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from seriespub.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
CI = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")


def all_commands() -> list[str]:
    root = get_command(app)
    found = []

    def walk(command: Any, prefix: list[str]) -> None:
        if hasattr(command, "commands"):  # a group (Typer ships its own click)
            for name, sub in command.commands.items():
                walk(sub, [*prefix, name])
            if not getattr(command, "invoke_without_command", False):
                return
        if prefix:
            found.append(" ".join(prefix))

    walk(root, [])
    return sorted(found)


def test_the_cli_has_every_command_we_document() -> None:
    assert all_commands() == sorted(
        [
            "init",
            "new",
            "preview",
            "check",
            "status",
            "log",
            "schedule",
            "schedule install",
            "subscribers add",
            "subscribers remove",
            "subscribers list",
            "subscribers import",
            "subscribers sync",
            "subscribers verify",
            "subscribers unsubscribe-token",
            "send next",
            "send test",
            "send retry",
            "send settle",
            "send due",
            "send cancel",
            "site",
        ]
    )


@pytest.mark.parametrize("command", all_commands())
def test_every_command_has_help_and_is_in_the_readme(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert f"seriespub {command}" in README, f"README does not mention `seriespub {command}`"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_same_tests() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    lines = [ln.split("#")[0].strip() for ln in first_block.group(1).splitlines()]
    assert lines[0] == "pip install -e . && seriespub send next --yes"
    assert lines[1] == "pip install -e '.[dev]' && python -m pytest -q"
    assert "python -m pytest -q" in CI
