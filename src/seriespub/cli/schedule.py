"""`seriespub schedule` (the release calendar) and `seriespub schedule install`."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer

from seriespub.cli.common import JsonOption, SeriesOption, err, load_series, out, print_json

app = typer.Typer(help="The weekly release calendar.", invoke_without_command=True)


def register(root: typer.Typer) -> None:
    from seriespub.cli.common import ErrorHandlingGroup

    root.add_typer(app, name="schedule", cls=ErrorHandlingGroup)


@app.callback()
def calendar(
    ctx: typer.Context,
    ics: Annotated[Path | None, typer.Option("--ics", help="Also export the releases as an "
                                             "iCalendar file.", show_default=False)] = None,
    series: SeriesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every instalment's release: local time, how soon, and status."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from seriespub import publishing, schedule
    from seriespub.ics import export_ics
    from seriespub.scheduling import calendar as plan_of

    s = load_series(series)
    now = dt.datetime.now(dt.UTC)
    with publishing.open_ledger(s, readonly=True) as ledger:
        plan = plan_of(s, publishing.drafts_of(s, strict=False), ledger, now)
    if ics is not None:
        _write_output(ics, export_ics(plan, s.settings.series.title,
                                      s.settings.schedule.timezone, now))
        err().print(f"wrote {ics} ({len(plan)} releases)")
    for warning in schedule.warnings(plan, now):
        err().print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    if as_json:
        print_json({"timezone": s.settings.schedule.timezone, "releases": [
            {"number": p.number, "title": p.title, "release": p.release.isoformat(),
             "status": p.status.value, "pinned": p.pinned, "ready": p.ready,
             "sent_at": p.sent_at.isoformat() if p.sent_at else None} for p in plan]})
        return
    table = Table(title=f"{s.settings.series.title} ({s.settings.schedule.timezone})",
                  title_justify="left")
    for column in ("#", "Title", "Release", "When", "Status"):
        table.add_column(column, justify="right" if column == "#" else "left")
    for p in plan:
        status = p.status.value + ("" if p.ready or p.sent_at else " (draft)")
        table.add_row(str(p.number), p.title, schedule.format_local(p.release) +
                      (" (pinned)" if p.pinned else ""), schedule.relative(p.release, now),
                      status)
    out().print(table)


@app.command("install")
def install(
    repo_path: Annotated[str | None, typer.Option(
        "--repo-path", help="The series folder relative to its git repository, for the "
        "GitHub Actions workflow (default: worked out with git).")] = None,
    series: SeriesOption = None,
) -> None:
    """Print ready-to-use lines for cron, a systemd user timer and GitHub Actions."""
    import shlex

    from seriespub import __version__, installers

    s = load_series(series)
    command = shlex.join([sys.executable, "-m", "seriespub"])
    units = installers.systemd_units(s.root, command)
    secrets = installers.secret_names(s.settings.delivery.provider)
    cron = installers.github_cron(s.settings.schedule) if s.settings.schedule.first_release \
        else "0 * * * *"
    spec = installers.installed_spec(s.settings.schedule.install, __version__)
    site = s.settings.site
    workflow = installers.github_workflow(
        repo_path or _path_in_repo(s.root), secrets=secrets, cron=cron,
        install=spec.requirement, site_dir=site.out_dir if site.base_url else None)
    console = out()
    console.print("# 1. cron (crontab -e):", markup=False)
    console.print(installers.crontab_line(s.root, command), markup=False, soft_wrap=True)
    console.print("\n# 2. systemd user timer:", markup=False)
    for name, text in units.items():
        console.print(f"# ~/.config/systemd/user/{name}\n{text}", markup=False, soft_wrap=True)
    console.print(installers.systemd_enable_hint(s.root), markup=False, soft_wrap=True)
    console.print("\n# 3. GitHub Actions: .github/workflows/seriespub.yml", markup=False)
    names = ", ".join(dict.fromkeys(["SERIESPUB_SECRET", *secrets]))
    console.print(f"# add repository secrets: {names}", markup=False, soft_wrap=True)
    console.print(workflow, markup=False, soft_wrap=True)
    if spec.requirement is None:
        err().print(f"warning: {spec.problem}: set [schedule] install in seriespub.toml, e.g. "
                    'install = "seriespub @ git+https://github.com/OWNER/seriespub@COMMIT"',
                    markup=False, soft_wrap=True)
    else:
        err().print(f"the workflow installs {spec.requirement} ({spec.source})", markup=False,
                    soft_wrap=True)


def _write_output(path: Path, data: bytes) -> None:
    """Write a file the author asked for; a bad path is one line naming it."""
    from seriespub.errors import InputError

    if path.is_dir():
        raise InputError("is a folder; give a file name, e.g. calendar.ics", path=path)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None


def _path_in_repo(root: Path) -> str:
    folder = root
    while folder != folder.parent:
        if (folder / ".git").exists():
            return root.relative_to(folder).as_posix() or "."
        folder = folder.parent
    return "."
