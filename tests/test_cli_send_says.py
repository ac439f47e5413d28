"""What a send tells the author: counts that add up, refusals that offer only what would
help, and hints that give the command to type. Through the CLI, on real files and a real
ledger (the outbox, or the local fakes of Postmark and SendGrid)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import ok, postmark_delivery, sendgrid_delivery, write_subscribers
from fakes.postmark import PostmarkState
from fakes.resend import ResendState
from fakes.sendgrid import SendgridState
from test_cli_subscriber_list import BAD_ROWS

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]


def reader(n: int) -> str:
    return f"reader{n:04d}@example.com"


def counts_past_their_total(text: str) -> list[str]:
    """Every 'sent N/M' (or 'scheduled N/M') where N > M."""
    found = re.findall(r"(?:sent|scheduled) ([\d,]+)/([\d,]+)", text)
    return [f"{n}/{m}" for n, m in found if int(n.replace(",", "")) > int(m.replace(",", ""))]


def error_lines(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))]


# -- 1. a resume that resends a pending batch never counts past its total ----------------------
def two_sent_two_pending(make_series: MakeSeries, cli: Cli) -> Path:
    """Six readers: 1 and 2 sent part 1 (`--limit 2`); 3 and 4 in a batch a killed run left
    pending, its files never written."""
    from seriespub.ledger import Ledger

    root = make_series(drafts=1, subscribers=6)
    ok(cli(root, "send", "next", "--yes", "--limit", "2"))
    with Ledger.open(root / ".seriespub/ledger.db") as ledger:
        ledger.begin_batch(1, "001-killed", "outbox", [reader(3), reader(4)])
    return root


def test_a_resume_that_resends_a_pending_batch_counts_it_in_its_total(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Readers 3 and 4 were in a batch a killed run left pending, whose files were never
    written: the resume settles them as not sent and sends them with the rest. The plan
    says so, and the progress counts to 4 of 4, never 4 of 2."""

    root = two_sent_two_pending(make_series, cli)
    result = ok(cli(root, "send", "next", "--yes"))
    assert "2 of them pending from a stopped run" in result.stderr
    assert "checked first, sent if they never went out" in result.stderr
    assert counts_past_their_total(result.stderr) == [], result.stderr
    assert "sent 4/4" in result.stderr
    assert result.stdout.startswith("Part 1: sent 4,")
    assert "2 of them a stopped run had left pending and not sent" in result.stdout
    assert len(list((root / ".seriespub/outbox/001").glob("*.eml"))) == 6


def test_the_question_of_a_resume_says_the_pending_readers_may_go_too(
    make_series: MakeSeries, cli: Cli
) -> None:
    from test_cli_refused_send import answer_on_a_terminal

    root = two_sent_two_pending(make_series, cli)
    code, output = answer_on_a_terminal(root, "n", "send", "next")
    assert code == 1, output
    assert (
        "Send part 1 to 2 subscriber(s) (and to those of the 2 pending that never went out) "
        "via outbox?" in " ".join(output.split())
    ), output


def test_a_resume_within_a_limit_counts_no_further_than_the_limit(
    make_series: MakeSeries, cli: Cli
) -> None:

    root = two_sent_two_pending(make_series, cli)
    result = ok(cli(root, "send", "next", "--yes", "--limit", "3"))
    assert counts_past_their_total(result.stderr) == [], result.stderr
    assert "sent 3/3" in result.stderr
    assert len(list((root / ".seriespub/outbox/001").glob("*.eml"))) == 5


# -- 2. the unreadable-rows refusal offers --skip-invalid only when it would send -------------
def test_the_unreadable_rows_refusal_does_not_offer_skip_invalid_with_nobody_left(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=1)
    write_subscribers(root / "subscribers.csv", 3, extra=BAD_ROWS)
    ok(cli(root, "send", "next", "--yes", "--skip-invalid"))  # the 3 readable readers
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 2, result.stderr
    assert "3 row(s) of subscribers.csv cannot be read" in lines[0]
    assert "--skip-invalid" not in result.stderr
    assert "every reader that can be read has had part 1" in lines[1]


