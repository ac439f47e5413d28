"""Reading the files an author writes: one error for an unreadable file, one CSV dialect guess;
and quoting values into the files seriespub writes for the author (YAML, TOML) so that they
read back exactly as given.

A CSV that is not UTF-8 is refused with what it is (UTF-16, a workbook, or the line of its
first byte that is not UTF-8) and how to save it from the spreadsheet that wrote it. An
exported list in UTF-16 is imported, with its byte-order mark or, when a NUL in every other
byte of its first KB says which side its high bytes are on, without one."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from seriespub.errors import InputError


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The file's text, or an InputError naming it (missing, unreadable, not UTF-8)."""
    try:
        return path.read_text(encoding=encoding)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", path=path) from None


SAVE_AS_UTF8 = (
    "save it as UTF-8 text: in Excel, Save As 'CSV UTF-8 (Comma delimited)'; in Numbers, "
    "Export To › CSV with Text Encoding 'Unicode (UTF-8)'; Google Sheets' Download › CSV is UTF-8"
)
_SEP_LINE = re.compile(r"\ufeff?sep=(.)\r?\n?")  # Excel's first line naming the delimiter
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_HEAD = 1024  # what tells UTF-16 without a byte-order mark: NULs in every other byte
# Zip (xlsx, Numbers, ods) and OLE2 (xls): a workbook saved under a .csv name.
_WORKBOOKS = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")


def csv_delimiter(header_line: str) -> str:
    """`,` unless the header is clearly split by `;` or tabs (spreadsheet exports), or is
    Excel's `sep=X` line, which names it."""
    sep = _SEP_LINE.fullmatch(header_line)
    if sep:
        return sep.group(1)
    return max((",", ";", "\t"), key=header_line.count)


def is_sep_line(values: list[str]) -> bool:
    """The first row is Excel's `sep=X` line (split by X: `sep=` and an empty cell)."""
    return len(values) <= 2 and values[0].lstrip("\ufeff") == "sep=" and not "".join(values[1:])


def source_encoding(path: Path) -> str:
    """The encoding to read an exported list with: UTF-16 when it starts with a byte-order
    mark (Excel's "Unicode Text") or, without one, when its NULs say the byte order; else
    UTF-8 (a BOM skipped). A workbook, or NULs in no certain order, is refused."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    if head.startswith(_WORKBOOKS):
        raise InputError("a spreadsheet workbook, not CSV text", path=path, hint=SAVE_AS_UTF8)
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    order = _utf16_order(head)
    if order == "":
        raise _unordered(path)
    return order or "utf-8-sig"


def _utf16_order(head: bytes) -> str | None:
    """`utf-16-le` or `utf-16-be` when NULs fill one side of the byte pairs (the high bytes
    of ASCII in UTF-16 without a byte-order mark), "" when they fill both (UTF-32, or no
    order that can be told), None when the text has no such NULs (UTF-8 has none)."""
    pairs = len(head) // 2
    even, odd = head[0 : pairs * 2 : 2].count(0), head[1 : pairs * 2 : 2].count(0)
    if pairs == 0 or max(even, odd) * 4 < pairs:
        return None
    if even * 10 <= odd:
        return "utf-16-le"  # low byte first: "E\0m\0…"
    if odd * 10 <= even:
        return "utf-16-be"
    return ""


def _unordered(path: Path) -> InputError:
    return InputError(
        "UTF-16 or UTF-32 text without a byte-order mark (NUL bytes on both sides of its "
        "byte pairs: its byte order cannot be told)",
        path=path,
        hint=SAVE_AS_UTF8,
    )


def _nul_text(path: Path, shown: Path | None = None) -> InputError | None:
    """The error for a file read as UTF-8 that is UTF-16 without a byte-order mark (its NULs
    decode, so nothing else would say so); None when it is not."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD)
    except OSError:
        return None
    order = _utf16_order(head)
    if order is None or head.startswith(_UTF16_BOMS):
        return None
    if order == "":
        return _unordered(shown or path)
    side = "little" if order == "utf-16-le" else "big"
    return InputError(
        f"UTF-16 text ({side}-endian, without a byte-order mark)",
        path=shown or path,
        hint=SAVE_AS_UTF8,
    )


def not_utf8(path: Path, shown: Path | None = None) -> InputError:
    """The error for a CSV that does not decode as UTF-8: what it is, and where."""
    shown = shown or path
    nul = _nul_text(path, shown)
    if nul is not None:
        return nul
    try:
        with open(path, "rb") as handle:
            if handle.read(4).startswith(_UTF16_BOMS):
                return InputError("UTF-16 text", path=shown, hint=SAVE_AS_UTF8)
            handle.seek(0)
            for number, line in enumerate(handle, 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    byte = line[exc.start]
                    return InputError(
                        f"not UTF-8 text (byte 0x{byte:02X}: Windows-1252 or Mac Roman, as "
                        "Excel's 'CSV (Comma delimited)' saves?)",
                        path=shown,
                        line=number,
                        hint=SAVE_AS_UTF8,
                    )
    except OSError:
        pass
    return InputError("not UTF-8 text", path=shown, hint=SAVE_AS_UTF8)


def garbled(values: list[str]) -> str:
    """Why a row's cells look garbled (the first such cell), or '' when none does."""
    for value in values:
        if not value.isascii() and (before := undone_mojibake(value)) is not None:
            return (
                f"{value.strip()!r} looks garbled: UTF-8 read as Windows-1252 and saved "
                f"again (it was probably {before.strip()!r})"
            )
    return ""


def undone_mojibake(text: str) -> str | None:
    """What `text` read as before its UTF-8 bytes were taken for Windows-1252 or Latin-1
    ("JosÃ©" for "José"), or None when it does not look so. Real text almost never does:
    every non-ASCII character would have to pair into a valid UTF-8 sequence."""
    if text.isascii():
        return None
    for encoding in ("cp1252", "latin-1"):
        try:
            before = text.encode(encoding).decode("utf-8")
        except UnicodeError:
            continue
        if before != text:
            return before
    return None


def is_utf8(text: str) -> bool:
    """`text` can be written as UTF-8 (no lone surrogates: bytes a shell could not decode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def yaml_string(text: str) -> str:
    """`text` as one double-quoted YAML scalar on one line that loads back as exactly `text`."""
    import yaml

    dumped: str = yaml.safe_dump(text, default_style='"', allow_unicode=True, width=1 << 30)
    return dumped.rstrip("\n")


def toml_string(text: str) -> str:
    """`text` as a TOML basic string that loads back as exactly `text`."""
    return '"' + "".join(map(_toml_char, text)) + '"'


def _toml_char(char: str) -> str:
    if char in '"\\':
        return "\\" + char
    if (char < " " and char != "\t") or char == "\x7f":  # TOML allows no control character raw
        return f"\\u{ord(char):04X}"
    return char
