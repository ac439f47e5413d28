"""`check` streams the subscriber list: its findings about the list, never the list in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from seriespub import subscribers
from seriespub.ops.check import check
from seriespub.series import find_series


def test_check_reports_bad_rows_and_repeats_without_reading_the_whole_list(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(drafts=1, subscribers=30)
    with (root / "subscribers.csv").open("a", encoding="utf-8") as handle:
        handle.write(
            "Reader0004@Example.com,Again,active,2026-01-01\n"
            "not-an-address,Bad,active,2026-01-01\n"
            "reader0004@example.com,Thrice,active,2026-01-01\n"
            "reader0009@example.com,Twice,active,2026-01-01\n"
        )

    def whole(path: Path) -> subscribers.SubscriberFile:
        raise AssertionError("check read the whole list into memory")

    monkeypatch.setattr(subscribers, "read_file", whole)
    listed = str(root / "subscribers.csv")
    found = [
        (f.where, f.message)
        for f in check(find_series(explicit=root)).findings
        if f.where.startswith(listed)
    ]
    assert found[1:] == [
        (listed, "reader0004@example.com appears 3 times"),
        (listed, "reader0009@example.com appears 2 times"),
    ]
    assert found[0][0] == f"{listed}:33"
