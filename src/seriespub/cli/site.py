"""`seriespub site [--serve]`: the series on the web (see seriespub.site)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from seriespub.ops.site import Series

from seriespub.cli.common import (
    JsonOption,
    SeriesOption,
    err,
    load_series,
    out,
    print_json,
    serve_until_ctrl_c,
)


def register(app: typer.Typer) -> None:
    app.command("site")(site)


def site(
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve it on 127.0.0.1 until Ctrl-C.")
    ] = False,
    port: Annotated[
        int,
        typer.Option("--port", min=0, max=65535, help="The port for --serve (0: any free one)."),
    ] = 8000,
    series: SeriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build the static site of the released parts: pages, Atom feed, sitemap."""
    from seriespub.cli.common import shown
    from seriespub.ops import site as ops

    s = load_series(series)
    result = ops.build(s)
    if as_json:
        print_json(
            {
                "out_dir": str(result.out_dir),
                "parts": [p.number for p in result.parts],
                "written": result.written,
                "removed": result.removed,
                "unchanged": result.unchanged,
            }
        )
    else:
        out().print(
            f"{len(result.parts)} part{'' if len(result.parts) == 1 else 's'} published in "
            f"{shown(result.out_dir)} "
            f"({len(result.written)} files written, {result.unchanged} unchanged, "
            f"{len(result.removed)} removed)",
            markup=False,
            soft_wrap=True,
        )
    if serve:
        _serve(s, port)


def _serve(s: Series, port: int) -> None:
    from seriespub.ops import site as ops

    server, url = ops.serve(s, port)
    err().print(f"serving {url} (Ctrl-C to stop)", markup=False, soft_wrap=True)
    serve_until_ctrl_c(server.stop)
