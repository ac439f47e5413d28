"""SpamAssassin scores what readers receive: the example instalment and a rich one, as sent.

Both instalments go out through the real CLI to the outbox; each .eml is scored by Debian's
`spamassassin` with local tests only (`-L`: no DNS, no network), the packaged rules, a
throwaway home and site folder under tmp_path (only the packaged `.pre` plugin lists are
copied in; Bayes and the auto-welcomelist off, so the score never depends on this machine's
history). A message must score below 1 and fire no rule outside ALLOWED.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import mailbox
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from instalments import example_series, send_to_outbox

pytestmark = pytest.mark.slow
SPAMASSASSIN = shutil.which("spamassassin")
if SPAMASSASSIN is None:
    pytest.skip(
        "SpamAssassin is not installed (Debian: apt-get install spamassassin)",
        allow_module_level=True,
    )

RULES = Path("/usr/share/spamassassin")
PLUGINS = Path("/etc/spamassassin")
MAXIMUM = 1.0

# The rules that may fire, each for a reason that has nothing to do with the content:
ALLOWED = {
    # Informational, 0 points: the message has an HTML part (every multipart/alternative
    # newsletter does).
    "HTML_MESSAGE",
    # Informational, -0.0 points: an .eml from the outbox has not passed any mail server yet,
    # so it has no Received: header; a delivered copy has them.
    "NO_RECEIVED",
    "NO_RELAYS",
}


def spam_statuses(messages: list[bytes], workdir: Path) -> list[tuple[float, set[str]]]:
    """(score, rules fired) for each message, from one `spamassassin -L -t --mbox` run."""
    site, home = workdir / "site", workdir / "home"
    site.mkdir(parents=True)
    home.mkdir()
    for pre in PLUGINS.glob("*.pre"):  # the plugin lists, not local.cf
        shutil.copy(pre, site)
    (workdir / "prefs").write_text("use_bayes 0\nbayes_auto_learn 0\nuse_auto_whitelist 0\n")
    box = mailbox.mbox(workdir / "in.mbox")
    for raw in messages:
        box.add(mailbox.mboxMessage(raw))
    box.close()
    args = [
        SPAMASSASSIN or "spamassassin",
        "-L",
        "-t",
        "--mbox",
        f"--siteconfigpath={site}",
        "-p",
        str(workdir / "prefs"),
    ]
    if RULES.is_dir():
        args.append(f"--configpath={RULES}")
    with open(workdir / "in.mbox", "rb") as given:
        done = subprocess.run(
            args,
            stdin=given,
            capture_output=True,
            timeout=300,
            env={**os.environ, "HOME": str(home)},
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    (workdir / "out.mbox").write_bytes(done.stdout)
    # SpamAssassin may reorder an mbox (it sorts by date): match results by Message-ID.
    answered = mailbox.mbox(workdir / "out.mbox")
    out = {str(m["Message-ID"]): m for m in answered}
    answered.close()
    assert len(out) == len(messages), done.stderr.decode(errors="replace")
    return [_status(str(out[message_id(raw)]["X-Spam-Status"])) for raw in messages]


def message_id(raw: bytes) -> str:
    return str(email.message_from_bytes(raw)["Message-ID"])


def _status(header: str) -> tuple[float, set[str]]:
    status = re.sub(r",\s+", ",", " ".join(header.split()))  # unfold the rule list
    found = re.search(r"score=(-?[\d.]+) .*tests=(\S*)", status)
    assert found, f"no X-Spam-Status in SpamAssassin's output: {status!r}"
    return float(found.group(1)), {r for r in found.group(2).split(",") if r and r != "none"}


def html_part(raw: bytes) -> tuple[email.message.EmailMessage, email.message.EmailMessage]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    assert isinstance(part, email.message.EmailMessage)
    return message, part


def with_old_preheader(raw: bytes) -> bytes:
    """The message as the old template sent it: the preheader white on the light page."""
    message, html = html_part(raw)
    content = html.get_content()
    old = content.replace(
        'class="sp-preheader" style="display:none;',
        'class="sp-preheader" style="display:none;color:#ffffff;',
        1,
    )
    assert old != content
    html.set_content(old, subtype="html", charset="utf-8")
    message.replace_header("Message-ID", "<old-preheader@example.com>")
    return message.as_bytes()


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Parts 1 (the repository's example) and 2 (the rich one), sent to the outbox."""
    root = example_series(tmp_path_factory.mktemp("spamassassin") / "series")
    example, rich = send_to_outbox(root, 2, key="spamassassin-test-" + "0123456789abcdef" * 2)
    return {"example": example, "rich": rich}


@pytest.fixture(scope="module")
def scores(
    sent: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[float, set[str]]]:
    """Every message scored in one SpamAssassin run (its start-up is most of the time)."""
    messages = {name: path.read_bytes() for name, path in sent.items()}
    messages["old preheader"] = with_old_preheader(messages["example"])
    workdir = tmp_path_factory.mktemp("spamassassin-run")
    return dict(zip(messages, spam_statuses(list(messages.values()), workdir), strict=True))


@pytest.mark.parametrize("name", ["example", "rich"])
def test_instalment_scores_below_one_with_only_allowed_rules(
    scores: dict[str, tuple[float, set[str]]], name: str
) -> None:
    score, rules = scores[name]
    assert rules - ALLOWED == set(), f"{name}: unexpected rules {sorted(rules - ALLOWED)}"
    assert score < MAXIMUM, f"{name}: score {score}, rules {sorted(rules)}"


def test_the_rich_instalment_holds_every_element(sent: dict[str, Path]) -> None:
    html = html_part(sent["rich"].read_bytes())[1].get_content()
    for needle in (
        "<h2",
        "<h3",
        "sp-table",
        "<pre",
        "<code",
        "<img",
        "sp-footnotes",
        "<blockquote",
        "<ol",
        "sp-preheader",
        "Impact4Health Ltd",
    ):
        assert needle in html, needle


def test_the_check_can_fail(scores: dict[str, tuple[float, set[str]]]) -> None:
    """The old preheader (white text on the light page) is caught by the same run."""
    assert "HTML_FONT_LOW_CONTRAST" in scores["old preheader"][1]
