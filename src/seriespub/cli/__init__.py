"""The command line: thin commands over the core; one module per command group."""

from __future__ import annotations

import typer

from seriespub import __version__
from seriespub.cli import (
    check,
    init,
    preview,
    schedule,
    send,
    send_due,  # noqa: F401  (adds `send due` and `send cancel`)
    site,
    status,
    subscribers,
)
from seriespub.cli.common import ErrorHandlingGroup

app = typer.Typer(
    name="seriespub",
    cls=ErrorHandlingGroup,
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


init.register(app)
preview.register(app)
check.register(app)
status.register(app)
app.add_typer(subscribers.app, name="subscribers", cls=ErrorHandlingGroup)
app.add_typer(send.app, name="send", cls=ErrorHandlingGroup)
schedule.register(app)
site.register(app)


def main() -> None:
    app()
