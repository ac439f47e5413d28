"""Cost that grows with nothing it should not: what a command imports, and the peak memory of
list edits as the list grows (issue 13). Behaviour, not timing: each runs the real CLI in a
fresh process and inspects that process (its modules, its own peak RSS) at exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import write_subscribers

SRC = str(Path(__file__).parents[1] / "src")
# Peak RSS of this program; the wrapper runs the CLI, then reports what it imported.
PEAK = """
import json, resource, runpy, sys
def peak():
    # VmHWM is this program's own high-water mark; ru_maxrss survives exec on Linux and
    # would report a large parent's size
    try:
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""
WRAPPER = (
    PEAK
    + """
sys.argv = ["seriespub", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("seriespub", run_name="__main__")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
heavy = ("httpx", "botocore", "icalendar", "jinja2", "mrml", "frontmatter", "sqlite3", "rich",
         *(f"seriespub.cli.{m}" for m in ("send", "subscribers", "site", "preview", "schedule")),
         "seriespub.message", "socket", "hmac", "tempfile", "seriespub.lock", "rich._emoji_codes")
sys.stdout.flush()
print(json.dumps({"code": code, "modules": [m for m in heavy if m in sys.modules],
                  "rss_mb": peak()}),
      file=sys.stderr)
"""
)


def run(root: Path, *args: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "SERIESPUB_SECRET": "k" * 64,
        "PYTHONPATH": os.pathsep.join(
            [SRC, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        ),
    }
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report: dict[str, Any] = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    return report


@pytest.mark.parametrize(
    ("args", "absent"),
    [
        (
            ("subscribers", "list"),
            {"httpx", "botocore", "icalendar", "jinja2", "mrml", "sqlite3", "rich"},
        ),
        (
            ("subscribers", "add", "new@example.com"),
            {"httpx", "botocore", "icalendar", "jinja2", "rich"},
        ),
        (
            ("status",),
            {"httpx", "botocore", "icalendar", "jinja2", "mrml", "seriespub.cli.send", "rich"}
            | {"seriespub.cli.subscribers", "seriespub.cli.site", "seriespub.cli.preview"}
            | {"seriespub.message", "socket", "hmac"}  # the message machinery: sends only
            | {"tempfile", "seriespub.lock"},  # what writes (keys, the list) and locks
        ),
        (
            ("send", "next", "--dry-run"),
            {"httpx", "botocore", "icalendar", "seriespub.cli.subscribers", "seriespub.cli.site"}
            | {"rich._emoji_codes"},  # the author's ":rocket:" is printed as typed
        ),
        (("send", "next", "--yes"), {"httpx", "botocore", "icalendar"}),
    ],
)
def test_commands_on_an_outbox_series_do_not_import_what_they_do_not_use(
    make_series: Callable[..., Path], args: tuple[str, ...], absent: set[str]
) -> None:
    root = make_series(drafts=1, subscribers=3)
    report = run(root, *args)
    modules = report["modules"]
    assert isinstance(modules, list)
    assert absent.isdisjoint(modules), f"{' '.join(args)} imported {absent & set(modules)}"


def test_status_of_a_part_going_out_does_not_import_the_message_machinery(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    """A part part-way out (`--limit`): `status` counts who is still owed it, and the site's
    published pages, from the list, the ledger and the records alone."""
    root = make_series(drafts=2, subscribers=5)
    assert cli(root, "send", "next", "--yes", "--limit", "2").exit_code == 0
    modules = set(run(root, "status")["modules"])
    machinery = {"seriespub.message", "seriespub.sending", "socket", "hmac", "jinja2"}
    assert not machinery & modules, f"status imported {machinery & modules}"


def bounce_back(root: Path) -> float:
    """Peak RSS of writing one bounce back into the list, in a fresh process."""
    script = (
        PEAK + "from pathlib import Path\nfrom seriespub import subscribers\n"
        "from seriespub.models import SubscriberStatus\n"
        "n = subscribers.update_statuses(Path('subscribers.csv'), "
        "{'reader0003@example.com': SubscriberStatus.BOUNCED})\n"
        "print(json.dumps({'changed': n, 'rss_mb': peak()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    report = json.loads(done.stdout)
    assert report["changed"] == 1, done.stderr
    return float(report["rss_mb"])


@pytest.mark.slow
def test_list_edits_and_listing_keep_flat_memory_as_the_list_grows(
    make_series: Callable[..., Path], tmp_path: Path
) -> None:
    """add, remove, import and list at 200,000 readers peak within 1.5× of 1,000 readers."""
    source = tmp_path / "export.csv"
    source.write_text("Email\n" + "".join(f"import{i}@example.org\n" for i in range(200)))
    peaks: dict[int, dict[str, float]] = {}
    for size in (1_000, 200_000):
        root = make_series(drafts=1, subscribers=0, name=f"s{size}")
        write_subscribers(root / "subscribers.csv", size)
        peaks[size] = {
            "add": run(root, "subscribers", "add", "new@example.com")["rss_mb"],
            "remove": run(root, "subscribers", "remove", "reader0002@example.com")["rss_mb"],
            "import": run(root, "subscribers", "import", str(source))["rss_mb"],
            "list": run(root, "subscribers", "list", "--json")["rss_mb"],
            "statuses": bounce_back(root),  # what a send writes back after bounces
        }
        lines = (root / "subscribers.csv").read_text().splitlines()
        assert len(lines) == 1 + size + 1 + 200
    for command, small in peaks[1_000].items():
        assert peaks[200_000][command] <= 1.5 * small, (command, peaks)
