"""Ready-to-paste schedulers for `seriespub schedule install`: pure text, nothing is installed.

Each one runs `seriespub send due` in the series folder; `send due` is idempotent and takes
the series lock, so a tick that finds nothing due, or a tick during a slow send, is harmless.
`seriespub_cmd` is a command line (for example `shlex.join([sys.executable, "-m",
"seriespub"])`); cron and systemd start with a bare environment, so give an absolute path.
Secrets come from `.env` in the series folder there; in CI from repository secrets.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seriespub.config import ScheduleSettings
from seriespub.providers import SPECS
from seriespub.schedule import format_local, slot_times

# Every 5 minutes: a release goes out at most 5 minutes after its slot, and a local tick
# costs a fraction of a second; per minute would only add noise to cron.log.
LOCAL_EVERY_MINUTES = 5

# Keeps unsubscribe tokens stable: a runner has no `.seriespub/secret`, and it is never committed.
ALWAYS_SECRETS = ("SERIESPUB_SECRET",)
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def crontab_line(
    series_dir: Path, seriespub_cmd: str, every_minutes: int = LOCAL_EVERY_MINUTES
) -> str:
    """One crontab line that runs `send due` in `series_dir`, output to .seriespub/cron.log.

    `--log` stamps and bounds what seriespub says there (`seriespub.cli.cronlog`); the shell's
    redirect catches what it cannot (`seriespub: not found`), instead of cron mailing it.
    """
    command = (
        f"cd {shlex.quote(str(series_dir))} && mkdir -p -m 700 .seriespub && "
        f"{seriespub_cmd} send due --log .seriespub/cron.log >> .seriespub/cron.log 2>&1"
    )
    # cron turns an unescaped % into a newline.
    return f"*/{every_minutes} * * * * " + command.replace("%", r"\%")


def unit_name(series_dir: Path) -> str:
    """`seriespub-<folder>`: one timer per series folder."""
    slug = re.sub(r"[^a-z0-9]+", "-", series_dir.name.lower()).strip("-") or "series"
    return f"seriespub-{slug}"


def systemd_units(
    series_dir: Path, seriespub_cmd: str, every_minutes: int = LOCAL_EVERY_MINUTES
) -> dict[str, str]:
    """A user service + timer (file name → text) for ~/.config/systemd/user/; systemd reads
    back exactly `series_dir` and the words of `seriespub_cmd` (checked with
    `systemd-analyze verify`)."""
    name = unit_name(series_dir)
    where = _specifiers(str(series_dir))
    service = (
        f"[Unit]\nDescription=seriespub: send the due instalment in {where}\n\n"
        f"[Service]\nType=oneshot\nWorkingDirectory={where}\n"
        f"ExecStart={_exec_line([*shlex.split(seriespub_cmd), 'send', 'due'])}\n"
    )
    timer = (
        f"[Unit]\nDescription=seriespub: check {where} every {every_minutes} minutes\n\n"
        f"[Timer]\nOnCalendar=*:0/{every_minutes}\n"
        "# Persistent: a tick missed while the machine was off or asleep runs at wake-up.\n"
        "Persistent=true\n\n[Install]\nWantedBy=timers.target\n"
    )
    return {f"{name}.service": service, f"{name}.timer": timer}


def systemd_enable_hint(series_dir: Path) -> str:
    """The commands that install the units printed by `systemd_units`."""
    name = unit_name(series_dir)
    return (
        "systemctl --user daemon-reload && "
        f"systemctl --user enable --now {name}.timer\n"
        "# to keep running while you are logged out: loginctl enable-linger"
    )


def _specifiers(text: str) -> str:
    # `%` starts a specifier in every setting; `$` is a variable only in Exec lines' arguments.
    return text.replace("%", "%%")


# systemd refuses an executable path holding these ("contains special characters").
_UNSAFE_EXECUTABLE = re.compile(r"[\x00-\x1f\x7f'\"\\]")
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def _exec_line(argv: Sequence[str]) -> str:
    """An ExecStart= value that systemd splits back into `argv`."""
    if _UNSAFE_EXECUTABLE.search(argv[0]):
        # As an argument, any path can be quoted; env then runs it (no PATH look-up: a `/`).
        argv = ["/usr/bin/env", *argv]
    # The executable is taken literally; arguments expand `$NAME`, so `$$` stands for `$`.
    words = [argv[0], *(word.replace("$", "$$") for word in argv[1:])]
    return " ".join(_exec_word(word) for word in words)


def _exec_word(word: str) -> str:
    text = _specifiers(word)
    if _PLAIN_WORD.fullmatch(word):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def github_cron(settings: ScheduleSettings) -> str:
    """Hourly at the slots' minutes in UTC: a run lands right after each release, and an
    hourly schedule stays well inside the free Actions minutes of a private repository.
    A year of slots gives every UTC minute a slot falls on (a zone whose clocks move by
    30 minutes, as Lord Howe Island's do, has two)."""
    if settings.first_release is None:
        return "0 * * * *"
    year = itertools.islice(slot_times(settings), 53)
    minutes = sorted({slot.astimezone(dt.UTC).minute for slot in year}) or [0]
    return f"{','.join(map(str, minutes))} * * * *"


@dataclass(frozen=True)
class PinnedRun:
    """A dated run for a part pinned at a minute the hourly schedule skips."""

    part: int
    release: dt.datetime  # aware, in the series' zone

    @property
    def cron(self) -> str:
        """Minute, hour, day and month in UTC: once a year on that date (any year after is
        one harmless `send due`)."""
        at = self.release.astimezone(dt.UTC)
        return f"{at.minute} {at.hour} {at.day} {at.month} *"

    @property
    def number_and_time(self) -> str:
        """The workflow's comment: "2's pinned release, Thu 2026-12-10 14:37 EST"."""
        return f"{self.part}'s pinned release, {format_local(self.release)}"


def pinned_runs(
    hourly: str, pinned: Mapping[int, dt.datetime], now: dt.datetime
) -> list[PinnedRun]:
    """A dated run for each release in `pinned` (part → aware time) still ahead of `now`
    that no run of `hourly` starts at: it would go out at the next run, up to an hour late."""
    return [
        PinnedRun(part, when)
        for part, when in sorted(pinned.items())
        if when > now and not cron_fires_at(hourly, when)
    ]


def cron_fires_at(expression: str, when: dt.datetime) -> bool:
    """Whether the 5-field cron `expression` (UTC, as GitHub Actions reads it) starts a run
    at `when`'s minute: numbers, `*`, lists, ranges and steps; False for anything else."""
    fields = expression.split()
    if len(fields) != 5:
        return False
    minute, hour, day, month, weekday = fields
    at = when.astimezone(dt.UTC)
    try:
        if not (
            _field_has(minute, at.minute, 0, 59)
            and _field_has(hour, at.hour, 0, 23)
            and _field_has(month, at.month, 1, 12)
        ):
            return False
        on_day = _field_has(day, at.day, 1, 31)
        sunday = at.isoweekday() == 7  # cron: Sunday is 0 or 7
        on_weekday = _field_has(weekday, at.isoweekday() % 7, 0, 7) or (
            sunday and _field_has(weekday, 7, 0, 7)
        )
    except ValueError:
        return False
    if day != "*" and weekday != "*":
        return on_day or on_weekday  # both restricted: cron runs when either matches
    return on_day and on_weekday


def _field_has(field: str, value: int, low: int, high: int) -> bool:
    """Whether one cron field (`*`, `5`, `1,15`, `9-17`, `*/15`, `0-30/10`) includes `value`."""
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (int(x) for x in span.split("-", 1))
        else:
            first = int(span)
            last = high if step_text else first
        if step > 0 and first <= value <= last and (value - first) % step == 0:
            return True
    return False


_CRON_LINE = re.compile(r'^\s*-\s*cron:\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[^#\n]+)', re.M)


def secret_names(provider: str) -> tuple[str, ...]:
    """The environment variables a run with `provider` needs (from its spec),
    SERIESPUB_SECRET first."""
    spec = SPECS.get(provider)
    return ALWAYS_SECRETS + (spec.required_secrets if spec else ())


@dataclass(frozen=True)
class InstallSpec:
    """How the CI runner installs seriespub: a pip requirement, or None with the reason."""

    requirement: str | None
    source: str  # where it came from, for the author: "[schedule] install", …
    problem: str | None = None


def install_spec(
    configured: str | None,
    direct_url: Mapping[str, Any] | None,
    version: str,
    git_origin: Callable[[Path], tuple[str, str] | None],
) -> InstallSpec:
    """The requirement that installs *this* seriespub on a runner (PEP 610 direct_url.json).

    `[schedule] install` wins. Else: installed from git → that URL at the installed commit;
    from a URL → that URL; from a local folder → its git origin at its HEAD (`git_origin`
    returns (url, sha) or None); from an index (no direct_url.json) → that version.
    """
    if configured:
        return InstallSpec(configured, "[schedule] install in seriespub.toml")
    if direct_url is None:
        return InstallSpec(f"seriespub=={version}", "the package index it was installed from")
    url = str(direct_url.get("url", ""))
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, Mapping) and vcs.get("vcs") == "git":
        sha = vcs.get("commit_id") or vcs.get("requested_revision")
        return InstallSpec(
            _git_requirement(url, str(sha) if sha else None, direct_url),
            "the git commit it was installed from",
        )
    if "archive_info" in direct_url and url.startswith(("https://", "http://")):
        return InstallSpec(f"seriespub @ {url}", "the archive it was installed from")
    if url.startswith("file://"):
        folder = Path(url.removeprefix("file://"))
        origin = git_origin(folder)
        if origin is not None:
            return InstallSpec(
                _git_requirement(origin[0], origin[1], direct_url),
                f"the git origin and commit of {folder}",
            )
        return InstallSpec(
            None,
            "",
            f"seriespub was installed from {folder}, which a runner "
            "cannot reach and which has no git origin",
        )
    return InstallSpec(None, "", f"seriespub was installed from {url or 'an unknown place'}")


