"""What a send's exit code and `status` say when deliveries are refused, and what `send
settle` says about an instalment that does not exist."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import delivery_log, postmark_delivery
from fakes.postmark import PostmarkState

Cli = Callable[..., Any]
READERS = [f"reader{i:04d}@example.com" for i in range(1, 4)]


def postmark_series(make_series: Callable[..., Path], url: str, drafts: int = 2) -> Path:
    return make_series(
        drafts=drafts,
        subscribers=len(READERS),
        delivery=postmark_delivery(url),
    )


def states(cli: Cli, root: Path) -> tuple[dict[int, str], int | None]:
    result = cli(root, "status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return {i["number"]: i["state"] for i in data["instalments"]}, data["next"]


def test_a_part_every_reader_refused_is_not_sent_and_exits_1(
    make_series: Callable[..., Path], cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    for address in READERS:
        state.fail(address, 300, "Line too long")
    root = postmark_series(make_series, url)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1, result.output
    assert (
        "part 1: all 3 deliveries were refused permanently: ErrorCode 300: Line too long"
        in result.stderr
    )
    assert "seriespub log 1 --failed" in result.stderr
    assert {d["status"] for d in delivery_log(cli, root).values()} == {"failed"}
    assert states(cli, root) == ({1: "failed", 2: "ready"}, 2)
    table = cli(root, "status").stdout
    assert "failed" in table and " sent " not in table


def test_some_refusals_are_listed_with_a_warning_and_exit_0(
    make_series: Callable[..., Path], cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    state.fail(READERS[1], 406)
    root = postmark_series(make_series, url)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 0, result.output
    assert f"failed {READERS[1]}:" in result.stdout
    assert (
        "warning: 1 of 3 deliveries of part 1 were refused permanently "
        "(see them with: seriespub log 1 --failed)"
    ) in result.stderr
    assert states(cli, root) == ({1: "sent", 2: "ready"}, 2)


def test_settle_of_an_instalment_that_does_not_exist_fails(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=1)
    result = cli(root, "send", "settle", "99", "--assume-delivered")
    assert result.exit_code == 1
    assert "part 99" in result.stderr and "no draft" in result.stderr
    assert "seriespub status" in result.stderr


def test_settle_of_a_real_instalment_with_nothing_unknown_succeeds(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=1)
    assert cli(root, "send", "next", "--yes").exit_code == 0
    result = cli(root, "send", "settle", "1", "--assume-delivered")
    assert result.exit_code == 0, result.output
    assert "part 1: 0 unknown deliveries recorded as delivered" in result.stdout


def test_status_prints_titles_as_written_in_aligned_columns(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """Square brackets in a title are text, not terminal markup; one line per part, each
    column starting where its header does."""
    root = make_series(drafts=2)
    first = root / "drafts" / "01-part-1.md"
    first.write_text(
        first.read_text().replace("title: Part 1 title", "title: '[bold]Teams[/bold] at work'")
    )
    assert cli(root, "send", "next", "--yes").exit_code == 0
    result = cli(root, "status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Test Series"
    header, one, two = lines[1:4]
    assert header.split() == ["#", "Title", "State", "When", "Delivered", "Failed", "Waiting"]
    assert one.index("[bold]Teams[/bold] at work") == header.index("Title")
    assert one[header.index("State") :].startswith("sent ")
    assert one.endswith(" 3       0        0") and two.split()[-3:] == ["0", "0", "0"]
    assert lines[4] == "Next: part 2, Part 2 title"
