"""`check` finds each link's, image's and merge tag's line without counting the newlines from
the top every time (that made a 30,000-paragraph draft take 83 s; `line_finder` bisects).
How long it takes is a benchmark's business; here: the lines it names are right."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import DRAFT
from seriespub.render.checks import line_finder

PARAGRAPHS = 3_000


def test_line_finder_names_the_line_counting_would() -> None:
    chooser = random.Random(7)
    body = "".join(chooser.choice(["a", "b\n", "\n", "cd"]) for _ in range(5_000))
    line_of = line_finder(body, 12)
    for offset in range(len(body) + 1):
        assert line_of(offset) == 12 + body.count("\n", 0, offset), offset


def test_check_of_a_long_draft_names_the_line_of_a_late_problem(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = make_series(drafts=1)
    head = DRAFT.format(title="Long", status="ready", number=1)
    link = "Paragraph {0} with a [link](https://example.com/{0}).\n\n"
    body = "".join(link.format(n) for n in range(PARAGRAPHS))
    draft = root / "drafts" / "01-part-1.md"
    draft.write_text(head + body + "![](missing.png)\n", encoding="utf-8")
    result = cli(root, "check")
    assert result.exit_code == 1, result.output  # the missing image, on its own line
    image_line = head.count("\n") + 2 * PARAGRAPHS + 1
    assert f"01-part-1.md:{image_line}: image 'missing.png'" in result.output
