"""How seriespub shows a path it chose: as the user would type it from where they are.

A path the user typed (`init DIR`, `preview --html FILE`, `schedule --ics FILE`) is printed
as typed. A path seriespub chose (`new`'s draft, `site`'s folder, the key `schedule install`
names, the outbox a send stopped on) is printed by `shown`, in a command's output and in an
error's hint (`git checkout HEAD -- .seriespub/ledger.db`): relative to the current folder
when it is inside it; else relative with `..` (`../series/drafts/03-third.md` from a sibling
folder, `../.seriespub/secret` from `drafts/`) when that is shorter than the full path and
the two share a folder below the root; else in full. The `..` is the real parent of the
current folder, which is the shell's `..` too unless the shell came here through a symlink
(its `$PWD` then names another folder): the path is then in full, never a `..` that `cd`
would read differently. `--json` outputs keep full paths: a script reads them from anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path


def shown(path: Path) -> str:
    """`path` as typed from the current folder: relative when that is shorter, else in full."""
    full = os.path.abspath(path)
    try:
        here = os.getcwd()
    except OSError:  # the current folder was removed: nothing is near it
        return full
    if Path(full).is_relative_to(here):
        return str(Path(full).relative_to(here))
    if os.path.commonpath([full, here]) == os.sep or not _shell_is_here(here):
        return full
    relative = os.path.relpath(full, here)
    return relative if len(relative) < len(full) else full


def _shell_is_here(here: str) -> bool:
    """False when the shell's current folder (`$PWD`) is `here` reached through a symlink:
    its `cd ..` then goes elsewhere than the system's `..`. A `$PWD` naming another folder
    is not this process's shell (a program started it in `here`): the system's `..` holds."""
    logical = os.environ.get("PWD")
    if not logical or os.path.normpath(logical) == here:
        return True
    try:
        return not os.path.samefile(logical, here)
    except OSError:
        return True
