"""Every link a reader can follow, crawled by LinkChecker (Debian `linkchecker`).

The site is built with its base_url on a local server (tests/localsite.py) and crawled from
the index, the 404 page and the sitemap, with the AnchorCheck plugin: every `#fragment` must
name an id on its page. Every link in the sent emails (HTML and text parts) that points into
the site is a start URL too, so each must land on a page (and anchor) the build wrote.
Nothing leaves 127.0.0.1: every URL not on the local server is `--ignore-url`d (LinkChecker
then checks only its syntax: no DNS, no connection, mailto: included) and robots.txt is not
asked for. LinkChecker drops to the user `nobody` when run as root: it reads its settings
before that, and fetches the pages only over HTTP.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import ok
from localsite import publish_at, serving

LINKCHECKER = shutil.which("linkchecker")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(LINKCHECKER is None, reason="linkchecker is not installed (.ci/run)"),
]
Cli = Callable[..., Any]

SETTINGS = """[checking]
threads=4
maxrequestspersecond=1000
[filtering]
checkextern=0
[AnchorCheck]
"""

# Part 1: a heading linked from the text, footnotes, code, an image; part 2: two notes, a
# link back to part 1's heading and note; part 3: ready but pinned ahead (unsent); part 4 a
# draft. The titles carry what must be escaped.
DRAFTS = {
    "01-start.md": """---
title: Été & "quotes" — première
status: ready
preheader: The first
---
Hello {{ name | default("reader") }},

## A heading

A note.[^1] See [the heading](#a-heading) and ![a chart](https://example.com/chart.png).

## Why {{ name | default("you") }}? It's "simple"

```python
print("<x>")
```

[See why](#why--its-simple).

[^1]: The note's text, with [a link](https://example.com/n).
""",
    "02-second.md": """---
title: Second <part> & co
status: ready
preheader: The second
---
Two notes.[^a] And again.[^b] Back to [the first part's heading]({base}01-start/#a-heading).

### Fn 1

[^a]: First.
[^b]: Second.
""",
    "03-later.md": """---
title: Later
status: ready
release: 2099-01-01T09:00:00
preheader: Not yet
---
Not yet.
""",
    "04-draft.md": """---
title: Draft
status: draft
preheader: Draft
---
Draft.
""",
}


def write_series(root: Path, base: str, language: str = "en") -> None:
    (root / "drafts").mkdir(parents=True)
    (root / "seriespub.toml").write_text(
        f'[series]\ntitle = "Links & \\"friends\\""\nlanguage = "{language}"\n'
        'from = "Author <author@example.com>"\n'
        'unsubscribe_url = "https://example.com/unsubscribe?token={token}"\n'
        'description = "About *links* [elsewhere](https://example.com/about)."\n'
        '[delivery]\nprovider = "outbox"\n'
        f'[site]\nbase_url = "{base}"\n'
        'subscribe = "mailto:author@example.com?subject=Subscribe"\n',
        encoding="utf-8",
    )
    for name, text in DRAFTS.items():
        (root / "drafts" / name).write_text(text.replace("{base}", base), encoding="utf-8")
    (root / "subscribers.csv").write_text(
        "email,name,status,subscribed_at\nr1@example.com,Ann,active,2026-01-01\n",
        encoding="utf-8",
    )


def send_and_build(cli: Cli, root: Path) -> None:
    for _ in range(2):
        ok(cli(root, "send", "next", "--yes"))
    ok(cli(root, "site"))


def email_site_links(root: Path, base: str) -> set[str]:
    """Every URL into the site in the outbox's HTML and text parts."""
    found = set()
    for path in sorted((root / ".seriespub" / "outbox").glob("*/*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        for kind in ("html", "plain"):
            part = message.get_body((kind,))
            assert part is not None
            found |= set(re.findall(re.escape(base) + r"[^\s\"'<>\]]*", part.get_content()))
    return found


def linkcheck(tmp_path: Path, origin: str, urls: list[str]) -> list[str]:
    """Every error and warning LinkChecker reports, one line each (none: an empty list)."""
    assert LINKCHECKER is not None
    settings = tmp_path / "linkcheckerrc"
    settings.write_text(SETTINGS, encoding="utf-8")
    local = re.escape(origin + "/")
    done = subprocess.run(
        [
            LINKCHECKER,
            "-f",
            str(settings),
            "--no-robots",
            "--no-status",
            "-o",
            "csv",
            f"--ignore-url=^(?!{local})",
            *urls,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    rows = [line for line in done.stdout.splitlines() if line and not line.startswith("# ")]
    problems = list(csv.DictReader(io.StringIO("\n".join(rows)), delimiter=";"))
    assert done.returncode == (1 if problems else 0), done.stderr[-2000:]
    return [
        f"{p['url']} (on {p['parentname'] or 'start'}): {p['result']} {p['warningstring']}"
        for p in problems
    ]


def crawl_site_and_emails(tmp_path: Path, cli: Cli, path: str, language: str = "en") -> list[str]:
    root = tmp_path / "series"
    with serving(tmp_path / "www") as origin:
        base = f"{origin}/{path}"
        write_series(root, base, language)
        publish_at(tmp_path / "www", path, root / "site")
        send_and_build(cli, root)
        built = (root / "site" / "index.html").read_text(encoding="utf-8")
        assert "Later" not in built and "Draft" not in built  # only what is out
        links = email_site_links(root, base)
        assert f"{base}01-start/" in links and f"{base}02-second/" in links
        start = [base, f"{base}404.html", f"{base}sitemap.xml", *sorted(links)]
        return linkcheck(tmp_path, origin, start)


def test_every_link_and_anchor_of_the_site_and_its_emails_resolves(
    tmp_path: Path, cli: Cli
) -> None:
    """A base_url with a path (`/series/`), served under it."""
    assert crawl_site_and_emails(tmp_path, cli, "series/") == []


def test_a_right_to_left_series_at_the_root_of_its_host_has_no_broken_link(
    tmp_path: Path, cli: Cli
) -> None:
    assert crawl_site_and_emails(tmp_path, cli, "", language="he") == []
