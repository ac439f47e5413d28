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


# Found by tests/test_fuzz_inputs.py: a NUL in a path setting was a ValueError traceback
# ("embedded null byte") from the command that used it, and in the language an MJML parse
# error naming no key. Every text setting refuses it where seriespub.toml is read.
@pytest.mark.parametrize(
    ("key", "extra_toml", "command"),
    [
        (
            "site.out_dir",
            '[site]\nbase_url = "https://example.com/s/"\nout_dir = "a\\u0000b"\n',
            ("site",),
        ),
        (
            "delivery.smtp.ca_file",
            '[delivery.smtp]\nhost = "127.0.0.1"\nca_file = "ca\\u0000.pem"\n',
            ("send", "next", "--dry-run"),
        ),
        ("series.language", "", ("preview", "1")),
    ],
)
def test_a_nul_in_any_text_setting_is_refused_naming_the_key(
    make_series: Callable[..., Path], cli: Cli, key: str, extra_toml: str, command: tuple[str, ...]
) -> None:
    delivery = '[delivery]\nprovider = "smtp"\n' if "smtp" in key else ""
    root = make_series(drafts=1, subscribers=1, delivery=delivery, extra_toml=extra_toml)
    toml = root / "seriespub.toml"
    if key == "series.language":
        text = toml.read_text(encoding="utf-8")
        toml.write_text(text.replace("[series]\n", '[series]\nlanguage = "e\\u0000n"\n'), "utf-8")
    before = toml.read_bytes()
    result = cli(root, *command)
    assert result.exit_code == 1, result.output
    assert f"'{key}' has a control character (U+0000)" in result.stderr, result.stderr
    assert toml.read_bytes() == before and not (root / "site").exists()
