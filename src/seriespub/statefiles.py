"""Files in a series' state folder (`.seriespub/`): private to their owner, errors in words.

The state folder holds the delivery record, the run log, the lock, the outbox and the
unsubscribe key, so it is created 0700 and every file in it 0600; an existing folder or file
with looser modes is tightened the next time seriespub writes to it (never when it only
reads, so reporting commands work on a read-only copy). A folder that cannot be used — a
file where the folder should be, a dangling symlink, a read-only file system, a full disk —
is reported as one `StateError` line that names the path, instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from pathlib import Path

from seriespub.errors import SeriespubError

DIR_MODE = 0o700
FILE_MODE = 0o600


class StateError(SeriespubError):
    """The state folder, or a file in it, cannot be written or read."""


def private_dir(path: Path, *, within: Path | None = None) -> Path:
    """Create `path` as 0700, or tighten it; StateError if it is not a folder.

    Missing parents are made too: those from `within` down are private like `path`, any
    above it get the usual mode (the series folder is the author's business).
    """
    if within is not None and path != within and within in path.parents:
        private_dir(path.parent, within=within)
    try:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except FileExistsError:
        raise not_a_folder(path) from None
    except OSError as exc:
        raise os_error(exc, path, "cannot create the folder") from None
    tighten(path, DIR_MODE)
    return path


def open_private(path: Path, flags: int) -> int:
    """os.open for a state file: created 0600, an existing one tightened to 0600."""
    try:
        fd = os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        raise os_error(exc, path, "cannot open") from None
    try:
        info = os.fstat(fd)
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o077)
    except OSError:
        pass  # tightening is best effort; the file itself is usable
    return fd


def tighten_folder(folder: Path) -> None:
    """The folder and the files directly in it: owner only (what a write tightens)."""
    tighten(folder, DIR_MODE)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not entry.is_symlink():
            tighten(Path(entry.path), DIR_MODE if entry.is_dir() else FILE_MODE)


def tighten(path: Path, mode: int = FILE_MODE) -> None:
    """Drop group and other permissions from an existing path we own (best effort)."""
    try:
        info = path.stat()
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            path.chmod(stat.S_IMODE(info.st_mode) & mode)
    except OSError:
        pass  # missing, or a read-only file system: nothing to tighten there


def not_a_folder(path: Path) -> StateError:
    if path.is_symlink() and not path.exists():
        return StateError(
            f"{path} is a symlink to {os.readlink(path)}, which does not exist",
            hint="create that folder, or remove the symlink",
        )
    return StateError(
        f"{path} is not a folder: seriespub keeps the series' state there",
        hint=f"move {path} aside, then run the command again",
    )


_WORDS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a part of the path is not a folder",
}


STATE_DIR = ".seriespub"
TEMP_PREFIXES = (".subscribers-", ".snapshot-", ".secret-")  # temp files we make beside a file


def os_error(exc: OSError, path: Path | str | None, doing: str) -> StateError:
    """`exc` as one line: '<path>: cannot write: the disk is full', with what to do. A temp
    file of ours being made beside a file is named by its folder (the author never saw it)."""
    where = path if path is not None else exc.filename
    if where and _is_temp(Path(where).name):
        where = Path(where).parent
    words = os_words(exc)
    return StateError(
        f"{where}: {doing}: {words}" if where else f"{doing}: {words}",
        hint=os_hint(exc, where),
    )


def os_words(exc: OSError) -> str:
    """What went wrong, as every command words it ("the disk is full"), else the OS's words."""
    return _WORDS.get(exc.errno or 0) or exc.strerror or str(exc)


def _is_temp(name: str) -> bool:
    return name.startswith(TEMP_PREFIXES) or (name.startswith(".") and name.endswith(".tmp"))


def os_hint(exc: OSError, where: Path | str | None = None) -> str | None:
    """What to do about `exc` on `where` (default: the file it names)."""
    where = where if where is not None else exc.filename
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        if where and STATE_DIR not in Path(where).parts:  # not a send's record: no resume
            return "free some space, then run the command again"
        return (
            "free some space, then run the command again (a send resumes exactly where "
            "it stopped)"  # the same command: after `site` or `import` it is not `send next`
        )
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        if where and STATE_DIR not in Path(where).parts:
            return f"make {where} writable for seriespub (and its folder, which gets a temp file)"
        return (
            "seriespub needs to write to the series' .seriespub/ folder to send; "
            "status, log, schedule, check, preview and send next --dry-run only read"
        )
    return None


def remove_leftovers(folder: Path, prefix: str, suffix: str = "") -> None:
    """Remove the files in `folder` named `prefix` + tempfile.mkstemp's 8 random characters +
    `suffix`: what a writer killed between its mkstemp and its rename left (SIGKILL runs no
    clean-up). Call it only under the lock every such writer holds, so that no live writer's
    file goes; a file of another shape (the author's `.subscribers-old.csv`) stays."""
    ours = re.compile(re.escape(prefix) + "[a-z0-9_]{8}" + re.escape(suffix))
    try:
        with os.scandir(folder) as entries:
            leftovers = [e.path for e in entries if ours.fullmatch(e.name) and e.is_file()]
    except OSError:  # no folder yet, or unreadable: nothing of ours to remove
        return
    for leftover in leftovers:
        with contextlib.suppress(OSError):
            os.unlink(leftover)


def fsync_folder(folder: Path) -> None:
    """Make a rename or link in `folder` survive a power cut (the entry itself is synced)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
