"""How seriespub shows a path it chose: as the user would type it from where they are.

A path the user typed (`init DIR`, `preview --html FILE`, `schedule --ics FILE`) is printed
as typed. A path seriespub chose (`new`'s draft, `site`'s folder, the key `schedule install`
names) is printed by `shown`: relative to the current folder when it is inside it, else in
full: in a command's output and in an error's hint (`git checkout HEAD -- .seriespub/ledger.db`).
`--json` outputs keep full paths: a script reads them from anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path


def shown(path: Path) -> str:
    """`path` relative to the current folder when it is inside it, else in full."""
    full = Path(os.path.abspath(path))
    try:
        here = Path.cwd()
    except OSError:  # the current folder was removed: nothing is inside it
        return str(full)
    return str(full.relative_to(here)) if full.is_relative_to(here) else str(full)
