"""The crontab line of `schedule install`, run by a real cron.

Debian's cron (Vixie cron) reads only the system spool, so it runs in a private mount
namespace (`unshare -m`, root only) where a tmpfs hides the machine's spool, /etc/crontab and
/etc/cron.d: its one crontab is ours and nothing of the machine's is touched or run. cron
gives a job what an author's job gets: no shell environment (no LANG, so the C locale;
PATH=/usr/bin:/bin; HOME from passwd; no terminal). The line is the one `schedule install`
prints, its schedule changed to every minute; the command part is byte for byte. One cron
serves every check, over two ticks (≈ 60–120 s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import TEST_SECRET, postmark_delivery, write_subscribers
from fakes.httpserver import serve
from fakes.postmark import TOKEN, PostmarkHandler, PostmarkState

CRON = shutil.which("cron") or ("/usr/sbin/cron" if Path("/usr/sbin/cron").exists() else None)
UNSHARE = shutil.which("unshare")


def _unavailable() -> str | None:
    if CRON is None or shutil.which("crontab") is None:
        return "Debian cron is not installed (apt-get install cron; .ci/run does)"
    if UNSHARE is None or os.geteuid() != 0:
        return "needs root and unshare: cron runs in a private mount namespace"
    probe = subprocess.run([UNSHARE, "-m", "true"], capture_output=True, check=False)
    return None if probe.returncode == 0 else "unshare -m is not permitted here"


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable())),
]

EVERY_FIVE = "*/5 * * * * "
TICKS_WAIT = 150.0  # two minute boundaries and the runs after them

# Inside the namespace: an empty spool, /etc/crontab and /etc/cron.d; our crontab; cron.
NAMESPACE = """set -e
mount -t tmpfs -o mode=1730 tmpfs /var/spool/cron/crontabs
chgrp crontab /var/spool/cron/crontabs
mount -t tmpfs tmpfs /etc/cron.d
mount --bind "$2" /etc/crontab
mount -t tmpfs tmpfs /run
crontab "$1"
exec "$3" -f
"""

SCHEDULE = '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "Europe/Paris"\n'
CATCH_UP = 'catch_up = "all"\n'  # part 2 overdue right after part 1 went out by hand
DRAFT = "---\ntitle: {title}\nstatus: ready\n---\nBonjour, {title}.\n"


@dataclass
class Ticks:
    sends: Path  # a folder with space, %, non-ASCII letters; its secrets only in .env
    shell_key: Path  # sent part 1 with a key set only in the shell; no .env
    postmark: PostmarkState
    crontab: str


def series(root: Path, delivery: str, titles: list[str], schedule: str = SCHEDULE) -> Path:
    (root / "drafts").mkdir(parents=True)
    (root / "seriespub.toml").write_text(
        '[series]\ntitle = "Lettres d’été"\nfrom = "Author <author@example.com>"\n'
        'unsubscribe_url = "https://example.com/u?token={token}"\n\n' + delivery + schedule,
        encoding="utf-8",
    )
    for n, title in enumerate(titles, 1):
        draft = root / "drafts" / f"{n:02d}-part.md"
        draft.write_text(DRAFT.format(title=title), encoding="utf-8")
    write_subscribers(root / "subscribers.csv", 3)
    return root


def seriespub(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI in `root`, with only `env` and what the suite's own code needs."""
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "seriespub", *args],
        cwd=root,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cron_line(root: Path) -> str:
    printed = seriespub(root, "schedule", "install", "--repo-path", "x")
    assert printed.returncode == 0, printed.stderr
    line = printed.stdout.splitlines()[1]
    assert line.startswith(EVERY_FIVE), line
    return "* * * * * " + line.removeprefix(EVERY_FIVE)


