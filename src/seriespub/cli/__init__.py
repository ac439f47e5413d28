"""The command line: thin commands over the core; one module per command group.

A command's module is imported, and its click command built, only when that command runs
(or help lists it): `seriespub status` neither imports nor builds the other twenty commands.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
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


class Commands(MutableMapping[str, Any]):
    """The root's `commands`: every name known up front (help, suggestions, anything that
    walks the group sees them all), each command built the first time it is looked up."""

    def __init__(self, built: dict[str, Any]) -> None:
        self._built = built

    def __getitem__(self, name: str) -> Any:
        if name not in self._built and name in COMMANDS:
            self._built.update(build(COMMANDS[name]))
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*COMMANDS, *(name for name in self._built if name not in COMMANDS)])

    def __len__(self) -> int:
        return len(COMMANDS.keys() | self._built.keys())

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self._built


class LazyCommands(ErrorHandlingGroup):
    """The root group, its commands built on demand (`Commands`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = Commands(dict(self.commands))


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
    import sys

    if sys.argv[1:3] == ["send", "due"]:  # cron's: its usage errors go to its log too
        from seriespub.cli.send_due import log_usage_errors

        log_usage_errors(sys.argv[3:])
    app()
