"""NeoMutt, a text mail client, reads what we send as a reader of one sees it.

A one-part series with a non-ASCII title, sender and reader name, merge fields, a long
subject, a long paragraph, a link and a code block goes out through the real CLI to the
outbox. Debian's `neomutt` opens the .eml from a Maildir under a pseudo-terminal of a fixed
size (no system or user config: `-n` and a muttrc written here), and `pyte`, a VT100
emulator, keeps the screen it draws. Asserted on that screen: the headers decoded, the
text/plain alternative chosen and decoded (no encoded words, quoted-printable escapes or
soft breaks, no HTML), merge fields filled, the link readable, the code block as written.
NeoMutt's `<list-unsubscribe>` reads a mailto: List-Unsubscribe (a series without an
unsubscribe_url) and mails the request, whose token seriespub verifies as the reader's.
NeoMutt has no HTML renderer of its own: without a mailcap viewer (w3m, lynx) it calls
text/html "unsupported", so the HTML part is not read here.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from instalments import run_seriespub, send_to_outbox

pytestmark = pytest.mark.slow
NEOMUTT = shutil.which("neomutt")
if NEOMUTT is None:
    pytest.skip(
        "NeoMutt is not installed (Debian: apt-get install neomutt)", allow_module_level=True
    )
pytest.importorskip("pyte", reason="pyte is not installed (the dev extra)")
import pyte  # noqa: E402  (after the skips, so a machine without it skips)

ROWS, COLUMNS = 80, 120
KEY = "neomutt-test-key-" + "0123456789abcdef" * 2
SUBJECT = "Part 1: Café Ölçü — naïve leadership across systems, and what the teams told us about it"
CONFIG = """[series]
title = "Führung über Systeme"
from = "Zoë Ångström <zoe@example.com>"
{unsubscribe}postal_address = "Impact4Health Ltd, 1 Example Street, Leeds LS1 1AA"

[delivery]
provider = "outbox"

[schedule]
first_release = 2026-12-01T09:00:00
timezone = "Europe/London"
every_weeks = 1
"""
DRAFT = f"""---
title: "Café Ölçü: naïve leadership across systems"
subject: "{SUBJECT}"
preheader: "Grüße aus dem Café."
status: ready
---

Hello {{{{ name | default("there") }}}} from {{{{ organisation | default("your team") }}}},

This week's notes are longer than usual, so here is the whole paragraph in one line to see \
how a reader's mail client wraps it: the teams we met in Zürich, Malmö and Łódź all said the \
same thing about naïve plans.

