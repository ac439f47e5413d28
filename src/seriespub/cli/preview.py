"""`seriespub preview [next|N|PATH]`: the instalment as one reader will get it.

The terminal view fills every merge field with that reader's values (the first active
subscriber, or `--as EMAIL`) and wraps paragraphs at word boundaries on the terminal's width;
the HTML size shown is the HTML part as it travels (encoded).
"""

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
    as_: Annotated[str | None, typer.Option(
        "--as", "--to", help="Preview as this subscriber (default: the first active one).",
        show_default=False)] = None,
    watch: Annotated[bool, typer.Option(
        "--watch", help="Serve the HTML on 127.0.0.1, reloading as you edit the draft.")]
        = False,
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="The port for --watch (0: any free one).")] = 8001,
    series: SeriesOption = None,
) -> None:
    """Show an instalment: header, size, and the text, as a reader would get it."""
    from seriespub import checking, publishing, subscribers

    s = load_series(series)
    drafts = publishing.drafts_of(s, strict=not watch)
    instalment = publishing.resolve(s, drafts, ref)
    if watch:
        _watch(s, instalment.path, as_, port)
        return
    message = publishing.render(s, drafts, instalment)
    recipient = _sample_recipient(s, message, as_)
    body_html = message.html_for(recipient)
    if text:
        out().file.write(message.text_for(recipient))
        return
    if html is not None:
        _write_html(html, body_html)
    if open_:
        _open_in_browser(body_html)
    if html is None and not open_:
        reach = subscribers.count_active(s.subscribers_path)
        size = checking.sizes_as_sent(message, [], recipient)[0]
        _show(s, message, _filled_body(instalment.body, recipient), size, reach, recipient,
              _release_line(s, drafts, instalment.number))


def _sample_recipient(s: Series, message: PreparedMessage, address: str | None) -> Recipient:
    """`address`'s subscriber, or the first active one (a blank sample if there is none)."""
    from seriespub import subscribers
    from seriespub.errors import InputError
    from seriespub.models import Subscriber

    for subscriber in subscribers.iter_subscribers(s.subscribers_path):
        if subscriber.key == address.lower() if address else subscriber.status == "active":
            return message.recipient(subscriber)
    if address:
        raise InputError(f"no subscriber {address}", path=s.subscribers_path,
                         hint="seriespub subscribers list shows who is there")
    return message.recipient(Subscriber("reader@example.com", ""))


def _filled_body(body: str, recipient: Recipient) -> str:
    """The draft's Markdown with each merge tag replaced by this reader's value (or its
    default), escaped so that the value shows as typed."""
    import re

    from seriespub.message import SLOT_RE
    from seriespub.render.markdown import SlotTable

    slots = SlotTable()
    tokens = slots.replace_tags(body)

    def value(match: re.Match[str]) -> str:
        slot = slots.slots[int(match.group(1))]
        raw = recipient.values.get(slot.field) or slot.default
        return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", raw)

    return SLOT_RE.sub(value, tokens)


def _write_html(path: Path, body_html: str) -> None:
    from seriespub.errors import InputError

    if path.is_dir():
        raise InputError("is a folder: give a file name, e.g. part.html", path=path)
    if not path.parent.is_dir():
        raise InputError(f"no folder {path.parent}: create it first", path=path)
    try:
        path.write_text(body_html, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None
    err().print(f"wrote {path} ({len(body_html.encode()):,} bytes)", markup=False)


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
    console.print(Markdown(body), soft_wrap=False)     # wrapped at words, to the terminal


def _size_line(size: int) -> str:
    kb = size / 1024
    if size >= GMAIL_CLIP_BYTES:
        return (f"[bold red]{kb:.1f} KB as sent: over Gmail's ~102 KB limit, the end will be "
                "clipped[/]")
    if size >= GMAIL_CLIP_BYTES * 0.8:
        return f"[yellow]{kb:.1f} KB as sent: nearing Gmail's ~102 KB clipping limit[/]"
    return f"{kb:.1f} KB as sent"


def _open_in_browser(body_html: str) -> None:
    import tempfile
    import webbrowser

    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False,
                                     encoding="utf-8") as handle:
        handle.write(body_html)
    webbrowser.open(Path(handle.name).as_uri())
    err().print(f"opened {handle.name}")


def _watch(s: Series, path: Path, address: str | None, port: int) -> None:
    """Serve the draft at `path` as HTML with live reload until Ctrl-C."""
    import time

    from seriespub import publishing
    from seriespub.drafts import read_draft
    from seriespub.errors import InputError
    from seriespub.site.serve import LivePreview

    def render() -> str:
        drafts = publishing.drafts_of(s, strict=False)
        message = publishing.render(s, drafts, read_draft(path))
        return message.html_for(_sample_recipient(s, message, address))

    watched = [path, s.config_path, s.root / "templates" / "email.mjml"]
    try:
        live = LivePreview(render, watched, port)
    except OSError as exc:
        raise InputError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}",
                         hint="choose another with --port") from None
    err().print(f"watching {path.name}: open {live.url} (Ctrl-C to stop)", markup=False,
                soft_wrap=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        live.stop()
