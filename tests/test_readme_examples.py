"""What the README shows a new user runs as shown: every `seriespub …` line of its shell
blocks and every command with arguments quoted in its text parses (the options exist, the
arguments fit), every `--option` it names belongs to some command, and every TOML block (its
commented-out keys too) loads as a seriespub.toml.

Parsing stops short of running: `make_context` checks the options and arguments as the real
command line would, and runs nothing.
"""

from __future__ import annotations

import importlib
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command

from seriespub.cli import app
from seriespub.config import parse_settings
from seriespub.errors import ConfigError

# Click's exceptions, found through one Typer exports: Typer ships its own copy of click in
# some versions (`typer._click`) and depends on click in others; neither path is promised.
_CLICK_EXCEPTIONS: Any = importlib.import_module(typer.BadParameter.__module__)
UsageError: Any = _CLICK_EXCEPTIONS.UsageError
MISSING_ONLY = (
    _CLICK_EXCEPTIONS.MissingParameter,
    _CLICK_EXCEPTIONS.BadOptionUsage,  # "--ics requires an argument"
    _CLICK_EXCEPTIONS.NoArgsIsHelpError,
)

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")

# Placeholders the README's prose writes in a command, and what stands in for them here.
PLACEHOLDERS = {r"\bN\b": "1", r"\bT\b": "2026-12-01T09:00", r"\bADDRESS\b": "a@example.com"}

# Options the README names that belong to other programs (the benches, pip, aws, rsync).
OTHER_PROGRAMS_OPTIONS = {
    "--all",
    "--million",
    "--sizes",
    "--n",
    "--runs",
    "--order",
    "--vs",
    "--rounds",
    "--delete",
    "--check",
    "--resume",
    "--provider",
    "--without-record",
}


def line_of(offset: int) -> int:
    return README.count("\n", 0, offset) + 1


def fenced(language: str) -> list[tuple[int, str]]:
    """(first line, text) of each ```language block."""
    return [
        (line_of(m.start()) + 1, m.group(1))
        for m in re.finditer(rf"```{language}\n(.*?)```", README, re.S)
    ]


def prose() -> str:
    """The README without its fenced blocks (their lines kept blank, so numbers hold)."""
    return re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), README, flags=re.S)


def shell_commands() -> list[tuple[int, str]]:
    found = []
    for first, text in fenced("sh"):
        for i, line in enumerate(text.splitlines()):
            if line.startswith("seriespub "):
                command = re.split(r"\s+#(?:\s|$)", line)[0]  # the comment after it
                found.append((first + i, command.removeprefix("seriespub ").strip()))
    return found


def quoted_commands() -> list[tuple[int, str]]:
    """Commands with arguments quoted in the prose: `send retry N --unknown`, `log 1`…"""
    names = "|".join(re.escape(name) for name in get_command(app).commands)  # type: ignore[attr-defined]
    found = []
    text = prose()
    for m in re.finditer(r"`([^`\n]+(?:\n[^`\n]+)?)`", text):
        span = m.group(1).replace("\n", " ").removeprefix("seriespub ").replace("…", "")
        for pattern, value in PLACEHOLDERS.items():
            span = re.sub(pattern, value, span)
        if re.match(rf"(?:{names})\b", span):
            found.append((text.count("\n", 0, m.start()) + 1, span.strip()))
    return found


def parse(command_line: str) -> tuple[list[str], Any]:
    """The command path, and the parser's complaint (None when the line parses)."""
    words = shlex.split(command_line)
    command: Any = get_command(app)
    path: list[str] = []
    while hasattr(command, "commands") and words and words[0] in command.commands:
        path.append(words[0])
        command = command.commands[words.pop(0)]
    try:
        command.make_context(" ".join(["seriespub", *path]), words)
    except UsageError as exc:
        return path, exc
    return path, None


def test_the_readme_shows_commands_to_check() -> None:
    assert len(shell_commands()) > 30
    assert len(quoted_commands()) > 30
    assert len(fenced("toml")) > 5


@pytest.mark.parametrize(("line", "command"), shell_commands(), ids=lambda v: str(v))
def test_every_command_line_in_a_shell_block_parses(line: int, command: str) -> None:
    path, complaint = parse(command)
    assert path, f"README.md:{line}: `seriespub {command}`: no such command"
    assert complaint is None, f"README.md:{line}: `seriespub {command}`: {complaint.message}"


def wrong_in_a_mention(complaint: Any) -> bool:
    """The text names a command with only some of its arguments (`send cancel N`,
    `schedule --ics`); what it writes must exist and fit: no unknown option, no value of
    the wrong type, no argument too many."""
    return complaint is not None and not isinstance(complaint, MISSING_ONLY)


def test_every_command_quoted_with_arguments_in_the_text_parses() -> None:
    wrong = []
    for line, command in quoted_commands():
        if command in ("send", "subscribers"):
            continue  # a group named alone: parsing it prints its help
        _, complaint = parse(command)
        if wrong_in_a_mention(complaint):
            assert complaint is not None
            wrong.append(f"README.md:{line}: `{command}`: {complaint.message}")
    assert wrong == []


@pytest.mark.parametrize(
    "mention",
    ["send next --bogus", "log one", "send cancel 1 2", "preview 1 --as"],
)
def test_a_wrong_mention_is_caught(mention: str) -> None:
    path, complaint = parse(mention)
    assert path and complaint is not None
    assert wrong_in_a_mention(complaint) == (mention != "preview 1 --as")


def every_option() -> set[str]:
    options: set[str] = {"--help"}

    def walk(command: Any) -> None:
        for param in command.params:
            options.update(o for o in [*param.opts, *param.secondary_opts] if o.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(get_command(app))
    return options


def test_every_option_the_readme_names_exists() -> None:
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*[a-z]", README))
    assert named - every_option() - OTHER_PROGRAMS_OPTIONS == set()


def uncommented(toml: str) -> str:
    """The block with each commented-out `# key = value` line that is valid TOML on its own
    taken in, so the keys the README offers as options are checked too."""
    lines = []
    for line in toml.splitlines():
        candidate = line.removeprefix("# ")
        if candidate != line and re.match(r"\w+ = ", candidate):
            try:
                tomllib.loads(candidate)
                line = candidate
            except tomllib.TOMLDecodeError:
                pass
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_a_commented_out_key_is_checked_too() -> None:
    assert uncommented('[site]\n# out_dir = "site"  # the folder\n# a remark = x\n') == (
        '[site]\nout_dir = "site"  # the folder\n# a remark = x\n'
    )
    with pytest.raises(ConfigError, match="out_dri"):
        test_every_toml_block_loads_as_a_seriespub_toml(1, '[site]\n# out_dri = "site"\n')


@pytest.mark.parametrize(("line", "toml"), fenced("toml"), ids=lambda v: str(v)[:20])
def test_every_toml_block_loads_as_a_seriespub_toml(line: int, toml: str) -> None:
    text = uncommented(toml)
    series = '[series]\ntitle = "T"\nfrom = "Ann <ann@example.com>"\n'
    if "[series]" not in text:
        text = series + text
    elif "title = " not in text:
        text = text.replace("[series]\n", series, 1)
    parse_settings(text, Path(f"README.md:{line}"))  # raises ConfigError naming the key