def test_the_unreadable_rows_refusal_says_when_no_row_can_be_read(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=1)
    write_subscribers(root / "subscribers.csv", 0, extra=BAD_ROWS)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1, result.output
    assert "--skip-invalid" not in result.stderr
    assert "no reader of subscribers.csv can be read" in error_lines(result)[1]


def test_the_unreadable_rows_refusal_still_offers_skip_invalid_when_it_would_send(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=1)
    write_subscribers(root / "subscribers.csv", 3, extra=BAD_ROWS)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code == 1, result.output
    assert "send to the 3 other reader(s) with --skip-invalid" in error_lines(result)[1]


# -- 3. a slot that has passed: the hint gives the command -----------------------------------
def test_send_at_a_slot_that_has_passed_gives_the_command_to_send_now(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    url, state = sendgrid
    schedule = '[schedule]\nfirst_release = 2020-01-07T09:00:00\ntimezone = "Europe/London"\n'
    root = make_series(drafts=1, delivery=sendgrid_delivery(url), extra_toml=schedule)
    result = cli(root, "send", "next", "--yes", "--at", "slot")
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert "slot" in lines[0] and "has passed" in lines[0]
    assert lines[1] == "hint: send it now with: seriespub send next", lines
    assert state.accepted == []


def test_send_at_a_time_in_the_past_gives_the_command_to_send_now(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    url, _ = sendgrid
    root = make_series(drafts=1, delivery=sendgrid_delivery(url))
    result = cli(root, "send", "next", "--yes", "--at", "2026-01-01 09:00")
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert "is in the past" in lines[0]
    assert lines[1].startswith("hint: send it now with: seriespub send next"), lines


@pytest.mark.parametrize(
    ("at", "hint"),
    [
        ("slot", "hint: add [schedule] with first_release and timezone to seriespub.toml, or "),
        ("2027-06-01 09:00", "hint: give a nearer time, or send it when it is due: "),
    ],
    ids=["no-slot", "too-far"],
)
def test_every_refused_at_time_gives_a_command_to_type(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState], at: str, hint: str
) -> None:
    url, _ = sendgrid
    root = make_series(drafts=1, delivery=sendgrid_delivery(url))
    result = cli(root, "send", "next", "--yes", "--at", at)
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 2 and lines[1].startswith(hint), lines
    assert "seriespub send" in lines[1]


# -- 4. send cancel with nothing held: nothing to do, exit 0 ---------------------------------
def test_send_cancel_with_nothing_held_is_nothing_to_do(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series(drafts=2)
    ok(cli(root, "send", "next", "--yes"))
    for number in ("1", "2"):  # part 1 went out, part 2 was never sent: nothing held either
        result = ok(cli(root, "send", "cancel", number))  # not asked: nothing to withdraw
        assert f"Nothing to cancel: part {number} has no deliveries held" in result.stderr
        assert result.stdout == ""


def test_send_cancel_twice_withdraws_once_and_then_has_nothing_to_do(
    make_series: MakeSeries, cli: Cli, resend: tuple[str, ResendState]
) -> None:
    from test_cli_refused_send import in_hours

    url, state = resend
    delivery = f'[delivery]\nprovider = "resend"\n[delivery.resend]\napi_url = "{url}"\n'
    root = make_series(drafts=1, delivery=delivery)
    ok(cli(root, "send", "next", "--yes", "--at", in_hours(2)))
    first = ok(cli(root, "send", "cancel", "1", "--yes"))
    assert "part 1: 3 scheduled deliveries cancelled" in first.stdout
    cancels = [r for r in state.requests if r["path"].endswith("/cancel")]
    again = ok(cli(root, "send", "cancel", "1", "--yes"))
    assert "Nothing to cancel: part 1 has no deliveries held" in again.stderr
    assert [r for r in state.requests if r["path"].endswith("/cancel")] == cancels


def test_send_cancel_of_a_part_that_does_not_exist_is_an_error(
    make_series: MakeSeries, cli: Cli
) -> None:
    root = make_series(drafts=1)
    result = cli(root, "send", "cancel", "7", "--yes")
    assert result.exit_code == 1, result.output
    assert error_lines(result)[0].startswith("error: part 7 does not exist")


# -- 5. the plan says which readers the provider's suppressions left out ---------------------
def test_the_plan_says_how_many_readers_the_providers_suppressions_left_out(
    make_series: MakeSeries, cli: Cli, postmark: tuple[str, PostmarkState]
) -> None:
    url, state = postmark
    root = make_series(drafts=1, subscribers=3, delivery=postmark_delivery(url))
    state.suppressions.append(
        {"EmailAddress": reader(2), "SuppressionReason": "HardBounce", "CreatedAt": "2026-11-01"}
    )
    plan = json.loads(ok(cli(root, "send", "next", "--dry-run", "--json")).stdout)
    assert (plan["active"], plan["to_send"], plan["suppressed"]) == (2, 2, 1)
    result = ok(cli(root, "send", "next", "--yes"))
    assert (
        "recipients: 2 of 2 active readers (0 already had it; 1 left out: suppressed by postmark)"
        in result.stderr
    )
    assert sorted(m["_to"] for m in state.accepted) == [reader(1), reader(3)]


# -- a round's progress: each part's run counts from zero to its own total --------------------
def test_each_run_of_a_round_counts_only_its_own_readers(make_series: MakeSeries, cli: Cli) -> None:
    """A late joiner's part 1 goes out in its own run before the front's part 2: the front's
    run says "sent 2/2", not "sent 3/2" carried over from the run before it."""
    import datetime as dt

    import time_machine

    root = make_series(drafts=2, subscribers=2)
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), tick=False) as clock:
        ok(cli(root, "send", "next", "--yes"))
        clock.move_to(dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC))
        ok(cli(root, "subscribers", "add", "late@example.com"))
        clock.move_to(dt.datetime(2026, 12, 8, 9, tzinfo=dt.UTC))
        result = ok(cli(root, "send", "next", "--yes"))
    assert "Part 1: sent 1," in result.stdout and "Part 2: sent 2," in result.stdout
    assert counts_past_their_total(result.stderr) == [], result.stderr
    assert "sent 1/1, failed 0" in result.stderr and "sent 2/2, failed 0" in result.stderr


