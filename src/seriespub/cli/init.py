"""`seriespub init DIR` and `seriespub new "Title"`, over `ops/init.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seriespub.cli.common import SeriesOption, load_series, out


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("new")(new)


def init(
    folder: Annotated[Path, typer.Argument(help="Folder for the new series.")] = Path("."),
    title: Annotated[str, typer.Option(help="The series' name.")] = "My Series",
    sender: Annotated[
        str, typer.Option("--from", help="From address.")
    ] = "Author <author@example.com>",
) -> None:
    """Create a series folder: seriespub.toml, drafts/, subscribers.csv (never overwrites)."""
    from seriespub.cli.signals import signals_raise
    from seriespub.ops import init as ops

    with signals_raise():  # killed part-way, init still removes what it made
        made = ops.init(folder, title, sender)
    for created in made:
        out().print(f"{'updated' if created.updated else 'created'} {created.path}", markup=False)
    out().print(f"Next: edit {folder / 'seriespub.toml'}, then: seriespub preview 1", markup=False)


def new(
    title: Annotated[str, typer.Argument(help="Title of the new instalment.")],
    series: SeriesOption = None,
) -> None:
    """Write the next numbered draft in drafts/."""
    from seriespub.cli.common import shown
    from seriespub.ops import init as ops

    path = ops.new(load_series(series), title)
    out().print(f"created {shown(path)}", markup=False)