Read the [full notes](https://example.com/notes/2026/cafe-olcu) before Friday.

```
def greet(name):
    return f"Grüß dich, {{name}}!"  # = signs and umlauts
```

Thank you — Zoë
"""
READERS = "email,name,organisation,status,subscribed_at\n" + (
    "asa@example.org,Åsa Núñez,Örebro Läns Team,active,2026-01-01\n"
)


class Screen(pyte.Screen):
    """pyte's screen, ignoring the private SGR (`CSI > … m`) xterm's terminfo sends."""

    def select_graphic_rendition(self, *attrs: int, private: bool = False) -> None:
        if not private:
            super().select_graphic_rendition(*attrs)


def write_series(root: Path, unsubscribe_url: bool) -> Path:
    (root / "drafts").mkdir(parents=True)
    url = 'unsubscribe_url = "https://example.com/unsubscribe?token={token}"\n'
    config = CONFIG.format(unsubscribe=url if unsubscribe_url else "")
    (root / "seriespub.toml").write_text(config, encoding="utf-8")
    (root / "drafts" / "01-cafe.md").write_text(DRAFT, encoding="utf-8")
    (root / "subscribers.csv").write_text(READERS, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The .eml of part 1 from a series with an unsubscribe_url ("https") and without
    ("mailto"), each series folder beside it."""
    out = {}
    for name in ("https", "mailto"):
        root = write_series(tmp_path_factory.mktemp(f"neomutt-{name}"), name == "https")
        (out[name],) = send_to_outbox(root, 1, key=KEY)
    return out


def mail_folder(eml: Path, workdir: Path, *settings: str) -> Path:
    """A Maildir holding `eml` (read) and a muttrc for it; the muttrc's path."""
    for sub in ("cur", "new", "tmp"):
        (workdir / "mail" / sub).mkdir(parents=True)
    shutil.copy(eml, workdir / "mail" / "cur" / "1.eml:2,S")
    (workdir / "home").mkdir()
    lines = [
        f'set folder="{workdir / "mail"}" spoolfile="{workdir / "mail"}" mbox_type=Maildir',
        'set header_cache="" record="" postpone=no quit=yes wait_key=no help=no',
        "set pager_stop=yes pager_index_lines=0 markers=no",
        "ignore *",
        "unignore from: to: subject: date: list-unsubscribe:",
        *settings,
    ]
    muttrc = workdir / "muttrc"
    muttrc.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return muttrc


def neomutt(muttrc: Path, keys: str, until: str | None) -> list[str]:
    """The screen once a line holds `until` (or NeoMutt exits) after pushing `keys`."""
    master, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(muttrc.parent / "home"),
        "TERM": "xterm",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    args = [NEOMUTT or "neomutt", "-n", "-F", str(muttrc), "-e", f"push '{keys}'"]
    child = subprocess.Popen(
        args, stdin=terminal, stdout=terminal, stderr=terminal, env=env, start_new_session=True
    )
    os.close(terminal)
    screen = Screen(COLUMNS, ROWS)
    try:
        _watch(master, pyte.ByteStream(screen), screen, until)
        if child.poll() is None:
            os.write(master, b"qqq")  # the pager, the index, and NeoMutt
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
    return [line.rstrip() for line in screen.display]


def _watch(master: int, stream: pyte.ByteStream, screen: Screen, until: str | None) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                stream.feed(os.read(master, 65536))
            except OSError:  # NeoMutt exited: the terminal is gone
                return
        elif until is not None and any(until in line for line in screen.display):
            return
    raise AssertionError("NeoMutt did not get there:\n" + "\n".join(screen.display))


@pytest.fixture(scope="module")
def pager(sent: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The whole message as NeoMutt's pager shows it, as it comes (no alternative_order)."""
    muttrc = mail_folder(sent["https"], tmp_path_factory.mktemp("neomutt-pager"))
    return neomutt(muttrc, "<display-message>", until="(all)")


def header(screen: list[str], name: str) -> str:
    """A header as the pager shows it, its continuation lines joined."""
    start = next(i for i, line in enumerate(screen) if line.startswith(f"{name}: "))
    parts = [screen[start][len(name) + 2 :]]
    for line in screen[start + 1 :]:
        if not line.startswith(" "):
            break
        parts.append(line.strip())
    return " ".join(parts)


def body(screen: list[str]) -> list[str]:
    """The lines after the headers, down to the last before NeoMutt's status line."""
    start = screen.index("")
    return screen[start + 1 : -2]


def test_headers_are_shown_decoded(pager: list[str]) -> None:
    assert header(pager, "From") == "Zoë Ångström <zoe@example.com>"
    assert header(pager, "To") == "Åsa Núñez <asa@example.org>"
    assert header(pager, "Subject") == SUBJECT
    assert not any("=?" in line for line in pager), "\n".join(pager)


def test_the_text_part_is_chosen_and_decoded(pager: list[str]) -> None:
    text = "\n".join(body(pager))
    assert "Hello Åsa Núñez from Örebro Läns Team," in text  # merge fields, filled
    assert "the teams we met\nin Zürich, Malmö and Łódź all said the same thing" in text
    assert "Read the full notes [1] before Friday." in text
    assert "[1] https://example.com/notes/2026/cafe-olcu" in text
    assert '    def greet(name):\n        return f"Grüß dich, {name}!"  # = signs and umlauts' in (
        text
    )
    assert "Thank you — Zoë" in text
    for leftover in ("<p", "<div", "</", "&nbsp;", "=C3", "=20", "{{"):
        assert leftover not in text, f"{leftover!r} on the screen:\n{text}"
    soft_breaks = [line for line in body(pager) if line.endswith("=") and set(line) != {"="}]
    assert soft_breaks == [], text  # a title's underline is all "="
    prose = [line for line in body(pager) if "://" not in line]  # a URL is never broken
    assert max(len(line) for line in prose) <= 78  # wrapped by us, not by the client


def test_the_unsubscribe_link_is_shown_whole(pager: list[str]) -> None:
    shown = header(pager, "List-Unsubscribe")
    assert shown.startswith("<https://example.com/unsubscribe?token=") and shown.endswith(">")
    assert f"Unsubscribe: {shown[1:-1]}" in body(pager)


def test_list_unsubscribe_mails_a_request_seriespub_verifies(
    sent: dict[str, Path], tmp_path: Path
) -> None:
    """NeoMutt parses the mailto: List-Unsubscribe and sends what it says; the token in the
    subject is the reader's."""
    script = tmp_path / "sendmail"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/to\ncat > {tmp_path}/sent\n')
    script.chmod(0o755)
    muttrc = mail_folder(
        sent["mailto"],
        tmp_path / "run",
        f'set sendmail="{script}" editor="true" from="asa@example.org" fast_reply=yes',
        "set abort_noattach=no autoedit=no edit_headers=no",
    )
    neomutt(muttrc, "<list-unsubscribe>y<quit>", until=None)
    request = (tmp_path / "sent").read_text(encoding="utf-8")
    assert (tmp_path / "to").read_text(encoding="utf-8").split() == ["--", "zoe@example.com"]
    subject = next(line for line in request.splitlines() if line.startswith("Subject: "))
    word, token, tag = subject.removeprefix("Subject: ").split()
    assert word == "unsubscribe"
    assert re.fullmatch(r"s-[0-9a-f]{8}", tag), subject  # the series' tag is kept too
    series = sent["mailto"].parents[3]
    verified = run_seriespub(
        series, "subscribers", "verify", "asa@example.org", token, env={"SERIESPUB_SECRET": KEY}
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_screen_check_can_fail(sent: dict[str, Path], tmp_path: Path) -> None:
    """A text part that lost its Content-Transfer-Encoding is shown as it travels: the
    quoted-printable escapes and soft breaks the checks above look for."""
    raw = sent["https"].read_bytes()
    broken = raw.replace(b"Content-Transfer-Encoding: quoted-printable\r\n", b"", 1)
    assert broken != raw
    (tmp_path / "broken.eml").write_bytes(broken)
    muttrc = mail_folder(tmp_path / "broken.eml", tmp_path / "run")
    text = "\n".join(body(neomutt(muttrc, "<display-message>", until="1/1: ")))
    assert "=C3=96rebro" in text and "Hello=20=" in text, text
