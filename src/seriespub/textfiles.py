"""Reading the files an author writes: one error for an unreadable file, one CSV dialect guess."""

from __future__ import annotations

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


def csv_delimiter(header_line: str) -> str:
    """`,` unless the header is clearly split by `;` or tabs (spreadsheet exports)."""
    return max((",", ";", "\t"), key=header_line.count)
