"""How many terminal columns a piece of text takes, as a monospaced terminal or the 72-column
text part shows it: East Asian wide and full-width characters take two, combining marks none,
every other character one. Shared by the text part's wrapping and the commands' plain columns.
"""

from __future__ import annotations


def display_width(text: str) -> int:
    """Terminal columns: East Asian wide characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    import unicodedata  # only for text that needs it: not on every command's start-up path

    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def pad_to(text: str, width: int) -> str:
    """`text` followed by spaces up to `width` terminal columns (str.ljust counts characters)."""
    return text + " " * (width - display_width(text))


def pad_left_to(text: str, width: int) -> str:
    """Spaces, then `text`, to `width` terminal columns (right-aligned, as numbers are)."""
    return " " * (width - display_width(text)) + text