def import_path_line() -> str:
    """PYTHONPATH for cron when this interpreter alone would import another seriespub (a
    worktree's tests run by a venv installed from the main checkout); CI needs none."""
    here = Path(sys.modules["seriespub"].__file__ or "").parent
    found = subprocess.run(
        [sys.executable, "-c", "import seriespub; print(seriespub.__file__)"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return "" if Path(found).parent == here else f"PYTHONPATH={here.parent}\n"


def wait_for(check: Path, text: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check.exists() and text in check.read_text(encoding="utf-8"):
            return
        time.sleep(0.5)
    shown = check.read_text(encoding="utf-8") if check.exists() else "(no file)"
    raise AssertionError(f"{text!r} not in {check} after {seconds:.0f} s:\n{shown}")


@pytest.fixture(scope="module")
def ticks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ticks]:
    base = tmp_path_factory.mktemp("cron")
    with serve(PostmarkHandler, PostmarkState()) as (url, state):
        sends = series(
            base / "Lettres d’été 100%", postmark_delivery(url), ["Café à l’aube", "Deux"]
        )
        (sends / ".env").write_text(
            f"SERIESPUB_SECRET={TEST_SECRET}\nPOSTMARK_SERVER_TOKEN={TOKEN}\n", encoding="utf-8"
        )
        shell_key = series(
            base / "Clé du shell",
            '[delivery]\nprovider = "outbox"\n',
            ["Un", "Deux", "Trois"],
            SCHEDULE + CATCH_UP,
        )
        by_hand = seriespub(shell_key, "send", "next", "--yes", SERIESPUB_SECRET=TEST_SECRET)
        assert by_hand.returncode == 0, by_hand.stderr

        lines = [cron_line(sends), cron_line(shell_key)]
        crontab = 'MAILTO=""\n' + import_path_line() + "".join(f"{x}\n" for x in lines)
        (base / "crontab").write_text(crontab, encoding="utf-8")
        (base / "etc-crontab").write_text("", encoding="utf-8")
        (base / "namespace.sh").write_text(NAMESPACE, encoding="utf-8")
        assert CRON is not None and UNSHARE is not None
        command = [UNSHARE, "-m", "--propagation", "private", "/bin/sh"]
        files = [str(base / n) for n in ("namespace.sh", "crontab", "etc-crontab")]
        cron = subprocess.Popen(
            [*command, *files, CRON],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            start_new_session=True,
        )
        try:
            # Tick 1 sends part 1 and refuses the other series; tick 2 finds nothing due.
            wait_for(sends / ".seriespub" / "cron.log", "Nothing is due", TICKS_WAIT)
            wait_for(shell_key / ".seriespub" / "cron.log", " error:", 5)
            yield Ticks(sends, shell_key, state, crontab)
        finally:
            os.killpg(cron.pid, 15)
            cron.wait(timeout=10)


def test_cron_sends_the_due_part_once(ticks: Ticks) -> None:
    to = sorted(m["To"] for m in ticks.postmark.accepted)
    assert to == [f"Reader {i} <reader{i:04d}@example.com>" for i in (1, 2, 3)]
    assert {m["Subject"] for m in ticks.postmark.accepted} == {"Café à l’aube"}


def test_cron_log_tells_what_happened(ticks: Ticks) -> None:
    log = (ticks.sends / ".seriespub" / "cron.log").read_text(encoding="utf-8")
    assert "Part 1: 'Café à l’aube'" in log and "sent 3/3, failed 0" in log
    _, _, second = log.partition("Nothing is due")
    assert "error" not in log.lower() and "Traceback" not in log
    assert "Next release: part 2 (Deux)" in second


def test_seriespub_log_shows_the_unattended_run(ticks: Ticks) -> None:
    shown = seriespub(ticks.sends, "log", LANG="C")
    assert shown.returncode == 0, shown.stderr
    events = [line.split()[1] for line in shown.stdout.splitlines()]
    assert events == ["due", "sent"], shown.stdout


def test_a_key_only_in_the_shell_is_refused(ticks: Ticks) -> None:
    log = (ticks.shell_key / ".seriespub" / "cron.log").read_text(encoding="utf-8")
    assert "error: no unsubscribe key here" in log and "nothing was sent" in log
    assert "hint: set the key the series sent with" in log
    assert not (ticks.shell_key / ".seriespub" / "secret").exists()
    outbox = ticks.shell_key / ".seriespub" / "outbox"
    assert sorted(p.name for p in outbox.iterdir()) == ["001"]  # part 1, by hand


def test_the_command_part_is_the_printed_one(ticks: Ticks) -> None:
    """cron ran what `schedule install` printed: `\\%` is cron's escape of the folder's `%`."""
    assert r"cd '" + str(ticks.sends).replace("%", r"\%") + "' && " in ticks.crontab


def test_every_line_cron_wrote_is_dated(ticks: Ticks) -> None:
    """`--log` (in the printed line) stamps each line, the send's and the refusal's alike,
    with cron's local time: no TZ in cron's environment, so the machine's zone."""
    import datetime as dt
    import re

    for folder in (ticks.sends, ticks.shell_key):
        lines = (folder / ".seriespub" / "cron.log").read_text(encoding="utf-8").splitlines()
        stamps = [re.match(r"(\S+) ", line) for line in lines]
        assert lines and all(stamps), lines
        for match in stamps:
            assert match and dt.datetime.fromisoformat(match.group(1)).utcoffset() is not None
