"""A part that was sent keeps its page: every reader's "View in browser" link points there.

The ledger of each test is made by real sends to the outbox; the drafts folder is then
changed the way an author would (a file deleted, moved out, renamed).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import time_machine

BASE = "https://example.org/teaming/"
SITE = f'[site]\nbase_url = "{BASE}"\n'

Cli = Callable[..., object]


def sent_series(make_series: Callable[..., Path], cli: Cli, sends: int = 2) -> Path:
    """Three ready parts, the first `sends` sent to the outbox, then the site built once."""
    root = make_series(drafts=3, extra_toml=SITE)
    for _ in range(sends):
        result = cli(root, "send", "next", "--yes")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the built site and the site's records."""
    state = root / ".seriespub"
    files = [*sorted((root / "site").rglob("*")), state / "site.json", state / "site-files.json"]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files if p.is_file()}


def one_error(result: object) -> str:
    """The error line, after asserting the run failed with one error line and no traceback."""
    output: str = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1, output  # type: ignore[attr-defined]
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    return errors[0]


@pytest.mark.parametrize("how", ["deleted", "moved out"])
def test_site_refuses_to_drop_a_sent_parts_page_and_writes_nothing(
    make_series: Callable[..., Path], cli: Cli, how: str
) -> None:
    root = sent_series(make_series, cli)
    before = snapshot(root)
    draft = root / "drafts" / "02-part-2.md"
    if how == "deleted":
        draft.unlink()
    else:
        (root / "drafts" / "old").mkdir()
        shutil.move(draft, root / "drafts" / "old" / draft.name)
    result = cli(root, "site")
    line = one_error(result)
    assert "part 2" in line and "Part 2 title" in line
    assert f"{BASE}02-part-2/" in line
    assert "hint:" in result.output and "restore" in result.output  # type: ignore[attr-defined]
    assert "git" in result.output  # type: ignore[attr-defined]
    assert snapshot(root) == before
    assert (root / "site" / "02-part-2" / "index.html").is_file()


