"""The Markdown parser's options, and how deep a draft's text nests.

`too_deep_at` runs when a draft is read, before anything renders it: past some thousands of
levels the MJML engine's stack overflows (a crash, not an error). This module imports only
the parser, so commands that read drafts without rendering them (`status`) do not import
the renderer or the message machinery.
"""

from __future__ import annotations

from typing import Any

# Deeper than any real text; past some thousands the MJML engine's stack overflows (a crash).
MAX_NESTING = 100


def parser_options() -> Any:
    """CommonMark plus tables, footnotes, strikethrough and smart punctuation."""
    import pyromark

    o = pyromark.Options
    return (
        o.ENABLE_TABLES | o.ENABLE_FOOTNOTES | o.ENABLE_STRIKETHROUGH | o.ENABLE_SMART_PUNCTUATION
    )


def too_deep_at(text: str) -> int | None:
    """The source offset where Markdown `text` nests blocks or spans past MAX_NESTING, or None."""
    import pyromark

    depth = 0
    events: Any = pyromark.events_with_range(text, options=parser_options())
    for event, where in events:
        if isinstance(event, dict) and "Start" in event:
            depth += 1
            if depth > MAX_NESTING:
                return int(where["start"])
        elif isinstance(event, dict) and "End" in event:
            depth -= 1
    return None
