"""seriespub.toml validation: every bad value is refused on load with its key named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seriespub.config import load_settings
from seriespub.errors import ConfigError

SERIES = '[series]\ntitle = "T"\nfrom = "Ann <ann@example.com>"\n'


def load(tmp_path: Path, toml: str) -> Any:
    path = tmp_path / "seriespub.toml"
    path.write_text(toml, encoding="utf-8")
    return load_settings(path)


@pytest.mark.parametrize(
    ("series", "key", "why"),
    [
        ('from = "Ann, Writer <a@example.com>"', "series.from", "2 addresses"),
        ('from = "Ann"', "series.from", "'@'"),
        ('from = ""', "series.from", "empty"),
        ('from = "=?utf-8?q?boss=40bank.example?= <a@example.com>"', "series.from", "encoded word"),
        ('from = "a..b@example.com"', "series.from", "two dots"),
        ('from = "Ann <ann@example.com>"\nreply_to = "a@x, b@x"', "series.reply_to", "domain"),
        ('from = "Ann <ann@example.com>"\nreply_to = "Bo"', "series.reply_to", "'@'"),
    ],
)
def test_bad_addresses_are_refused_with_the_key(
    tmp_path: Path, series: str, key: str, why: str
) -> None:
    with pytest.raises(ConfigError, match=why) as caught:
        load(tmp_path, f'[series]\ntitle = "T"\n{series}\n')
    assert f"'{key}'" in str(caught.value)


def test_good_addresses_load(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[series]\ntitle = "T"\nfrom = "Chloé <c@bücher.example>"\n'
        'reply_to = "\\"Ann, W\\" <a@example.com>, b@example.com"\n',
    )
    assert settings.series.reply_to == '"Ann, W" <a@example.com>, b@example.com'


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/u?t={token}", "https://"),
        ("https://example.com/u?t={token}> <https://evil.example/", "'>'"),
        ("https://example.com/u?t={token}, https://evil.example/", "' '"),
        ('https://example.com/u?t={token}"', "'\"'"),
        ("https://example.com/unsubscribe", "{token}"),
        ("https://example.com/" + "a" * 500 + "?t={token}", "longer than"),
        ("https://exämple.com/u?t={token}", "'ä'"),
        # A domain is not percent-encoded: its IDNA form is the one to write.
        ("https://exämple.com/u?t={token}", "https://xn--exmple-cua.com/"),
        ("https://example.com/ü?t={token}", "percent-encode"),
    ],
)
def test_bad_unsubscribe_urls_are_refused(tmp_path: Path, url: str, why: str) -> None:
    with pytest.raises(ConfigError, match=r"series\.unsubscribe_url") as caught:
        load(tmp_path, SERIES + f"unsubscribe_url = '{url}'\n")
    assert why in str(caught.value)


@pytest.mark.parametrize(
    ("table", "line", "key"),
    [
        ("delivery", "max_rate = 0", "delivery.max_rate"),
        ("delivery", "max_rate = -5", "delivery.max_rate"),
        ("delivery", "max_rate = nan", "delivery.max_rate"),
        ("delivery", "max_rate = inf", "delivery.max_rate"),
        ("delivery", "max_retry_seconds = -1", "delivery.max_retry_seconds"),
        ("delivery", "max_retry_seconds = nan", "delivery.max_retry_seconds"),
        ("delivery", "timeout = 0", "delivery.timeout"),
        ("delivery", "timeout = -inf", "delivery.timeout"),
        ("delivery.smtp", "timeout = 0", "delivery.smtp.timeout"),
        ("delivery.smtp", "port = 0", "delivery.smtp.port"),
        ("delivery.smtp", "port = 70000", "delivery.smtp.port"),
        ("delivery.postmark", "settle_delay = -1", "delivery.postmark.settle_delay"),
        ("delivery", "batch_size = 0", "delivery.batch_size"),
    ],
)
def test_numbers_out_of_range_are_refused(tmp_path: Path, table: str, line: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(tmp_path, SERIES + f"[{table}]\n{line}\n")


def test_zero_retry_time_is_allowed(tmp_path: Path) -> None:
    settings = load(tmp_path, SERIES + "[delivery]\nmax_retry_seconds = 0\nmax_rate = 0.5\n")
    assert settings.delivery.max_retry_seconds == 0 and settings.delivery.max_rate == 0.5


def test_check_reports_a_bad_from_in_one_line(
    make_series: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = make_series()
    toml = (root / "seriespub.toml").read_text()
    (root / "seriespub.toml").write_text(
        toml.replace('"Author <author@example.com>"', '"Ann, Writer <a@example.com>"')
    )
    for command in (["check"], ["send", "next", "--yes"]):
        result = cli(root, *command)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert "'series.from'" in result.stderr and "2 addresses" in result.stderr
    assert not (root / ".seriespub" / "outbox").exists()