def test_several_missing_sent_drafts_are_named_in_one_line(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = sent_series(make_series, cli)
    (root / "drafts" / "01-part-1.md").unlink()
    (root / "drafts" / "02-part-2.md").unlink()
    line = one_error(cli(root, "site"))
    assert f"{BASE}01-part-1/" in line and f"{BASE}02-part-2/" in line


def test_a_partly_sent_part_counts_as_sent(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=3, subscribers=3, extra_toml=SITE)
    result = cli(root, "send", "next", "--yes", "--limit", "1")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert cli(root, "site").exit_code == 0  # type: ignore[attr-defined]
    before = snapshot(root)
    (root / "drafts" / "01-part-1.md").unlink()
    line = one_error(cli(root, "site"))
    assert f"{BASE}01-part-1/" in line
    assert snapshot(root) == before


def test_a_sent_part_never_built_is_still_named(make_series: Callable[..., Path], cli: Cli) -> None:
    """Sent, then its draft deleted before any build: the part is still named, with the URL
    its send pinned, and nothing is written."""
    root = make_series(drafts=2, extra_toml=SITE)
    assert cli(root, "send", "next", "--yes").exit_code == 0  # type: ignore[attr-defined]
    pinned = (root / ".seriespub" / "site.json").read_bytes()
    (root / "drafts" / "01-part-1.md").unlink()
    line = one_error(cli(root, "site"))
    assert "part 1" in line and "Part 1 title" in line and f"{BASE}01-part-1/" in line
    assert not (root / "site").exists()
    assert (root / ".seriespub" / "site.json").read_bytes() == pinned


def test_a_renamed_sent_draft_keeps_its_page(make_series: Callable[..., Path], cli: Cli) -> None:
    root = sent_series(make_series, cli)
    old = root / "drafts" / "02-part-2.md"
    old.rename(root / "drafts" / "02-a-better-name.md")
    result = cli(root, "site", "--json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert json.loads(result.stdout)["parts"] == [1, 2]  # type: ignore[attr-defined]
    assert (root / "site" / "02-part-2" / "index.html").is_file()
    assert not (root / "site" / "02-a-better-name").exists()


def test_an_unsent_drafts_removal_still_just_drops_it(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = sent_series(make_series, cli, sends=1)
    (root / "drafts" / "03-part-3.md").unlink()
    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]


def test_check_reports_a_sent_part_without_its_draft_as_an_error(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = sent_series(make_series, cli)
    assert cli(root, "check").exit_code == 0  # type: ignore[attr-defined]
    (root / "drafts" / "02-part-2.md").unlink()
    result = cli(root, "check", "--json")
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    report = json.loads(result.stdout)  # type: ignore[attr-defined]
    errors = [f for f in report["findings"] if f["level"] == "error"]
    assert len(errors) == 1, report
    assert "part 2" in errors[0]["message"] and f"{BASE}02-part-2/" in errors[0]["message"]


@pytest.mark.parametrize("command", [("status",), ("schedule",), ("schedule", "--ics", "cal.ics")])
def test_reports_say_a_sent_part_without_its_draft_is_left_out(
    make_series: Callable[..., Path], cli: Cli, command: tuple[str, ...]
) -> None:
    root = sent_series(make_series, cli)
    toml = root / "seriespub.toml"
    calendar = '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "Europe/London"\n'
    toml.write_text(toml.read_text(encoding="utf-8") + calendar, encoding="utf-8")
    (root / "drafts" / "02-part-2.md").unlink()
    result = cli(root, *command)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    warnings = [
        line
        for line in result.stderr.splitlines()  # type: ignore[attr-defined]
        if line.startswith("warning:") and "was sent" in line
    ]
    assert len(warnings) == 1, result.stderr  # type: ignore[attr-defined]
    assert 'part 2 "Part 2 title"' in warnings[0]


def test_a_part_renamed_after_its_send_but_before_any_build_keeps_the_emails_link(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """The "View in browser" URL is pinned when the part is sent, not at the next build:
    renaming the draft in between used to move the page away from every reader's link."""
    root = make_series(drafts=2, extra_toml=SITE)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    sent = next((root / ".seriespub" / "outbox" / "001").glob("*.eml")).read_text("utf-8")
    assert f"{BASE}01-part-1/" in sent
    (root / "drafts" / "01-part-1.md").rename(root / "drafts" / "01-a-better-name.md")
    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert (root / "site" / "01-part-1" / "index.html").is_file()
    assert not (root / "site" / "01-a-better-name").exists()


def test_a_dry_run_pins_no_url(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=2, extra_toml=SITE)
    result = cli(root, "send", "next", "--dry-run")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert not (root / ".seriespub" / "site.json").exists()


@pytest.mark.parametrize("command", [("send", "next", "--yes"), ("send", "due")])
def test_a_send_refuses_while_the_site_cannot_be_built(
    make_series: Callable[..., Path], cli: Cli, command: tuple[str, ...]
) -> None:
    """With a sent part's draft gone, `site` refuses: part 3's emails would link to a page
    no build makes (and leave part 2 out of "Previously"), so nothing is sent."""
    root = sent_series(make_series, cli)
    toml = root / "seriespub.toml"
    today = dt.datetime.now(dt.UTC).date()
    toml.write_text(toml.read_text() + f"[schedule]\nfirst_release = {today}T00:00:00\n")
    (root / "drafts" / "02-part-2.md").unlink()
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=15)):  # 3 is due
        line = one_error(cli(root, *command))
        dry = cli(root, "send", "next", "--dry-run")
    assert 'part 2 "Part 2 title"' in line and f"{BASE}02-part-2/" in line
    assert "View in browser" in line
    assert not (root / ".seriespub" / "outbox" / "003").exists()
    assert dry.exit_code == 0, dry.output  # type: ignore[attr-defined]
    warned = [w for w in dry.output.splitlines() if w.startswith("warning:")]  # type: ignore[attr-defined]
    assert any('part 2 "Part 2 title"' in w and "would be refused" in w for w in warned)


def test_a_test_send_pins_no_url_so_a_rename_before_the_real_send_counts(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """Only the author gets a `send test`: a draft renamed after it and before the part goes
    out gives readers the new name, not the working one the test copy carried."""
    root = make_series(drafts=2, extra_toml=SITE)
    result = cli(root, "send", "test", "1", "--to", "author@example.com")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    (root / "drafts" / "01-part-1.md").rename(root / "drafts" / "01-a-better-name.md")
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    sent = next((root / ".seriespub" / "outbox" / "001").glob("*.eml")).read_text("utf-8")
    assert f"{BASE}01-a-better-name/" in sent and f"{BASE}01-part-1/" not in sent
    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert (root / "site" / "01-a-better-name" / "index.html").is_file()


def set_back_to_draft(draft: Path) -> None:
    text = draft.read_text(encoding="utf-8")
    assert "status: ready" in text
    draft.write_text(text.replace("status: ready", "status: draft"), encoding="utf-8")


def test_site_refuses_to_drop_a_sent_part_set_back_to_draft(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """Readers hold the link whatever the draft's status says: there is no way to withdraw
    a page, so the build refuses and says how to go on."""
    root = sent_series(make_series, cli)
    before = snapshot(root)
    set_back_to_draft(root / "drafts" / "02-part-2.md")
    result = cli(root, "site")
    line = one_error(result)
    assert 'part 2 "Part 2 title"' in line and f"{BASE}02-part-2/" in line
    assert "status: draft" in line
    assert "status: ready" in result.output  # type: ignore[attr-defined]
    assert snapshot(root) == before


def test_check_and_reports_name_a_sent_part_set_back_to_draft(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = sent_series(make_series, cli)
    with (root / "seriespub.toml").open("a", encoding="utf-8") as toml:
        toml.write(CALENDAR)
    set_back_to_draft(root / "drafts" / "01-part-1.md")
    result = cli(root, "check", "--json")
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    report = json.loads(result.stdout)  # type: ignore[attr-defined]
    errors = [f for f in report["findings"] if f["level"] == "error"]
    assert len(errors) == 1 and f"{BASE}01-part-1/" in errors[0]["message"], report
    for command in ("status", "schedule"):
        result = cli(root, command)
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        stderr: str = result.stderr  # type: ignore[attr-defined]
        warnings = [w for w in stderr.splitlines() if w.startswith("warning:")]
        assert len(warnings) == 1 and 'part 1 "Part 1 title"' in warnings[0], stderr
        assert "status: draft" in warnings[0], stderr


CALENDAR = '[schedule]\nfirst_release = 2026-01-06T09:00:00\ntimezone = "Europe/London"\n'


def web_series(make_series: Callable[..., Path], cli: Cli) -> Path:
    """Three ready parts, the first one's release slot passed (the others wait for its
    send), built once, none sent."""
    root = make_series(drafts=3, extra_toml=SITE + CALENDAR)
    result = cli(root, "site", "--json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert json.loads(result.stdout)["parts"] == [1]  # type: ignore[attr-defined]
    return root


def test_a_part_on_the_site_by_its_slot_keeps_its_page_when_its_draft_goes(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """Never sent, but its page and feed entry went up when its slot passed: web and
    feed readers hold the link as mail readers do."""
    root = web_series(make_series, cli)
    before = snapshot(root)
    (root / "drafts" / "01-part-1.md").unlink()
    result = cli(root, "site")
    line = one_error(result)
    assert 'part 1 "Part 1 title"' not in line  # no ledger record holds its title
    assert "part 1" in line and f"{BASE}01-part-1/" in line and "on the site" in line
    assert "status: draft" in result.output  # type: ignore[attr-defined]  # how to take it down
    assert snapshot(root) == before
    result = cli(root, "status")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "warning: part 1 is on the site but has no draft" in result.stderr  # type: ignore[attr-defined]
    result = cli(root, "check")
    assert result.exit_code == 1 and f"{BASE}01-part-1/" in result.output  # type: ignore[attr-defined]


def test_a_part_whose_slot_has_not_come_is_dropped_freely(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=3, extra_toml=SITE + CALENDAR.replace("2026-01-06", "2099-01-06"))
    assert cli(root, "site").exit_code == 0  # type: ignore[attr-defined]
    (root / "drafts" / "01-part-1.md").unlink()
    set_back_to_draft(root / "drafts" / "02-part-2.md")
    result = cli(root, "site")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]


def test_an_unsent_part_on_the_site_set_back_to_draft_is_taken_down(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """`status: draft` is how an author withdraws a page on purpose: no email links to it."""
    root = web_series(make_series, cli)
    set_back_to_draft(root / "drafts" / "01-part-1.md")
    result = cli(root, "site", "--json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert json.loads(result.stdout)["removed"] == ["01-part-1/index.html"]  # type: ignore[attr-defined]


def test_a_calendar_change_keeps_an_unsent_parts_page_that_went_up_by_its_slot(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """Its page and feed entry were public when its slot passed: moving the calendar on
    (its slot now ahead) keeps them, with the date readers saw, until it is sent."""
    root = web_series(make_series, cli)
    page = root / "site" / "01-part-1" / "index.html"
    feed_before = (root / "site" / "feed.xml").read_text(encoding="utf-8")
    assert page.is_file() and "2026-01-06" in page.read_text(encoding="utf-8")
    toml = root / "seriespub.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("2026-01-06", "2099-01-06"), encoding="utf-8"
    )
    result = cli(root, "site", "--json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert json.loads(result.stdout)["removed"] == []  # type: ignore[attr-defined]
    assert "2026-01-06" in page.read_text(encoding="utf-8")
    assert (root / "site" / "feed.xml").read_text(encoding="utf-8") == feed_before
