"""The static site at scale: a 100-instalment series built from scratch, then rebuilt.

    python bench/bench_site.py        # ~2 s

Target (issue 11): a full build of 100 released instalments in ≤ 2 s. Also timed: the
incremental rebuild after one new instalment is released (every file is compared, only the
changed ones are written), a rebuild with nothing new (nothing written) and one after a part
is edited (its page, the feed and the sitemap, which date the edit).
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout

from seriespub.ledger import Ledger
from seriespub.ops import site
from seriespub.series import find_series

PARTS = 100
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
TOML = """[series]
title = "A Long Series"
from = "Author <author@example.com>"
description = "One hundred parts, each about a thousand words."

[schedule]
first_release = 2026-01-06T09:00:00
timezone = "Europe/London"
catch_up = "all"

[site]
base_url = "https://example.org/long/"
"""
PARAGRAPH = (
    "Leading across systems means working with people you do not manage, on problems "
    "no one owns, with [evidence](https://example.com/evidence) that is *never* "
    "complete. Hello {{ name | default('reader') }}, this is the **point**.\n\n"
)


def draft(number: int) -> str:
    body = "\n".join([f"## Section {k}\n\n" + PARAGRAPH * 3 for k in range(1, 6)])
    return (
        f'---\ntitle: "Part {number}: a title"\nstatus: ready\npreheader: "Part '
        f'{number} in one line"\n---\n\n{body}\n| a | b |\n|---|---|\n| 1 | 2 |\n'
    )


def make_series(root: Path, parts: int) -> None:
    (root / "drafts").mkdir(parents=True)
    (root / "seriespub.toml").write_text(TOML, encoding="utf-8")
    for n in range(1, parts + 1):
        (root / "drafts" / f"{n:03d}-part-{n}.md").write_text(draft(n), encoding="utf-8")
    (root / ".seriespub").mkdir()
    with Ledger.open(root / ".seriespub" / "ledger.db") as ledger:
        for n in range(1, parts + 1):
            when = dt.datetime(2026, 1, 6, 9, tzinfo=dt.UTC) + dt.timedelta(weeks=n - 1)
            ledger.mark_started(n, f"Part {n}", f"Part {n}", when)
            ledger.mark_finished(n, when)


def timed(root: Path) -> tuple[float, site.BuildResult]:
    started = time.perf_counter()
    result = site.build(find_series(explicit=root), NOW)
    return time.perf_counter() - started, result


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "series"
        make_series(root, PARTS)
        full, result = timed(root)
        size = sum(p.stat().st_size for p in (root / "site").rglob("*") if p.is_file())
        print(
            f"full build, {len(result.parts)} parts: {full:.2f} s "
            f"({result.files} files, {size / 1e6:.1f} MB; target ≤ 2 s)"
        )
        same, result = timed(root)
        print(f"rebuild, nothing new:        {same:.2f} s ({len(result.written)} written)")
        edited = root / "drafts" / "050-part-50.md"
        edited.write_text(edited.read_text(encoding="utf-8").replace("point", "gist", 1))
        fix, result = timed(root)
        print(f"rebuild, one part edited:    {fix:.2f} s ({', '.join(result.written)})")
        (root / "drafts" / f"{PARTS + 1:03d}-part-{PARTS + 1}.md").write_text(
            draft(PARTS + 1).replace("status: ready", "status: ready\nrelease: 2029-06-01"),
            encoding="utf-8",
        )
        more, result = timed(root)
        print(f"rebuild, one new instalment: {more:.2f} s ({len(result.written)} written)")
        if full > 2.0:
            sys.exit("full build over the 2 s target")


if __name__ == "__main__":
    main()