def _git_requirement(url: str, sha: str | None, direct_url: Mapping[str, Any]) -> str:
    url = https_remote(url).removeprefix("git+")
    sub = direct_url.get("subdirectory")
    rev = f"@{sha}" if sha else ""
    return f"seriespub @ git+{url}{rev}" + (f"#subdirectory={sub}" if sub else "")


def https_remote(url: str) -> str:
    """`git@github.com:owner/repo.git` → `https://github.com/owner/repo.git` (runners have
    no SSH key); other URLs unchanged."""
    match = re.fullmatch(r"(?:ssh://)?git@([^:/]+)[:/](.+)", url)
    return f"https://{match.group(1)}/{match.group(2)}" if match else url


def local_git_origin(folder: Path) -> tuple[str, str] | None:
    """(origin URL, HEAD commit) of a git checkout, or None (no git, no origin, dirty)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()

    try:
        return git("remote", "get-url", "origin"), git("rev-parse", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None


def installed_spec(configured: str | None, version: str) -> InstallSpec:
    """`install_spec` for the seriespub running now."""
    import importlib.metadata

    try:
        raw = importlib.metadata.distribution("seriespub").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        raw = None
    direct = json.loads(raw) if raw else None
    return install_spec(
        configured, direct if isinstance(direct, dict) else None, version, local_git_origin
    )


def github_workflow(
    series_path: str = ".",
    *,
    secrets: Sequence[str] = ALWAYS_SECRETS,
    cron: str = "0 * * * *",
    pinned: Sequence[PinnedRun] = (),
    ledger_name: str = "ledger.db",
    install: str | None = "seriespub",
    python_version: str = "3.12",
    site_dir: str | None = None,
) -> str:
    """.github/workflows/seriespub.yml: scheduled `send due`, then the record committed back.

    `install` None: the install step fails with a message saying to set `[schedule] install`.
    `site_dir` (the `[site] out_dir`): also build the site (before the record is committed,
    so the URL it fixes for a new part is kept) and publish it to GitHub Pages.
    `pinned`: a dated run beside the hourly `cron` for each (`pinned_runs`).
    """
    names = list(dict.fromkeys([*ALWAYS_SECRETS, *secrets]))
    bad = [n for n in names if not _ENV_NAME.fullmatch(n)]
    if bad:
        raise ValueError(f"not an environment variable name: {bad[0]!r}")
    if install is not None and (not install.isprintable() or not install.strip()):
        raise ValueError(f"not a pip requirement: {install!r}")
    env = "".join(f"          {n}: ${{{{ secrets.{n} }}}}\n" for n in names)
    dated = "".join(
        f"    - cron: {json.dumps(run.cron)}  # part {run.number_and_time}\n" for run in pinned
    )
    text = _WORKFLOW.format(
        cron=json.dumps(cron),
        dated=dated,
        path=json.dumps(series_path),
        python=json.dumps(python_version),
        install=_install_command(install),
        env=env,
        build=_SITE_BUILD if site_dir is not None else "",
        keep=_keep_record(ledger_name),
    )
    if site_dir is None:
        return text
    folder = f"{series_path.rstrip('/')}/{site_dir}" if series_path != "." else site_dir
    return text + _SITE_PUBLISH.format(artifact=json.dumps(folder))


def _install_command(install: str | None) -> str:
    if install is None:
        return json.dumps(
            'echo "::error::set [schedule] install in seriespub.toml (how this '
            "runner installs seriespub, e.g. a git URL at a commit), then run "
            'seriespub schedule install again" && exit 1'
        )
    return json.dumps(f"pip install {shlex.quote(install)}")


_WORKFLOW_LINE = re.compile(r'^\s*(working-directory|run):\s*("(?:[^"\\]|\\.)*")\s*$', re.M)


def workflow_install(path: Path, series_path: str) -> str | None:
    """The pip requirement a workflow `github_workflow` wrote for the series at `series_path`
    (its folder in the repository) installs; None for any other file or one unreadable."""
    found = _series_workflow(path, series_path)
    if found is None:
        return None
    try:
        words = shlex.split(found[1].get("run", ""))
    except ValueError:
        return None
    return " ".join(words[2:]) if words[:2] == ["pip", "install"] and words[2:] else None


def workflow_crons(path: Path, series_path: str) -> list[str] | None:
    """The `cron:` entries of a workflow that runs `seriespub send due` for the series at
    `series_path`; None for any other file or one unreadable."""
    found = _series_workflow(path, series_path)
    if found is None:
        return None
    crons = []
    for value in _CRON_LINE.findall(found[0]):
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        crons.append(value[1:-1] if value.startswith("'") else value.strip())
    return crons


def _series_workflow(path: Path, series_path: str) -> tuple[str, dict[str, str]] | None:
    """The text of a workflow running `seriespub send due` in `series_path`, and its first
    `working-directory:` and `run:` values; None for any other file or one unreadable."""
    try:
        with path.open("rb") as handle:
            text = handle.read(256 * 1024).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if "seriespub send due" not in text:
        return None
    found: dict[str, str] = {}
    for key, quoted in _WORKFLOW_LINE.findall(text):
        try:
            found.setdefault(key, json.loads(quoted))
        except ValueError:
            return None
    where = found.get("working-directory")
    if where is None or where.rstrip("/") != series_path.rstrip("/"):
        return None
    return text, found


def _keep_record(ledger_name: str) -> str:
    ledger = shlex.quote(f".seriespub/{ledger_name}")
    lines = [
        # A run killed mid-send may leave committed rows in the -wal file: fold them in.
        f'if [ -f {ledger} ]; then python -c "import sqlite3, sys; c = sqlite3.connect('
        f"sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()\" {ledger}; fi",
        'git config user.name "github-actions[bot]"',
        'git config user.email "41898282+github-actions[bot]@users.noreply.github.com"',
        # Only the record: never .env, never .seriespub/secret.
        # site.json fixes the published URLs: a later run must not change them.
        f"for f in {ledger} .seriespub/log.jsonl .seriespub/site.json "
        ".seriespub/site-files.json; do "
        'if [ -f "$f" ]; then git add -f -- "$f"; fi; done',
        'git commit -m "seriespub: delivery record" || true',
        "git pull --rebase",
        "git push",
    ]
    return "".join(f"          {line}\n" for line in lines)


_WORKFLOW = """\
# Generated by `seriespub schedule install`. Sends the instalment that is due and commits the
# delivery record (.seriespub/) back, because a runner forgets everything between runs.
# Add each secret below under Settings → Secrets and variables → Actions.
name: seriespub send due
on:
  schedule:
    - cron: {cron}  # UTC; GitHub may start scheduled runs some minutes late
{dated}  workflow_dispatch:
permissions:
  contents: write
