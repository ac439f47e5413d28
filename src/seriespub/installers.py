"""Ready-to-paste schedulers for `seriespub schedule install`: pure text, nothing is installed.

Each one runs `seriespub send due` in the series folder; `send due` is idempotent and takes
the series lock, so a tick that finds nothing due, or a tick during a slow send, is harmless.
`seriespub_cmd` is a command line (for example `shlex.join([sys.executable, "-m",
"seriespub"])`); cron and systemd start with a bare environment, so give an absolute path.
Secrets come from `.env` in the series folder there; in CI from repository secrets.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from seriespub.config import ScheduleSettings
from seriespub.providers import SPECS
from seriespub.schedule import localize, zone

# Every 5 minutes: a release goes out at most 5 minutes after its slot, and a local tick
# costs a fraction of a second; per minute would only add noise to cron.log.
LOCAL_EVERY_MINUTES = 5

# Keeps unsubscribe tokens stable: a runner has no `.seriespub/secret`, and it is never committed.
ALWAYS_SECRETS = ("SERIESPUB_SECRET",)
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def crontab_line(series_dir: Path, seriespub_cmd: str,
                 every_minutes: int = LOCAL_EVERY_MINUTES) -> str:
    """One crontab line that runs `send due` in `series_dir`, output to .seriespub/cron.log."""
    command = (f"cd {shlex.quote(str(series_dir))} && mkdir -p -m 700 .seriespub && "
               f"{seriespub_cmd} send due >> .seriespub/cron.log 2>&1")
    # cron turns an unescaped % into a newline.
    return f"*/{every_minutes} * * * * " + command.replace("%", r"\%")


def unit_name(series_dir: Path) -> str:
    """`seriespub-<folder>`: one timer per series folder."""
    slug = re.sub(r"[^a-z0-9]+", "-", series_dir.name.lower()).strip("-") or "series"
    return f"seriespub-{slug}"


def systemd_units(series_dir: Path, seriespub_cmd: str,
                  every_minutes: int = LOCAL_EVERY_MINUTES) -> dict[str, str]:
    """A user service + timer (file name → text) for ~/.config/systemd/user/."""
    name = unit_name(series_dir)
    where = _systemd_escape(str(series_dir))
    service = (f"[Unit]\nDescription=seriespub: send the due instalment in {where}\n\n"
               f"[Service]\nType=oneshot\nWorkingDirectory={where}\n"
               f"ExecStart={_systemd_escape(seriespub_cmd)} send due\n")
    timer = (f"[Unit]\nDescription=seriespub: check {where} every {every_minutes} minutes\n\n"
             f"[Timer]\nOnCalendar=*:0/{every_minutes}\n"
             "# Persistent: a tick missed while the machine was off or asleep runs at wake-up.\n"
             "Persistent=true\n\n[Install]\nWantedBy=timers.target\n")
    return {f"{name}.service": service, f"{name}.timer": timer}


def systemd_enable_hint(series_dir: Path) -> str:
    """The commands that install the units printed by `systemd_units`."""
    name = unit_name(series_dir)
    return ("systemctl --user daemon-reload && "
            f"systemctl --user enable --now {name}.timer\n"
            "# to keep running while you are logged out: loginctl enable-linger")


def _systemd_escape(text: str) -> str:
    # `%` starts a specifier and `$` a variable in unit files.
    return text.replace("%", "%%").replace("$", "$$")


def github_cron(settings: ScheduleSettings) -> str:
    """Hourly at the slot's minute in UTC: a run lands right after each release, and an
    hourly schedule stays well inside the free Actions minutes of a private repository."""
    first = settings.first_release or dt.datetime(2000, 1, 1)
    minute = localize(first, zone(settings.timezone)).astimezone(dt.UTC).minute
    return f"{minute} * * * *"


def secret_names(provider: str) -> tuple[str, ...]:
    """The environment variables a run with `provider` needs (from its spec),
    SERIESPUB_SECRET first."""
    spec = SPECS.get(provider)
    return ALWAYS_SECRETS + (spec.required_secrets if spec else ())


def github_workflow(series_path: str = ".", *, secrets: Sequence[str] = ALWAYS_SECRETS,
                    cron: str = "0 * * * *", ledger_name: str = "ledger.db",
                    install: str = "seriespub", python_version: str = "3.12") -> str:
    """.github/workflows/seriespub.yml: scheduled `send due`, then the record committed back."""
    names = list(dict.fromkeys([*ALWAYS_SECRETS, *secrets]))
    bad = [n for n in names if not _ENV_NAME.fullmatch(n)]
    if bad:
        raise ValueError(f"not an environment variable name: {bad[0]!r}")
    env = "".join(f"          {n}: ${{{{ secrets.{n} }}}}\n" for n in names)
    return _WORKFLOW.format(
        cron=json.dumps(cron), path=json.dumps(series_path), python=json.dumps(python_version),
        install=shlex.quote(install), env=env, keep=_keep_record(ledger_name))


def _keep_record(ledger_name: str) -> str:
    ledger = shlex.quote(f".seriespub/{ledger_name}")
    lines = [
        # A run killed mid-send may leave committed rows in the -wal file: fold them in.
        f"if [ -f {ledger} ]; then python -c \"import sqlite3, sys; c = sqlite3.connect("
        f"sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()\" {ledger}; fi",
        'git config user.name "github-actions[bot]"',
        'git config user.email "41898282+github-actions[bot]@users.noreply.github.com"',
        # Only the record: never .env, never .seriespub/secret.
        f"for f in {ledger} .seriespub/log.jsonl; do "
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
  workflow_dispatch:
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
        run: pip install {install}
      - name: Send what is due
        run: seriespub send due
        env:
{env}\
      - name: Keep the delivery record
        if: always()
        run: |
{keep}"""
