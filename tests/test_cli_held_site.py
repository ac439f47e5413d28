"""A held release (`send next --at T`) stays off the site until T: web and feed readers get
the part when mail readers do, not days before.

Through the CLI against the Resend fake (it can hold and withdraw a send), the clock frozen.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from conftest import ok
from fakes.resend import ResendState

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
LONDON = ZoneInfo("Europe/London")
BASE = "https://example.org/teaming/"
SITE = f'[site]\nbase_url = "{BASE}"\n'
AT = "2026-12-08 09:00"  # London, GMT in December
LATE = "late@example.com"


def london(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=LONDON)


def held_series(make_series: MakeSeries, url: str, toml: str = "") -> Path:
    delivery = f'[delivery]\nprovider = "resend"\n[delivery.resend]\napi_url = "{url}"\n'
    toml = '[schedule]\ntimezone = "Europe/London"\n' + toml + SITE
    return make_series(drafts=3, subscribers=3, delivery=delivery, extra_toml=toml)


def built(cli: Cli, root: Path) -> list[int]:
    """Build the site; the parts it published."""
    return list(json.loads(ok(cli(root, "site", "--json")).stdout)["parts"])


def site_text(root: Path) -> str:
    """The index, the feed and the sitemap, as readers and crawlers fetch them."""
    site = root / "site"
    names = ("index.html", "feed.xml", "sitemap.xml")
    return "".join((site / n).read_text(encoding="utf-8") for n in names)


def test_a_held_part_goes_up_with_the_first_build_from_its_release(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, _ = resend
    root = held_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False) as clock:
        ok(cli(root, "send", "next", "--yes", "--at", AT))
        assert built(cli, root) == []
        assert "01-part-1" not in site_text(root)
        clock.move_to(london(8, 8, 59))
        assert built(cli, root) == []
        clock.move_to(london(8, 9))
        assert built(cli, root) == [1]
    page = (root / "site" / "01-part-1" / "index.html").read_text(encoding="utf-8")
    assert "2026-12-08T09:00:00Z" in page  # dated when it went out, as the email
    assert f"{BASE}01-part-1/" in site_text(root)


def test_a_held_part_whose_slot_is_still_ahead_stays_off_the_site(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    """With a calendar: `--at slot` holds it for its slot; nothing goes up before."""
    url, _ = resend
    calendar = "first_release = 2026-12-08T09:00:00\n"
    root = held_series(make_series, url, calendar)
    with time_machine.travel(london(1, 9), tick=False) as clock:
        ok(cli(root, "send", "next", "--yes", "--at", "slot"))
        assert built(cli, root) == []
        clock.move_to(london(8, 9, 5))
        assert built(cli, root) == [1]


def test_a_part_held_after_its_slot_passed_goes_up_when_readers_get_it(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    """Its slot (1 Dec) passed unsent; on 2 Dec it is handed over for 4 Dec: the mail
    arrives on the 4th, so the page does too, dated then."""
    url, _ = resend
    root = held_series(make_series, url, "first_release = 2026-12-01T09:00:00\n")
    with time_machine.travel(london(2, 10), tick=False) as clock:
        said = ok(cli(root, "send", "next", "--yes", "--at", "2026-12-04 09:00")).stderr
        assert built(cli, root) == []
        assert "01-part-1" not in site_text(root)
        clock.move_to(london(4, 8, 59))
        assert built(cli, root) == []
        clock.move_to(london(4, 9))
        assert built(cli, root) == [1]
    page = (root / "site" / "01-part-1" / "index.html").read_text(encoding="utf-8")
    assert "2026-12-04T09:00:00Z" in page
    assert "part 1's page" in said and "2026-12-04 09:00 UTC" in said


def test_send_next_at_says_when_the_page_goes_up(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, _ = resend
    root = held_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False):
        result = ok(cli(root, "send", "next", "--yes", "--at", AT))
    assert (
        f"part 1's page ({BASE}01-part-1/) goes up with the first `seriespub site` from "
        "2026-12-08 09:00 UTC; the GitHub Actions workflow builds at every run"
    ) in result.stderr


def test_a_held_round_keeps_the_released_part_up_and_the_held_one_off(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    """Part 1 reached the front on 1 Dec; a late joiner's copy of it is held with part 2:
    part 1's page stays up (unchanged), part 2's waits for 8 Dec."""
    url, _ = resend
    root = held_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False) as clock:
        ok(cli(root, "send", "next", "--yes"))
        assert built(cli, root) == [1]
        page = (root / "site" / "01-part-1" / "index.html").read_bytes()
        clock.move_to(london(2, 12))
        ok(cli(root, "subscribers", "add", LATE))
        clock.move_to(london(3, 12))
        said = ok(cli(root, "send", "next", "--yes", "--at", AT)).stderr
        assert built(cli, root) == [1]
        assert (root / "site" / "01-part-1" / "index.html").read_bytes() == page
        clock.move_to(london(8, 9))
        assert built(cli, root) == [1, 2]
    assert b"2026-12-01" in page
    assert "part 2's page" in said and "part 1's page" not in said  # part 1's is up


def test_a_cancelled_held_part_never_goes_up(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    url, _ = resend
    root = held_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False) as clock:
        ok(cli(root, "send", "next", "--yes", "--at", AT))
        assert built(cli, root) == []
        ok(cli(root, "send", "cancel", "1", "--yes"))
        clock.move_to(london(9, 9))
        assert built(cli, root) == []


def put_up_by_an_older_build(cli: Cli, root: Path, clock: Any, *, dated: bool) -> None:
    """The records an older seriespub left: it built the site at hand-over, the held part's
    page and feed entry up (dated T), with (`dated`) or without its first date in site.json."""
    now = dt.datetime.now(dt.UTC)
    clock.move_to(london(8, 9))  # what the older build published then, this one does at T
    assert built(cli, root) == [1]
    clock.move_to(now)
    record = root / ".seriespub" / "site.json"
    data = json.loads(record.read_text(encoding="utf-8"))
    if not dated:
        del data["released"]  # site.json before it kept dates
    record.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("cancelled", [False, True], ids=["held", "cancelled"])
@pytest.mark.parametrize("dated", [True, False])
def test_a_held_page_an_older_build_put_up_stays(
    make_series: MakeSeries,
    cli: Cli,
    resend: tuple[str, ResendState],
    dated: bool,
    cancelled: bool,
) -> None:
    """Feed readers may hold its link: it is not taken down (while held, nor when the held
    part is withdrawn), nor redated."""
    url, _ = resend
    root = held_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False) as clock:
        ok(cli(root, "send", "next", "--yes", "--at", AT))
        put_up_by_an_older_build(cli, root, clock, dated=dated)
        page = root / "site" / "01-part-1" / "index.html"
        before = page.read_bytes()
        if cancelled:
            ok(cli(root, "send", "cancel", "1", "--yes"))
        assert built(cli, root) == [1]
        assert page.read_bytes() == before


def test_a_part_some_readers_have_is_up_though_the_rest_is_held(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    """One reader's copy held for 8 Dec (`--limit 1`), the others sent at once: they hold
    its "View in browser" link now, so its page is up now."""
    url, _ = resend
    root = held_series(make_series, url)
    with time_machine.travel(london(1, 9), tick=False):
        ok(cli(root, "send", "next", "--yes", "--at", AT, "--limit", "1"))
        assert built(cli, root) == []
        ok(cli(root, "send", "next", "--yes"))
        assert built(cli, root) == [1]
        status = json.loads(ok(cli(root, "status", "--json")).stdout)
    page = (root / "site" / "01-part-1" / "index.html").read_text(encoding="utf-8")
    # Dated when the first readers got it (1 Dec), not when the held copy goes (8 Dec).
    assert "2026-12-01T09:00:00Z" in page and "2026-12-08" not in page
    part = next(p for p in status["instalments"] if p["number"] == 1)
    assert part["sent_at"].startswith("2026-12-01T09:00"), part
