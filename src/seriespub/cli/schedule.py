"""`seriespub schedule` (the release calendar) and `seriespub schedule install`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriespub.cli.common import (
    ErrorHandlingGroup,
    JsonOption,
    SeriesOption,
    err,
    fail,
    is_stdout,
    load_series,
    out,
    print_json,
    write_stdout,
    write_table,
)

if TYPE_CHECKING:
    from seriespub.ops.calendar import Calendar, Install

app = typer.Typer(help="The weekly release calendar.", invoke_without_command=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="schedule", cls=ErrorHandlingGroup)


@app.callback()
def calendar(
    ctx: typer.Context,
    ics: Annotated[
        str | None,
        typer.Option(
            "--ics",
            metavar="FILE",
            help="Also export the releases as an iCalendar file ('-': stdout, in place of "
            "the table).",
            show_default=False,
        ),
    ] = None,
    reader: Annotated[
        str | None,
        typer.Option(
            "--reader",
            help="Show one reader's own calendar: the parts they get next, and when.",
            show_default=False,
        ),
    ] = None,
    series: SeriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every instalment's release: local time, how soon, and status."""
    if ctx.invoked_subcommand is not None:
        return
    from seriespub.ops import calendar as ops
    from seriespub.ops.session import session, utc_now

    if reader is not None:
        if ics is not None:  # a reader's calendar is not the series' releases
            fail("--ics exports the series' releases: leave out --reader to export them", code=2)
        with session(load_series(series), "schedule", now=utc_now(), readonly=True) as held:
            mine = ops.reader_calendar(held, reader)
        if as_json:
            print_json(mine.as_json())
            return
        got = ", ".join(map(str, mine.received)) or "none yet"
        out().print(
            f"{mine.email} ({'on the front' if mine.cohort == 'front' else 'catching up'}"
            f"; received: {got})",
            markup=False,
        )
        for number, title, when in mine.parts:
            shown = ops.format_local(when)
            if mine.waits_for is not None and when == mine.waits_at:
                shown += f", once part {mine.waits_for} is ready"
            out().print(f"  part {number}  {shown}  {title}", markup=False)
        if not mine.parts:
            out().print("  nothing planned", markup=False)
        return

    if is_stdout(ics) and as_json:
        fail("--ics - and --json both write to stdout: give --ics a file name", code=2)
    s = load_series(series)
    with session(s, "schedule", now=utc_now(), readonly=True) as held:
        cal = ops.calendar(held)
    for warning in cal.warnings:
        err().print(f"warning: {warning}", markup=False, style="yellow", soft_wrap=True)
    if is_stdout(ics):
        write_stdout(ops.ics_data(cal))
        return
    if ics is not None:
        ops.write_ics(s, cal, Path(ics))
        count = len(cal.releases)
        err().print(f"wrote {ics} ({count} release{'' if count == 1 else 's'})", markup=False)
    if as_json:
        print_json(cal.as_json())
    else:
        _print(cal)


def _print(cal: Calendar) -> None:
    from seriespub.ops.calendar import format_local, relative

    rows = [
        (
            str(p.number),
            p.title,
            format_local(p.shown) + (" (pinned)" if p.pinned else ""),
            relative(p.shown, cal.now),
            p.status.value + ("" if p.ready or p.sent_at else " (draft)"),
        )
        for p in cal.releases
    ]
    header = ("#", "Title", "Release", "When", "Status")
    write_table(f"{cal.title} ({cal.timezone})", header, rows, right=frozenset({0}))


@app.command("install")
def install(
    repo_path: Annotated[
        str | None,
        typer.Option(
            "--repo-path",
            help="The series folder relative to its git repository, for the "
            "GitHub Actions workflow (default: worked out with git).",
        ),
    ] = None,
    series: SeriesOption = None,
) -> None:
    """Print ready-to-use lines for cron, a systemd user timer and GitHub Actions."""
    from seriespub.ops import calendar as ops

    _print_install(ops.install(load_series(series), repo_path))


def _print_install(lines: Install) -> None:
    from seriespub.cli.common import shown

    if lines.shell_only:
        err().print(
            f"warning: {', '.join(lines.shell_only)} set only in this shell: cron and systemd "
            "see neither its environment nor its profile; add them to .env beside "
            "seriespub.toml, or unattended runs use another unsubscribe key (every reader's "
            "link changes) or cannot send",
            markup=False,
            soft_wrap=True,
        )
    console = out()
    console.print("# 1. cron (crontab -e):", markup=False)
    console.print(lines.crontab, markup=False, soft_wrap=True)
    console.print("\n# 2. systemd user timer:", markup=False)
    for name, text in lines.units.items():
        console.print(f"# ~/.config/systemd/user/{name}\n{text}", markup=False, soft_wrap=True)
    console.print(lines.enable_hint, markup=False, soft_wrap=True)
    console.print("\n# 3. GitHub Actions: .github/workflows/seriespub.yml", markup=False)
    console.print(
        f"# add repository secrets: {', '.join(lines.secrets)}", markup=False, soft_wrap=True
    )
    if lines.generated_key is not None:
        console.print(
            f"# SERIESPUB_SECRET: the content of {shown(lines.generated_key)}, the key "
            "this series sends with (a new key would be refused: readers' unsubscribe links "
            "would stop working)",
            markup=False,
            soft_wrap=True,
        )
    console.print(lines.workflow, markup=False, soft_wrap=True)
    if lines.requirement is None:
        err().print(
            f"warning: {lines.source}: set [schedule] install in seriespub.toml, e.g. "
            'install = "seriespub @ git+https://github.com/OWNER/seriespub@COMMIT"',
            markup=False,
            soft_wrap=True,
        )
    else:
        err().print(
            f"the workflow installs {lines.requirement} ({lines.source})",
            markup=False,
            soft_wrap=True,
        )
