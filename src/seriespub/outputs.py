"""Files seriespub writes where the user says: `schedule --ics`, `preview --html`, the site.

The guarantee, for every such write:
    - It never touches the series' own files (seriespub.toml, subscribers.csv, .env) nor
      anything in its `.seriespub/`, `drafts/` or `templates/` folder. Paths are compared
      after resolving symlinks and `..`, so no spelling of a path gets round this.
    - An existing file is replaced only when it looks like what we write (`Kind.looks_ours`:
      a calendar for `--ics`, an HTML file for `--html`) or is empty; anything else is
      refused with a hint to delete it or give a new name.
    - The file is written whole or not at all: a temp file in the same folder, fsynced, then
      renamed over the target (which keeps a replaced file's mode); a temp file that a
      killed process left is removed by `remove_cut_short`. A device such as
      /dev/null or /dev/stdout, which holds nothing to lose, is written straight through.
Every refusal or failure is one InputError naming the path as the user gave it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from seriespub.errors import InputError
from seriespub.series import Series
from seriespub.statefiles import fsync_folder, os_hint, os_words

OWN_FOLDERS = (".seriespub", "drafts", "templates")
OWN_FILES = ("seriespub.toml", "subscribers.csv", ".env")
SNIFF_BYTES = 512
_HINT = (
    "give another file name: not seriespub.toml, subscribers.csv or .env, and outside the "
    "series' .seriespub/, drafts/ and templates/ folders"
)


@dataclass(frozen=True)
class Kind:
    """What we write: an existing file is ours when it has one of `suffixes` (if any are
    given) and starts with one of `starts` (case-insensitive, after blanks)."""

    example: str  # a file name to suggest, e.g. calendar.ics
    starts: tuple[bytes, ...]
    suffixes: tuple[str, ...] = ()

    def looks_ours(self, path: Path) -> bool:
        """Whether replacing the existing regular file at `path` loses nothing of the user's."""
        try:
            with path.open("rb") as handle:
                head = handle.read(SNIFF_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        except OSError:
            return False
        if not head:
            return True  # an empty file holds nothing to lose
        if self.suffixes and path.suffix.lower() in self.suffixes:
            return True
        return head.startswith(self.starts)


CALENDAR = Kind("calendar.ics", (b"begin:vcalendar",))
HTML = Kind("part.html", (b"<!doctype html", b"<html"), (".html", ".htm"))


def own_paths(series: Series) -> tuple[list[Path], list[Path]]:
    """The series' own files and folders, by their real paths."""
    root = series.root.resolve()
    return [root / n for n in OWN_FILES], [root / n for n in OWN_FOLDERS]


def check_not_own(series: Series, path: Path, *, hint: str = _HINT) -> Path:
    """`path`'s real path; InputError if it is one of the series' own files or lies in
    (or is) one of its own folders or the series folder itself."""
    real = path.resolve()
    files, folders = own_paths(series)
    inside = any(real == f or f in real.parents for f in folders)
    if inside or real in files or real == series.root.resolve():
        raise InputError(
            "is one of the series' own files or folders: seriespub never writes an export there",
            path=path,
            hint=hint,
        )
    return real


def write_output(series: Series, path: Path, data: bytes, kind: Kind) -> None:
    """Write `data` to the user-given `path` under the guarantee of this module."""
    if path.is_dir():
        raise InputError(f"is a folder: give a file name, e.g. {kind.example}", path=path)
    real = check_not_own(series, path)
    if not real.parent.is_dir():
        raise InputError(f"no folder {path.parent}: create it first", path=path)
    try:
        info = real.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=path) from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        _write_through(real, data, path)
        return
    if info is not None and not kind.looks_ours(real):
        raise InputError(
            "already exists and is not a file seriespub wrote",
            path=path,
            hint=f"delete it first, or give a new file name, e.g. {kind.example}",
        )
    _replace(real, data, None if info is None else stat.S_IMODE(info.st_mode), path)


def _write_through(real: Path, data: bytes, shown: Path) -> None:
    try:
        with real.open("wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", path=shown) from None


def write_whole(path: Path, data: bytes, *, durable: bool = True, mode: int | None = None) -> None:
    """`data` as the file at `path`, whole or not at all: a temp file beside it, renamed
    over it (fsynced first when `durable`); on failure the temp file is gone and an
    InputError names `path`. For files seriespub owns (the site, its records); `mode`: the
    file's mode whatever the umask (`statefiles.FILE_MODE` for a record in `.seriespub/`)."""
    _replace(path, data, mode, path, durable=durable)


def _replace(
    real: Path, data: bytes, mode: int | None, shown: Path, *, durable: bool = True
) -> None:
    """Temp file beside `real` (created 0666 less the umask, or `mode`), fsynced, renamed."""
    tmp = real.with_name(f".{real.name}.{secrets.token_hex(_TEMP_TOKEN_BYTES)}.tmp")
    try:
        # created with `mode` (less the umask) so that a private file is never readable
        created = 0o666 if mode is None else mode
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, created)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, real)
        if durable:
            fsync_folder(real.parent)
    except BaseException as exc:  # Ctrl-C too: no temp file left beside the target
        with contextlib.suppress(OSError):
            tmp.unlink()
        if not isinstance(exc, OSError):
            raise
        # named by the target, not its temp file: only a write under .seriespub/ has a send
        # to resume
        hint = os_hint(exc, real)
        raise InputError(f"cannot write: {os_words(exc)}", path=shown, hint=hint) from None


_TEMP_TOKEN_BYTES = 4  # `.NAME.<8 hex>.tmp`


def remove_cut_short(path: Path) -> None:
    """Remove the temp files `write_whole(path)` left when its process was killed mid-write
    (SIGTERM and SIGKILL run no clean-up): in a site folder they would be published."""
    ours = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{{2 * _TEMP_TOKEN_BYTES}}}\.tmp")
    for temp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if ours.fullmatch(temp.name):
            with contextlib.suppress(OSError):
                temp.unlink()
