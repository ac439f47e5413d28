"""What `status` and `subscribers list --next` say the next send does, beside what it does,
for a part that is going out but not finished (`send next --limit`, a stopped run)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("late_joiners", ["from_start", "current"])
def test_a_part_going_out_is_what_the_next_send_finishes(
    make_series: Callable[..., Path], cli: Cli, late_joiners: str
) -> None:
    root = make_series(drafts=2, subscribers=5)
    toml = root / "seriespub.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(
        text.replace("[series]\n", f'[series]\nlate_joiners = "{late_joiners}"\n', 1),
        encoding="utf-8",
    )
    ok(cli(root, "send", "next", "--yes", "--limit", "2"))

    readers = json.loads(ok(cli(root, "status", "--json")).stdout)["readers"]
    listed = json.loads(ok(cli(root, "subscribers", "list", "--next", "--json")).stdout)
    promised = {r["email"]: r["next_part"] for r in listed}

    report = json.loads(ok(cli(root, "send", "next", "--yes", "--json")).stdout)
    assert report["instalment"] == 1 and report["sent"] == 3
    assert readers["next_slot"]["parts"] == {"1": 3}
    assert sorted(promised.values(), key=str) == [1, 1, 1, None, None]
