"""`seriespub check`: errors exit 1, warnings alone exit 0."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from seriespub.cli.common import JsonOption, SeriesOption, load_series, out, print_json

if TYPE_CHECKING:
    from seriespub.ops.check import CheckOutcome


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(series: SeriesOption = None, as_json: JsonOption = False) -> None:
    """Check drafts, links, images, size and the subscriber list before sending."""
    from seriespub.ops import check as ops

    outcome = ops.check(load_series(series))
    if as_json:
        print_json(outcome.as_json())
    else:
        _print(outcome)
    if outcome.errors:
        raise typer.Exit(1)


def _print(outcome: CheckOutcome) -> None:
    from rich.markup import escape

    console = out()
    for f in outcome.findings:
        colour = "red" if f.level == "error" else "yellow"
        console.print(
            f"[{colour}]{f.level.value}[/] {escape(f.where)}: {escape(f.message)}", soft_wrap=True
        )
    console.print(
        f"{outcome.errors} error(s), {outcome.warnings} warning(s)"
        if outcome.findings
        else "All good."
    )
