"""The command line: thin commands over the core; one module per command group.

A command's module is imported, and its click command built, only when that command runs
(or help lists it): `seriespub status` neither imports nor builds the other twenty commands.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import typer

from seriespub import __version__
from seriespub.cli.common import ErrorHandlingGroup

# Each top-level name → the cli modules whose `register(app)` adds it, in the order help
# lists them. tests/test_layout.py checks this table against what the modules register.
COMMANDS: dict[str, tuple[str, ...]] = {
    "init": ("init",),
    "new": ("init",),
    "preview": ("preview",),
    "check": ("check",),
    "status": ("status",),
    "log": ("status",),
    "site": ("site",),
    "subscribers": ("subscribers",),
    "send": ("send",),
    "schedule": ("schedule",),
}


def build(modules: tuple[str, ...]) -> dict[str, Any]:
    """The click commands the cli `modules` register, built as the root would build them."""
    holder = typer.Typer(cls=ErrorHandlingGroup, add_completion=False)
    for name in modules:
        importlib.import_module(f"seriespub.cli.{name}").register(holder)
    return dict(typer.main.get_group(holder).commands)


class LazyCommands(ErrorHandlingGroup):
    """The root group: knows its commands' names; builds a command when it is asked for."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands.update(build(COMMANDS[cmd_name]))
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in COMMANDS:
            # A typo: Typer suggests close names among the commands built, so build those.
            for name in difflib.get_close_matches(args[0], COMMANDS):
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="seriespub",
    cls=LazyCommands,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="Publish a newsletter series: Markdown drafts → email, weekly, exactly once per reader.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"seriespub {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Publish a newsletter series."""


def main() -> None:
    app()