def test_a_rounds_runs_say_whose_readers_they_count(make_series: MakeSeries, cli: Cli) -> None:
    # Three readers: two on the front, one who joined after part 1. At part 2's slot the
    # round has two runs; "1 of 1 active readers" read as if the list held one reader.
    import datetime as dt
    from zoneinfo import ZoneInfo

    import time_machine

    london = ZoneInfo("Europe/London")
    schedule = '[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
    root = make_series(drafts=2, subscribers=2, extra_toml=schedule)
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 1, tzinfo=london), tick=False) as clock:
        first = ok(cli(root, "send", "due")).stderr
        clock.move_to(dt.datetime(2026, 12, 3, 12, tzinfo=london))
        ok(cli(root, "subscribers", "add", "late@example.com"))
        clock.move_to(dt.datetime(2026, 12, 8, 9, 1, tzinfo=london))
        round_ = ok(cli(root, "send", "due")).stderr
    assert "recipients: 2 of 2 active readers (0 already had it)" in first
    assert "recipients: 1 of 1 reader catching up (0 already had it)" in round_, round_
    assert "recipients: 2 of 2 active readers on the front (0 already had it)" in round_


# -- text the author wrote is shown as written ---------------------------------------------------
def test_a_title_with_colon_words_is_shown_as_written_not_as_emoji(
    make_series: MakeSeries, cli: Cli
) -> None:
    """Rich turns `:rocket:` into 🚀 in whatever it prints, markup or not: a title (or a
    reader's name, a provider's reason) that holds such a word must reach the author as
    typed, as `status` already shows it."""
    root = make_series(drafts=1, subscribers=2)
    draft = next((root / "drafts").glob("*.md"))
    draft.write_text(
        draft.read_text(encoding="utf-8").replace("Part 1 title", '"Ship it :rocket: :+1:"'),
        encoding="utf-8",
    )
    dry = ok(cli(root, "send", "next", "--dry-run"))
    sent = ok(cli(root, "send", "next", "--yes"))
    for said in (dry.output, sent.output):
        assert "Ship it :rocket: :+1:" in said, said
        assert "🚀" not in said and "👍" not in said, said
