"""`seriespub preview [next|N|PATH]`: the instalment as the author will send it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriespub.cli.common import SeriesOption, err, load_series, out

if TYPE_CHECKING:
    from seriespub.drafts import DraftSet
    from seriespub.message import PreparedMessage
    from seriespub.models import Recipient
    from seriespub.series import Series

GMAIL_CLIP_BYTES = 102 * 1024


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)


def preview(
    ref: Annotated[str, typer.Argument(help="next, an instalment number, or a draft file.")]
        = "next",
    text: Annotated[bool, typer.Option("--text", help="Print exactly the text part.")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Write exactly the HTML part.",
                                              show_default=False)] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open the HTML in a browser.")] = False,
    to: Annotated[str | None, typer.Option("--to", help="Preview as this subscriber.")] = None,
    series: SeriesOption = None,
) -> None:
    """Show an instalment: header, size, and the text, as a reader would get it."""
    from seriespub import publishing, subscribers

    s = load_series(series)
    drafts = publishing.drafts_of(s)
    instalment = publishing.resolve(s, drafts, ref)
    message = publishing.render(s, drafts, instalment)
    recipient = _sample_recipient(s, message, to)
    body_html = message.html_for(recipient)
    if text:
        out().file.write(message.text_for(recipient))
        return
    if html is not None:
        html.write_text(body_html, encoding="utf-8")
        err().print(f"wrote {html} ({len(body_html.encode()):,} bytes)")
    if open_:
        _open_in_browser(body_html)
    if html is None and not open_:
        reach = subscribers.count_active(s.subscribers_path)
        _show(s, message, instalment.body, len(body_html.encode()), reach, recipient,
              _release_line(s, drafts, instalment.number))


def _sample_recipient(s: Series, message: PreparedMessage, to: str | None) -> Recipient:
    from seriespub import subscribers
    from seriespub.models import Subscriber

    for subscriber in subscribers.iter_subscribers(s.subscribers_path):
        if (to and subscriber.key == to.lower()) or (not to and subscriber.status == "active"):
            return message.recipient(subscriber)
    return message.recipient(Subscriber(to or "reader@example.com", ""))


def _release_line(s: Series, drafts: DraftSet, number: int) -> str | None:
    import datetime as dt

    from seriespub import publishing, schedule
    from seriespub.scheduling import releases_by_number

    now = dt.datetime.now(dt.UTC)
    with publishing.open_ledger(s, readonly=True) as ledger:
        release = releases_by_number(s, drafts, ledger, now).get(number)
    if release is None:
        return None
    return (f"{schedule.format_local(release.release)} "
            f"({schedule.relative(release.release, now)}, {release.status.value})")


def _show(s: Series, message: PreparedMessage, body: str, size: int, reach: int,
          recipient: Recipient, release: str | None) -> None:
    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("From", message.from_header)
    grid.add_row("To", f"{reach:,} active subscribers (shown as {recipient.email})")
    grid.add_row("Subject", message.subject)
    grid.add_row("Preheader", message.preheader or "[dim](none)[/]")
    grid.add_row("HTML size", _size_line(size))
    if release:
        grid.add_row("Release", release)
    console = out()
    console.print(Panel(grid, title=f"{s.settings.series.title} · Part {message.number}",
                        title_align="left"))
    console.print(Markdown(body))


def _size_line(size: int) -> str:
    kb = size / 1024
    if size >= GMAIL_CLIP_BYTES:
        return f"[bold red]{kb:.1f} KB: over Gmail's ~102 KB limit, the end will be clipped[/]"
    if size >= GMAIL_CLIP_BYTES * 0.8:
        return f"[yellow]{kb:.1f} KB: nearing Gmail's ~102 KB clipping limit[/]"
    return f"{kb:.1f} KB"


def _open_in_browser(body_html: str) -> None:
    import tempfile
    import webbrowser

    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False,
                                     encoding="utf-8") as handle:
        handle.write(body_html)
    webbrowser.open(Path(handle.name).as_uri())
    err().print(f"opened {handle.name}")