concurrency:
  group: seriespub-send
  cancel-in-progress: false
jobs:
  send:
    runs-on: ubuntu-latest
    timeout-minutes: 120
    defaults:
      run:
        working-directory: {path}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: {python}
      - name: Install seriespub
        run: {install}
      - name: Send what is due
        run: seriespub send due
        env:
{env}\
{build}\
      - name: Keep the delivery record
        if: always()
        run: |
{keep}"""

# Before the record is committed: the build fixes a newly published part's URL in site.json.
_SITE_BUILD = """\
      - name: Build the site
        if: ${{ !cancelled() }}
        run: seriespub site
"""

_SITE_PUBLISH = """\
      - name: Upload the site
        if: ${{{{ !cancelled() }}}}
        uses: actions/upload-pages-artifact@v3
        with:
          path: {artifact}
  pages:
    # Settings → Pages → Source: GitHub Actions.
    needs: send
    if: ${{{{ !cancelled() && needs.send.result != 'skipped' }}}}
    runs-on: ubuntu-latest
    permissions:
      pages: write
      id-token: write
    environment:
      name: github-pages
      url: ${{{{ steps.deploy.outputs.page_url }}}}
    steps:
      - name: Publish to GitHub Pages
        id: deploy
        uses: actions/deploy-pages@v4
"""
