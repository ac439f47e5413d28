"""`status`'s Waiting column (`open` in `--json`): readers a part going out still has to
reach (as `send next --limit` leaves them), not the count of unsettled deliveries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import ok

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]


def open_column(cli: Cli, root: Path) -> dict[int, str]:
    """Part → its Waiting cell in `status`'s table."""
    lines = ok(cli(root, "status")).stdout.splitlines()
    header = lines[1].split()
    assert header[-1] == "Waiting"  # not "Open": that reads as opened mail
    rows = [line.split() for line in lines[2:]]
    return {int(row[0]): row[-1] for row in rows if row and row[0].isdigit()}


def open_json(cli: Cli, root: Path) -> dict[int, int]:
    data = json.loads(ok(cli(root, "status", "--json")).stdout)
    return {st["number"]: st["open"] for st in data["instalments"]}


def test_a_limited_send_leaves_the_rest_open(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(drafts=2, subscribers=5)
    ok(cli(root, "send", "next", "--yes", "--limit", "2"))
    assert open_json(cli, root) == {1: 3, 2: 0}  # 3 readers still to be sent part 1
    assert open_column(cli, root)[1] == "3"
    ok(cli(root, "send", "next", "--yes"))
    assert open_json(cli, root) == {1: 0, 2: 0}


def test_a_reader_added_while_a_part_goes_out_is_open(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(drafts=2, subscribers=3)
    ok(cli(root, "send", "next", "--yes", "--limit", "1"))
    ok(cli(root, "subscribers", "add", "new@example.com"))
    assert open_json(cli, root)[1] == 3  # two of the first three, and the new reader


def test_waiting_is_what_the_next_send_of_the_part_sends_with_late_joiners(
    make_series: MakeSeries, cli: Cli
) -> None:
    """A round (late joiners catching up) cut short by --limit: the part's Waiting count
    is the number of readers the next `send next` then sends it to."""
    from test_cli_refused_send import add_late_joiner

    root = make_series(drafts=3, subscribers=4)
    ok(cli(root, "send", "next", "--yes"))
    add_late_joiner(root)
    ok(cli(root, "send", "next", "--yes", "--limit", "1"))  # part 1 to them, part 2 to 1
    waiting = open_json(cli, root)
    report = json.loads(ok(cli(root, "send", "next", "--yes", "--json")).stdout)
    assert report["instalment"] == 2
    assert waiting[2] == report["sent"] + sum(r["sent"] for r in report.get("late_joiners", []))
    assert waiting[2] > 0 and open_json(cli, root)[2] == 0
