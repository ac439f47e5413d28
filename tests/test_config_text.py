"""Text settings that go into every email: a control character is refused naming the key, not
found later as an MJML parse error; line breaks in an address are fine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]


@pytest.mark.parametrize("key", ["postal_address", "description"])
def test_a_control_character_is_refused_naming_the_key(
    make_series: Callable[..., Path], cli: Cli, key: str
) -> None:
    root = make_series(drafts=1, subscribers=1)
    toml = root / "seriespub.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("[series]\n", f'[series]\n{key} = "A\\u0007B"\n'), "utf-8")
    result = cli(root, "send", "next", "--dry-run")
    assert result.exit_code == 1
    assert f"'series.{key}' has a control character (U+0007)" in result.stderr
    assert "MJML" not in result.stderr


def test_an_address_on_several_lines_is_fine(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1, subscribers=1)
    toml = root / "seriespub.toml"
    text = toml.read_text(encoding="utf-8")
    address = 'postal_address = "1 High St\\nLeeds LS1 1AA"\n'
    toml.write_text(text.replace("[series]\n", f"[series]\n{address}"), "utf-8")
    result = cli(root, "send", "next", "--dry-run")
    assert result.exit_code == 0, result.output
