"""A path a command wrote is printed as the user would type it from where they are: what
they typed, as they typed it (`init DIR`, `preview --html`, `schedule --ics`); a path
seriespub chose (`new`'s draft, `site`'s folder, the key `schedule install` names) relative
to the current folder (with `../` when that is shorter), else in full. `--json` keeps full
paths."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
SITE = '[site]\nbase_url = "https://example.org/s/"\n'


def test_init_prints_the_folder_as_typed(tmp_path: Path, cli: Cli) -> None:
    result = cli(tmp_path, "init", "mine")
    assert result.exit_code == 0, result.output
    assert "created mine/seriespub.toml\n" in result.stdout
    assert result.stdout.endswith("Next: edit mine/seriespub.toml, then: seriespub preview 1\n")


@pytest.mark.parametrize(
    ("where", "shown"),
    [(".", "drafts/03-third.md"), ("drafts", "03-third.md"), ("..", "series/drafts/03-third.md")],
)
def test_new_prints_the_draft_from_the_current_folder(
    make_series: Callable[..., Path], cli: Cli, where: str, shown: str
) -> None:
    """Before: `created /home/ann/…/drafts/03-third.md`, though `init` had said
    `created mine/drafts/01-welcome.md`."""
    root = make_series(drafts=2)
    result = cli(root / where, "new", "Third", "--series", str(root))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"created {shown}\n"
    assert (root / "drafts" / "03-third.md").is_file()


def test_new_prints_a_draft_in_a_sibling_folder_with_dots(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    """Before: `created /tmp/…/series/drafts/03-third.md` from `elsewhere/`, though the user
    had typed `--series ../series`."""
    root = make_series(drafts=2)
    (tmp_path / "elsewhere").mkdir()
    result = cli(tmp_path / "elsewhere", "new", "Third", "--series", "../series")
    assert result.exit_code == 0, result.output
    assert result.stdout == "created ../series/drafts/03-third.md\n"
    assert (root / "drafts" / "03-third.md").is_file()


def test_new_prints_a_draft_far_from_the_current_folder_in_full(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    """Only the root in common (`/dev`, `/tmp/…`), or more `../` than the full path is long:
    in full."""
    root = make_series(drafts=3)
    draft = root.resolve() / "drafts"
    result = cli(Path("/dev"), "new", "Fourth", "--series", str(root))
    assert result.stdout == f"created {draft / '04-fourth.md'}\n"
    deep = tmp_path.joinpath(*["d"] * 40)
    deep.mkdir(parents=True)
    result = cli(deep, "new", "Fifth", "--series", str(root))
    assert result.stdout == f"created {draft / '05-fifth.md'}\n"


def test_new_prints_a_draft_in_full_when_the_shell_came_through_a_symlink(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shell's `..` of `link/` (its $PWD) is tmp_path, the system's is `real/`'s parent:
    a `../series/…` would name another folder to `cd`."""
    root = make_series(drafts=2)
    (tmp_path / "far" / "real").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "far" / "real")
    monkeypatch.setenv("PWD", str(tmp_path / "link"))
    result = cli(tmp_path / "far" / "real", "new", "Third", "--series", str(root))
    assert result.stdout == f"created {root.resolve() / 'drafts' / '03-third.md'}\n"


def test_site_prints_its_folder_from_the_current_one(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1, extra_toml=SITE)
    result = cli(root, "site")
    assert result.exit_code == 0, result.output
    assert " published in site (" in result.stdout, result.stdout
    (root.parent / "notes").mkdir()
    beside = cli(root.parent / "notes", "site", "--series", str(root))
    assert " published in ../series/site (" in beside.stdout, beside.stdout
    data = json.loads(cli(root / "drafts", "site", "--json").stdout)
    assert data["out_dir"] == str(root.resolve() / "site")  # --json: in full, as before


def test_schedule_install_names_the_key_from_the_current_folder(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERIESPUB_SECRET")  # the generated key is the one named
    root = make_series(drafts=1)
    key = root / ".seriespub" / "secret"
    key.parent.mkdir()
    key.write_text("k" * 64)
    """Before: `.seriespub/secret` from any folder (from drafts/ there is no such file)."""
    here = cli(root, "schedule", "install")
    assert here.exit_code == 0, here.output
    assert "# SERIESPUB_SECRET: the content of .seriespub/secret, the key" in here.stdout
    below = cli(root / "drafts", "schedule", "install")
    assert "# SERIESPUB_SECRET: the content of ../.seriespub/secret, the key" in below.stdout


def test_a_hint_names_the_draft_by_the_same_rule(
    make_series: Callable[..., Path], cli: Cli, tmp_path: Path
) -> None:
    """Before: `os.path.relpath`, whatever its length (`../../tmp/…/drafts/01-….md` from a
    folder under /dev) and across a symlinked shell folder."""
    root = make_series(drafts=1, ready=0)
    far = cli(Path("/dev"), "send", "next", "--series", str(root), "--yes")
    assert far.exit_code != 0
    draft = next((root / "drafts").glob("01-*.md"))
    assert f"front matter ({draft.resolve()})" in far.output, far.output
    (tmp_path / "notes").mkdir()
    beside = cli(tmp_path / "notes", "send", "next", "--series", str(root), "--yes")
    assert f"front matter (../series/drafts/{draft.name})" in beside.output, beside.output
