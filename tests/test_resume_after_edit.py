"""A send killed mid-request, then the series settings edited before the resume.

The resume settles the batches the killed run left `pending` by asking the provider (or the
outbox) about each reader's delivery id. Those ids must be the ones the killed run sent
with, whatever the author changed in between (a typo in the series title fixed, the key
replaced on purpose): otherwise the provider finds nothing and the batch goes out twice.
"""

from __future__ import annotations

import contextlib
import email.utils
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.postmark import PostmarkState
from killed import killed_send


@contextlib.contextmanager
def _killed_mid_send(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, PostmarkState]]:
    """One part to 40 readers, its `send next` killed with its first batch pending."""
    monkeypatch.setenv("SERIESPUB_SECRET", "s" * 40)
    with killed_send(make_series, monkeypatch, drafts=1) as (root, state, _):
        yield root, state


def _same(toml: str) -> str:
    return toml


@pytest.mark.parametrize(
    ("edit", "secret", "args"),
    [
        pytest.param(
            lambda toml: toml.replace('title = "Test Series"', 'title = "Test Series, fixed"'),
            "s" * 40,
            (),
            id="title",
        ),
        pytest.param(
            lambda toml: toml.replace("author@example.com", "news@example.com"),
            "s" * 40,
            (),
            id="from",
        ),
        pytest.param(_same, "t" * 40, ("--new-unsubscribe-key",), id="key"),
    ],
)
def test_a_resume_after_the_settings_changed_sends_nobody_twice(
    make_series: Callable[..., Path],
    cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    edit: Callable[[str], str],
    secret: str,
    args: tuple[str, ...],
) -> None:
    with _killed_mid_send(make_series, monkeypatch) as (root, state):
        config = root / "seriespub.toml"
        config.write_text(edit(config.read_text(encoding="utf-8")), encoding="utf-8")
        monkeypatch.setenv("SERIESPUB_SECRET", secret)
        result = cli(root, "send", "next", "--yes", *args)
        assert result.exit_code == 0, result.output
        per_reader = Counter(m["_to"] for m in state.accepted)
    assert len(per_reader) == 40
    assert set(per_reader.values()) == {1}, "a reader of the pending batch got it twice"


def test_the_first_send_keeps_its_series_id_and_a_dry_run_keeps_none(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    from seriespub.ledger import Ledger

    root = make_series(drafts=2, subscribers=3)
    assert cli(root, "send", "next", "--dry-run").exit_code == 0
    with Ledger.open(root / ".seriespub" / "ledger.db", readonly=True) as ledger:
        assert ledger.series_id() is None
    assert cli(root, "send", "next", "--yes").exit_code == 0
    with Ledger.open(root / ".seriespub" / "ledger.db", readonly=True) as ledger:
        kept = ledger.series_id()
    assert kept and len(kept) == 32
    # Another title before part 2: the kept id stays the series' id.
    config = root / "seriespub.toml"
    config.write_text(config.read_text().replace("Test Series", "Renamed"), encoding="utf-8")
    assert cli(root, "send", "next", "--yes").exit_code == 0
    with Ledger.open(root / ".seriespub" / "ledger.db", readonly=True) as ledger:
        assert ledger.series_id() == kept


def test_a_batch_pending_with_another_provider_is_not_settled_by_this_one(
    make_series: Callable[..., Path], cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Switched from Postmark to the outbox between a kill and the resume: the outbox
    cannot know what Postmark sent, so the pending batch becomes unknown (the author
    decides), and none of its readers gets a second copy from the outbox."""
    with _killed_mid_send(make_series, monkeypatch) as (root, state):
        took = {m["_to"] for m in state.accepted}
    config = root / "seriespub.toml"
    toml = config.read_text(encoding="utf-8")
    config.write_text(toml[: toml.index("[delivery]")] + '[delivery]\nprovider = "outbox"\n')
    result = cli(root, "send", "next", "--yes")
    sent_again = {
        email.utils.parseaddr(line.split(" ", 1)[1])[1]
        for eml in (root / ".seriespub" / "outbox").rglob("*.eml")
        for line in eml.read_text(encoding="utf-8").splitlines()
        if line.startswith("To: ")
    }
    assert took and not took & sent_again, "the outbox resent what Postmark had taken"
    assert (
        "(10 already had it, 10 of them pending from a stopped run: checked first" in result.output
    )
    assert "10 deliveries whose outcome is unknown" in result.output
    logged = cli(root, "log", "1", "--unknown")
    assert all(address in logged.output for address in took)
