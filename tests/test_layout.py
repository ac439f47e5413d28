"""The import rule, checked over the source with `ast`.

`cli/X.py` imports `ops/X.py` (and the shared `ops/session.py`) and `cli/*` only (plus typer,
rich and the standard library); nothing in `ops/` or below imports typer or rich. A newcomer
then finds the code of any command in one guess: the module with the command's name.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "seriespub"

# Shared plumbing of the command line; it may use the vocabulary (errors, secrets scrubbing,
# finding the series folder), never an operation.
PLUMBING = {
    "__init__": {"seriespub", "seriespub.__version__"},
    "common": {
        "seriespub.errors",
        "seriespub.notices",
        "seriespub.pathtext",  # a path as the user would type it from here
        "seriespub.redact",
        "seriespub.series",
        "seriespub.statefiles",
        "seriespub.textwidth",  # the terminal columns text takes
    },
    "progress": set(),
}
# cli modules over an ops module of another name: `send due` lives in its own file, and
# `schedule` is over ops/calendar.py (the calendar, not the `schedule.py` arithmetic).
OPS_OF = {"send_due": "send", "schedule": "calendar"}
UI = ("typer", "rich", "click")


def _parsed(path: Path) -> ast.Module:
    """`path`'s syntax tree. CPython 3.11's AST constructor can refuse a sound file with
    "AST constructor recursion depth mismatch" once earlier tests in the process have run
    into recursion limits (gh-106905): the file is then parsed in a fresh interpreter."""
    source = path.read_text(encoding="utf-8")
    try:
        return ast.parse(source)
    except SystemError:
        import pickle
        import subprocess
        import sys

        code = (
            "import ast, pickle, sys\n"
            "sys.stdout.buffer.write(pickle.dumps(ast.parse(sys.stdin.read())))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], input=source.encode(), capture_output=True, check=True
        )
        tree: ast.Module = pickle.loads(done.stdout)
        return tree


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (TYPE_CHECKING and function bodies too)."""
    found: set[str] = set()
    for node in ast.walk(_parsed(path)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "seriespub" or node.module == "seriespub.cli":
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            found.add(node.module)
    return found


def _allowed(name: str, module: str) -> bool:
    top = module.split(".")[0]
    if top in UI or top in sys.stdlib_module_names or top == "__future__":
        return True
    ops = OPS_OF.get(name, name)
    # ops/session.py is how every command holds its series: shared by design.
    if module in (
        f"seriespub.ops.{ops}",
        "seriespub.ops.session",
        "seriespub.cli",
        "seriespub.ops",
    ):
        return True
    if module.startswith("seriespub.cli."):
        return True
    return module in PLUMBING.get(name, set())


def _cli_modules() -> list[Path]:
    return sorted((SRC / "cli").glob("*.py"))


@pytest.mark.parametrize("path", _cli_modules(), ids=lambda p: p.name)
def test_a_command_module_imports_only_its_ops_module(path: Path) -> None:
    wrong = sorted(m for m in _imports(path) if not _allowed(path.stem, m))
    assert not wrong, f"cli/{path.name} imports {wrong}; it may import ops/{path.stem}.py only"


def test_nothing_below_the_cli_imports_a_terminal_library() -> None:
    offenders = {}
    for path in SRC.rglob("*.py"):
        if "cli" in path.relative_to(SRC).parts:
            continue
        ui = sorted(m for m in _imports(path) if m.split(".")[0] in UI)
        if ui:
            offenders[str(path.relative_to(SRC))] = ui
    assert not offenders


def test_every_ops_module_has_a_command_module() -> None:
    ops = {p.stem for p in (SRC / "ops").glob("*.py")} - {"__init__", "session"}
    cli = {p.stem for p in (SRC / "cli").glob("*.py")}
    assert ops - cli <= {"calendar"}, ops - cli  # calendar: see OPS_OF


def test_the_lazy_command_table_names_what_the_modules_register_in_order() -> None:
    """`cli.COMMANDS` (read without importing the modules) against an eager build of every
    module: the same top-level commands, in the same order, each from the module named."""
    import typer

    from seriespub import cli

    modules = dict.fromkeys(m for names in cli.COMMANDS.values() for m in names)
    eager = typer.Typer()
    for module in modules:
        __import__(f"seriespub.cli.{module}", fromlist=["register"]).register(eager)
    built = typer.main.get_group(eager).commands
    assert list(built) == list(cli.COMMANDS)
    for name, owners in cli.COMMANDS.items():
        assert name in cli.build(owners), (name, owners)
