"""Files that must not exist yet (a new draft, a new series' files), whole or not at all.

The text goes to a temp file beside the target, `.NAME.<8 hex>.tmp`, is fsynced, then
hard-linked into place: a link never replaces, so an existing file is refused (FileExistsError),
never overwritten, and a process killed at any instant leaves the whole file or none. The temp
file is removed on any failure or Ctrl-C; one a killed process left (SIGKILL runs no clean-up)
matches no `*.md` glob, so it is never read as a draft, and `remove_cut_short_drafts` removes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from pathlib import Path

from seriespub.statefiles import fsync_folder

_TEMP = r"\.{name}\.[0-9a-f]{{8}}\.tmp"
_DRAFT_TEMP = re.compile(_TEMP.format(name=r"\d+[-_ ].*\.md"))
# File systems without hard links (FAT, some network shares): a rename after a last look.
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}


def create_new(path: Path, text: str) -> None:
    """Write `text` as the new file `path` (mode 0666 less the umask), whole or not at all."""
    # os.urandom, not `secrets`: that imports hmac, and reading drafts (`status`) must not.
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    try:
        _write_temp(tmp, text.encode("utf-8"))
        _link(tmp, path)
        fsync_folder(path.parent)
    except OSError as exc:
        if exc.filename in (None, str(tmp)):
            exc.filename = str(path)  # the author never saw the temp file's name
        raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def remove_cut_short_drafts(folder: Path) -> None:
    """Remove the temp files a `new` killed mid-write left in `folder`. Call it only under
    the lock every `new` holds on the folder, so that no live writer's file goes."""
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        leftovers = [e.path for e in entries if _DRAFT_TEMP.fullmatch(e.name) and e.is_file()]
        for leftover in leftovers:
            with contextlib.suppress(OSError):
                os.unlink(leftover)


def _write_temp(tmp: Path, data: bytes) -> None:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _link(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path)) from None
        os.rename(tmp, path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
