"""`init` and `new` run twice at once, as real processes: every draft gets a number of its
own, and two inits in one folder leave one whole series and one plain refusal."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from conftest import seriespub_process

Cli = Callable[..., object]


def finish_all(root: Path, *commands: list[str]) -> list[tuple[int, str]]:
    """Start every command in `root` at once; (exit code, stderr) of each."""
    procs = [seriespub_process(root, *words, output=True) for words in commands]
    errs = [p.communicate(timeout=60)[1].decode() for p in procs]
    return [(p.returncode, err) for p, err in zip(procs, errs, strict=True)]


def test_six_news_at_once_number_six_drafts_apart(make_series: Callable[..., Path]) -> None:
    root = make_series(drafts=2)
    results = finish_all(root, *(["new", f"Chapter {i}"] for i in range(6)))
    assert [code for code, _ in results] == [0] * 6, results
    names = sorted(p.name for p in (root / "drafts").glob("*.md"))
    numbers = Counter(int(re.match(r"\d+", name)[0]) for name in names)  # type: ignore[index]
    assert sorted(numbers) == list(range(1, 9)), names
    assert set(numbers.values()) == {1}, names
