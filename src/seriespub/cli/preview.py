"""`seriespub preview [next|N|PATH]`: the instalment as one reader will get it, over
`ops/preview.py`.

The terminal view fills every merge field with that reader's values (the first active
subscriber, or `--as EMAIL`) and wraps paragraphs at word boundaries on the terminal's width;
the HTML size shown is the HTML part as it travels (encoded).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriespub.cli.common import (
    SeriesOption,
    err,
    fail,
    is_stdout,
    load_series,
    out,
    serve_until_ctrl_c,
    write_stdout,
)

if TYPE_CHECKING:
    from seriespub.ops.preview import Preview, Series


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)


def preview(
    ref: Annotated[
        str, typer.Argument(help="next, an instalment number, or a draft file.")
    ] = "next",
    text: Annotated[bool, typer.Option("--text", help="Print exactly the text part.")] = False,
    html: Annotated[
        str | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Write exactly the HTML part to FILE ('-': stdout, alone).",
            show_default=False,
        ),
    ] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open the HTML in a browser.")] = False,
    as_: Annotated[
        str | None,
        typer.Option(
            "--as",
            "--to",
            help="Preview as this subscriber (default: the first active one).",
            show_default=False,
        ),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Serve the HTML on 127.0.0.1, reloading as you edit the draft."
        ),
    ] = False,
    port: Annotated[
        int,
        typer.Option("--port", min=0, max=65535, help="The port for --watch (0: any free one)."),
    ] = 8001,
    series: SeriesOption = None,
) -> None:
    """Show an instalment: header, size, and the text, as a reader would get it."""
    from seriespub.ops import preview as ops

    if text and is_stdout(html):
        fail("--html - and --text both write to stdout: give --html a file name", code=2)
    s = load_series(series)
    if watch:
        _watch(s, ref, as_, port)
        return
    shown = ops.prepare(s, ref, as_)
    _note_throwaway_key(s)
    if is_stdout(html):
        write_stdout(shown.html.encode())
    elif html is not None:
        size = ops.write_html(s, Path(html), shown.html)
        err().print(f"wrote {html} ({size:,} bytes)", markup=False)
    if open_:
        _open_in_browser(shown.html)
    if text:
        out().file.write(shown.text)
    elif html is None and not open_:
        _show(shown)


def _note_throwaway_key(s: Series) -> None:
    # With no key yet, preview renders with a throwaway one and writes none.
    if note := s.throwaway_key_note("the preview's"):
        err().print(f"note: {note}", markup=False, soft_wrap=True)


def _show(shown: Preview) -> None:
    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    # What the author wrote is Text: `[Newsletter] …` is a subject, not Rich markup.
    message = shown.message
    reach = f"{shown.reach:,} active subscriber{'' if shown.reach == 1 else 's'}"
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("From", Text(shown.sender))
    grid.add_row("To", Text(f"{reach} (shown as {shown.recipient.email})"))
    grid.add_row("Subject", Text(message.subject))
    grid.add_row("Preheader", Text(message.preheader) if message.preheader else "[dim](none)[/]")
    grid.add_row("HTML size", _size_line(shown.size_as_sent))
    if shown.release:
        grid.add_row("Release", Text(shown.release))
    console = out()
    title = Text(f"{shown.series_title} · Part {message.number}")
    console.print(Panel(grid, title=title, title_align="left"))
    console.print(Markdown(shown.body), soft_wrap=False)  # wrapped at words, to the terminal


def _size_line(size: int) -> str:
    from seriespub.ops.preview import GMAIL_CLIP_BYTES

    kb = size / 1024
    if size >= GMAIL_CLIP_BYTES:
        return (
            f"[bold red]{kb:.1f} KB as sent: over Gmail's ~102 KB limit, the end will be clipped[/]"
        )
    if size >= GMAIL_CLIP_BYTES * 0.8:
        return f"[yellow]{kb:.1f} KB as sent: nearing Gmail's ~102 KB clipping limit[/]"
    return f"{kb:.1f} KB as sent"


def _open_in_browser(body_html: str) -> None:
    import tempfile
    import webbrowser

    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False, encoding="utf-8") as handle:
        handle.write(body_html)
    webbrowser.open(Path(handle.name).as_uri())
    err().print(f"opened {handle.name}")


def _watch(s: Series, ref: str, address: str | None, port: int) -> None:
    """Serve the draft as HTML with live reload until Ctrl-C."""
    from seriespub.ops import preview as ops

    live = ops.watch(s, ref, address, port)
    err().print(
        f"watching {live.watched_name}: open {live.url} (Ctrl-C to stop)",
        markup=False,
        soft_wrap=True,
    )
    serve_until_ctrl_c(live.stop)
