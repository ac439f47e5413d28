"""Inside inline code and code blocks a draft's braces are text: `{{ name }}` there reaches
the reader as written (a post about templates can show one), and is not a merge field that
`check` must know; outside code the same tag is filled in."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from pathlib import Path
from typing import Any

Cli = Callable[..., Any]
BODY = """Hello {{ name }},

Write `{{ name }}` or `{{ nickname | default("you") }}` to greet a reader.

```
Dear {{ name }},
```

    indented {{ literal }}

Bye {{ name | default("friend") }}.
"""


def draft_with_code(root: Path) -> None:
    path = next((root / "drafts").glob("01-*.md"))
    front = path.read_text(encoding="utf-8").split("---\n")[1]
    path.write_text(f"---\n{front}---\n{BODY}", encoding="utf-8")


def test_merge_tags_in_code_reach_the_reader_as_written(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=1)
    draft_with_code(root)
    checked = cli(root, "check")
    assert "nickname" not in checked.stdout and "literal" not in checked.stdout, checked.stdout
    assert cli(root, "send", "next", "--yes").exit_code == 0
    eml = next((root / ".seriespub" / "outbox").glob("*/*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Hello Reader 1," in text and "Bye Reader 1." in text
    for part in (text, html.replace("&quot;", '"').replace("&#34;", '"')):
        assert "{{ name }}" in part
        assert '{{ nickname | default("you") }}' in part
        assert "Dear {{ name }}," in part
        assert "indented {{ literal }}" in part


def test_the_preview_and_the_site_keep_code_as_written(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=1)
    draft_with_code(root)
    shown = cli(root, "preview", "1", "--text")
    assert shown.exit_code == 0, shown.output
    assert "Dear {{ name }}," in shown.stdout and "Hello Reader 1," in shown.stdout
    terminal = cli(root, "preview", "1")
    assert "Dear {{ name }}," in terminal.stdout
