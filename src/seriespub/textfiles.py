"""Reading the files an author writes: one error for an unreadable file, one CSV dialect guess;
and quoting values into the files seriespub writes for the author (YAML, TOML) so that they
read back exactly as given."""

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
