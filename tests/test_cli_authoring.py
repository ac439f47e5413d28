"""init, new, preview and check through the CLI."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailcheck import body_bytes

Cli = Callable[..., Any]


def test_init_creates_a_working_series_and_never_overwrites(tmp_path: Path, cli: Cli) -> None:
    target = tmp_path / "new-series"
    result = cli(
        tmp_path, "init", str(target), "--title", "Leading", "--from", "Ann <ann@example.com>"
    )
    assert result.exit_code == 0, result.output
    assert (target / "seriespub.toml").is_file() and (target / "drafts/01-welcome.md").is_file()
    assert (target / ".gitignore").read_text() == ".seriespub/\n.env\n"
    before = (target / "seriespub.toml").read_bytes()
    again = cli(tmp_path, "init", str(target))
    assert again.exit_code == 1 and "already exists; nothing was changed" in again.stderr
    assert (target / "seriespub.toml").read_bytes() == before
    assert cli(target, "check").exit_code == 0


def test_new_writes_the_next_numbered_draft(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=2)
    result = cli(root, "new", "Facing out: part three")
    assert result.exit_code == 0, result.output
    draft = root / "drafts" / "03-facing-out-part-three.md"
    assert draft.read_text().startswith('---\ntitle: "Facing out: part three"\nstatus: draft\n')


def test_commands_find_the_series_from_a_subfolder_or_take_series(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    root = make_series()
    assert cli(root / "drafts", "status", "--json").exit_code == 0
    elsewhere = cli(tmp_path, "status", "--series", str(root), "--json")
    assert json.loads(elsewhere.stdout)["series"] == "Test Series"
    lost = cli(tmp_path, "status")
    assert lost.exit_code == 1 and "no seriespub.toml in" in lost.stderr


def test_preview_shows_header_and_body(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(subscribers=3)
    result = cli(root, "preview", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout
    assert "Test Series · Part 1" in lines
    assert "From       Author <author@example.com>" in lines
    assert "To         3 active subscribers (shown as reader0001@example.com)" in lines
    assert "Subject    Part 1 title" in lines
    assert "Preheader  A short line shown in the inbox" in lines
    assert "HTML size" in lines and "KB" in lines
    assert "This is part 1 of the series" in lines


def test_preview_text_and_html_are_exactly_what_is_sent(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    root = make_series(subscribers=1)
    text = cli(root, "preview", "1", "--text").stdout
    html_file = tmp_path / "part1.html"
    assert cli(root, "preview", "1", "--html", str(html_file)).exit_code == 0
    assert cli(root, "send", "next", "--yes").exit_code == 0
    (eml,) = (root / ".seriespub/outbox/001").glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    sent_text = body_bytes(msg, "plain").decode()
    sent_html = body_bytes(msg, "html").decode()
    assert sent_text.replace("\r\n", "\n") == text
    assert sent_html.replace("\r\n", "\n") == html_file.read_text()


def test_preview_warns_near_the_clipping_limit(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1)
    draft = root / "drafts" / "01-part-1.md"
    draft.write_text(draft.read_text() + "\n" + ("A long paragraph of words. " * 3900))
    result = cli(root, "preview", "1")
    assert "over Gmail's ~102 KB limit" in result.stdout
    checked = cli(root, "check")
    assert checked.exit_code == 1 and "Gmail clips messages over ~102 KB" in checked.stdout


def test_check_reports_what_would_embarrass_the_author(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, subscribers=2)
    (root / "drafts" / "03-third.md").write_text(
        "---\ntitle: Third\n---\n![](missing.png) ![Logo](https://example.com/l.png)\n"
        "[home](/relative) [files](ftp://example.com/f) {{ nmae }}\n"
    )
    (root / "drafts" / "04-broken.md").write_text("---\ntitle: [unclosed\n---\nx\n")
    with open(root / "subscribers.csv", "a") as handle:
        handle.write("not-an-address,X,active,\nREADER0001@example.com,Dup,active,\n")
    result = cli(root, "check", "--json")
    assert result.exit_code == 1
    found = {(f["level"], f["message"]) for f in json.loads(result.stdout)["findings"]}
    assert ("error", "image 'missing.png' does not exist") in found
    assert ("warning", "image 'missing.png' has no alt text") in found
    assert (
        "error",
        "link '/relative' is not http(s) or mailto: it will not work in an email",
    ) in found
    assert (
        "error",
        "link 'ftp://example.com/f' is not http(s) or mailto: it will not work in an email",
    ) in found
    assert ("error", "unknown merge field 'nmae' (not a column of subscribers.csv)") in found
    assert ("warning", "no instalment number 2") in found
    assert ("error", "invalid address 'not-an-address': no local part and '@'") in found
    assert ("error", "reader0001@example.com appears 2 times") in found
    assert any(level == "error" and msg.startswith("front matter:") for level, msg in found)
    wheres = {f["where"] for f in json.loads(result.stdout)["findings"]}
    assert any(w.endswith("04-broken.md:2") for w in wheres)


def test_check_with_warnings_only_exits_0(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1)
    (root / "drafts" / "03-x.md").write_text("---\ntitle: X\n---\nHello\n")
    result = cli(root, "check")
    assert result.exit_code == 0, result.output
    assert "series.unsubscribe_url points at 'example.com', a placeholder" in result.stdout
    assert "0 error(s), 2 warning(s)" in result.stdout


def test_preview_open_writes_the_html_and_opens_it(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: Any
) -> None:
    import webbrowser

    opened: list[str] = []

    def fake_open(url: str) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(webbrowser, "open", fake_open)
    root = make_series(subscribers=1)
    result = cli(root, "preview", "1", "--open")
    assert result.exit_code == 0, result.output
    assert len(opened) == 1 and opened[0].startswith("file://")
    html = Path(opened[0].removeprefix("file://")).read_text(encoding="utf-8")
    assert "Part 1 title" in html and "Hello Reader 1," in html


def test_check_warns_of_a_second_top_heading_and_a_skipped_level(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """The part's title is the email's and the page's one <h1>; screen readers list the
    headings by level, so a `#` in the text and a jump from ## to #### are warned of."""
    root = make_series(drafts=1, subscribers=2)
    (root / "drafts" / "02-headings.md").write_text(
        "---\ntitle: Headings\nstatus: ready\n---\n# Introduction\n\ntext\n\n## Findings\n\n"
        "#### Detail\n\n## Next\n\n### Fine\n\n```\n# a comment, not a heading\n```\n"
    )
    (root / "drafts" / "03-sound.md").write_text(
        "---\ntitle: Sound\nstatus: ready\n---\n## One\n\n### Two\n\n## Three\n\n### Four\n"
    )
    result = cli(root, "check", "--json")
    found = [
        (f["where"].rsplit("/", 1)[-1], f["message"])
        for f in json.loads(result.stdout)["findings"]
        if "heading" in f["message"]
    ]
    assert found == [
        (
            "02-headings.md:5",
            "a level-1 heading (#): the title is the part's only one; start sections at ##",
        ),
        (
            "02-headings.md:11",
            "heading level 4 (####) right after level 2: screen readers list headings by "
            "level, so a level skipped reads as a missing section; use ###",
        ),
    ]
    assert all(
        f["level"] == "warning"
        for f in json.loads(result.stdout)["findings"]
        if "heading" in f["message"]
    )


def test_check_warns_of_a_link_to_no_heading_or_note_of_the_part(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """`[see](#a-heading)` works since headings have ids; a mistyped one leads nowhere."""
    root = make_series(drafts=1, subscribers=2)
    (root / "drafts" / "02-anchors.md").write_text(
        "---\ntitle: Anchors\nstatus: ready\n---\n## What we asked\n\n"
        "See [the question](#what-we-asked), [the note](#fn-1)[^1] and [a typo](#what-we-askd).\n"
        "\n[^1]: A note.\n"
    )
    result = cli(root, "check", "--json")
    found = [
        (f["level"], f["where"].rsplit("/", 1)[-1], f["message"])
        for f in json.loads(result.stdout)["findings"]
        if "#" in f["message"] and "heading (" not in f["message"]
    ]
    assert found == [
        (
            "warning",
            "02-anchors.md:7",
            "link '#what-we-askd' leads to no heading or note of this part "
            "(its headings: #what-we-asked)",
        )
    ]
