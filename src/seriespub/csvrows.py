"""One CSV row written back in the author's own style: a cell they quoted stays quoted.

Only rows an edit changes go through here (a few in a list of a million), so a plain
character scan is cheap enough; every other row is copied as its bytes.
"""

from __future__ import annotations

QUOTE = '"'


def quoted_cells(text: str, delimiter: str) -> list[bool]:
    """Whether each cell of one row's text (without its line break) starts with a quote."""
    flags: list[bool] = []
    at, end = 0, len(text)
    while True:
        quoted = at < end and text[at] == QUOTE
        flags.append(quoted)
        if quoted:
            at = _after_closing_quote(text, at + 1)
        at = text.find(delimiter, at)
        if at < 0:
            return flags
        at += 1


def _after_closing_quote(text: str, at: int) -> int:
    """The index after the quote that closes a quoted cell whose text starts at `at`."""
    while True:
        at = text.find(QUOTE, at)
        if at < 0:
            return len(text)
        if text.startswith(QUOTE * 2, at):  # a doubled quote is a quote in the value
            at += 2
            continue
        return at + 1


def encode_like(original: str, row: list[str], delimiter: str) -> str:
    """`row` as CSV text (no line break) quoted as `original` was: a cell the author quoted
    is quoted, another only when it must be (it holds the delimiter, a quote or a line
    break), as the csv module would."""
    quoted = quoted_cells(original, delimiter)
    special = (delimiter, QUOTE, "\r", "\n")
    cells = []
    for index, value in enumerate(row):
        must = any(c in value for c in special) or (len(row) == 1 and not value)
        if must or (index < len(quoted) and quoted[index]):
            value = QUOTE + value.replace(QUOTE, QUOTE * 2) + QUOTE
        cells.append(value)
    return delimiter.join(cells)
