"""`seriespub check`: errors exit 1, warnings alone exit 0."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from seriespub.cli.common import JsonOption, SeriesOption, load_series, out, print_json

if TYPE_CHECKING:
    from seriespub.render.checks import Finding


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(series: SeriesOption = None, as_json: JsonOption = False) -> None:
    """Check drafts, links, images, size and the subscriber list before sending."""
    from seriespub.checking import check_series
    from seriespub.render.checks import Level

    findings = check_series(load_series(series))
    errors = sum(f.level is Level.ERROR for f in findings)
    if as_json:
        print_json({"errors": errors, "warnings": len(findings) - errors,
                    "findings": [{"level": f.level.value, "where": f.where,
                                  "message": f.message} for f in findings]})
    else:
        _print(findings, errors)
    if errors:
        raise typer.Exit(1)


def _print(findings: list[Finding], errors: int) -> None:
    from rich.markup import escape

    console = out()
    for f in findings:
        colour = "red" if f.level == "error" else "yellow"
        console.print(f"[{colour}]{f.level.value}[/] {escape(f.where)}: {escape(f.message)}",
                      soft_wrap=True)
    warnings = len(findings) - errors
    console.print(f"{errors} error(s), {warnings} warning(s)" if findings else "All good.")
