"""`check` of a long draft takes time in proportion to its length: finding the line of each
link, image and merge tag must not count the newlines from the top every time."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import DRAFT

PARAGRAPHS = 30_000  # ~2.5 MB of text; counting from the top each time took ~50 s


def test_check_of_a_very_long_draft_is_linear(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = make_series(drafts=1)
    head = DRAFT.format(title="Long", status="ready", number=1)
    link = "Paragraph {0} with a [link](https://example.com/{0}).\n\n"
    body = "".join(link.format(n) for n in range(PARAGRAPHS))
    draft = root / "drafts" / "01-part-1.md"
    draft.write_text(head + body + "![](missing.png)\n", encoding="utf-8")
    started = time.monotonic()
    result = cli(root, "check")
    took = time.monotonic() - started
    assert result.exit_code == 1, result.output  # the missing image, on its own line
    image_line = head.count("\n") + 2 * PARAGRAPHS + 1
    assert f"01-part-1.md:{image_line}: image 'missing.png'" in result.output
    assert took < 15, f"check took {took:.1f} s"
