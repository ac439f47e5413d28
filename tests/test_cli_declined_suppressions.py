"""The provider's suppressions pulled before a send are written to subscribers.csv only
once the author says yes: declining the question (or a dry run) leaves the list and the
ledger as they were, and the question's count already leaves the suppressed readers out.

Through the CLI against the Postmark fake; the question answered on a pseudo-terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import ok, postmark_delivery
from fakes.postmark import PostmarkState
from test_cli_refused_send import add_late_joiner, answer_on_a_terminal, ledger_rows

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
BOUNCED = "reader0002@example.com"


def suppressed_at_postmark(state: PostmarkState, address: str = BOUNCED) -> None:
    state.suppressions.append(
        {"EmailAddress": address, "SuppressionReason": "HardBounce", "CreatedAt": "2026-11-01"}
    )


def status_of(root: Path, address: str) -> str:
    for line in (root / "subscribers.csv").read_text(encoding="utf-8").splitlines():
        if line.startswith(address + ","):
            return line.split(",")[2]
    raise AssertionError(f"{address} is not in the list")


def test_declining_a_send_leaves_the_list_and_the_ledger_as_they_were(
    make_series: MakeSeries, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = make_series(drafts=1, subscribers=3, delivery=postmark_delivery(url))
    suppressed_at_postmark(state)
    listed = (root / "subscribers.csv").read_bytes()
    code, output = answer_on_a_terminal(root, "n", "send", "next")
    assert code == 1, output
    assert "Send part 1 to 2 subscriber(s) via postmark?" in output  # the bounce left out
    assert (root / "subscribers.csv").read_bytes() == listed
    assert ledger_rows(root) == []
    assert state.accepted == []


def test_declining_a_round_leaves_the_list_as_it_was(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = make_series(drafts=2, subscribers=3, delivery=postmark_delivery(url))
    ok(cli(root, "send", "next", "--yes"))
    add_late_joiner(root)
    suppressed_at_postmark(state)
    listed, recorded = (root / "subscribers.csv").read_bytes(), ledger_rows(root)
    code, output = answer_on_a_terminal(root, "n", "send", "next")
    assert code == 1, output
    assert "Send part 1 to 1 and part 2 to 2 subscriber(s) via postmark?" in output
    assert (root / "subscribers.csv").read_bytes() == listed
    assert ledger_rows(root) == recorded


def test_saying_yes_marks_the_suppressed_reader_and_sends_to_the_others(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = make_series(drafts=1, subscribers=3, delivery=postmark_delivery(url))
    suppressed_at_postmark(state)
    code, output = answer_on_a_terminal(root, "y", "send", "next")
    assert code == 0, output
    assert "Send part 1 to 2 subscriber(s) via postmark?" in output
    assert "1 subscriber(s) marked from postmark's suppressions" in output
    assert status_of(root, BOUNCED) == "bounced"
    assert sorted(m["_to"] for m in state.accepted) == [
        "reader0001@example.com",
        "reader0003@example.com",
    ]


def test_a_dry_run_writes_nothing(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = make_series(drafts=1, subscribers=3, delivery=postmark_delivery(url))
    suppressed_at_postmark(state)
    listed = (root / "subscribers.csv").read_bytes()
    plan = json.loads(ok(cli(root, "send", "next", "--dry-run", "--json")).stdout)
    assert plan["to_send"] == 2  # the plan a real send would ask about
    assert (root / "subscribers.csv").read_bytes() == listed
    assert not (root / ".seriespub" / "ledger.db").exists() or ledger_rows(root) == []
    assert state.accepted == []
