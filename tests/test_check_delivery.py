"""`check` reports what would stop the next send at its first step: a provider's secret
that is not set, or a setting it cannot do without (Mailgun's `domain`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]

TABLES = {
    "postmark": ("", "POSTMARK_SERVER_TOKEN"),
    "sendgrid": ("", "SENDGRID_API_KEY"),
    "resend": ("", "RESEND_API_KEY"),
    "mailgun": ('domain = "mg.example.com"\n', "MAILGUN_API_KEY"),
    "ses": ('region = "eu-west-1"\n', "AWS_SECRET_ACCESS_KEY"),
}


def errors(cli: Cli, root: Path) -> tuple[int, list[str]]:
    result = cli(root, "check", "--json")
    found = json.loads(result.stdout)["findings"]
    return result.exit_code, [f["message"] for f in found if f["level"] == "error"]


def series_for(make_series: MakeSeries, provider: str, table: str) -> Path:
    delivery = f'[delivery]\nprovider = "{provider}"\n[delivery.{provider}]\n{table}'
    return make_series(delivery=delivery, drafts=1)


@pytest.mark.parametrize("provider", sorted(TABLES))
def test_a_missing_secret_is_an_error(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    table, secret = TABLES[provider]
    if provider == "ses":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCHECK")
    root = series_for(make_series, provider, table)
    code, found = errors(cli, root)
    assert code == 1
    assert [m for m in found if m.startswith(f"{secret} is not set")], found


@pytest.mark.parametrize("provider", sorted(TABLES))
def test_a_secret_in_dotenv_is_enough(make_series: MakeSeries, cli: Cli, provider: str) -> None:
    table, secret = TABLES[provider]
    root = series_for(make_series, provider, table)
    (root / ".env").write_text(f"{secret}=x-check\nAWS_ACCESS_KEY_ID=AKIDCHECK\n")
    assert errors(cli, root) == (0, [])


def test_mailgun_without_a_domain_is_an_error(
    make_series: MakeSeries, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILGUN_API_KEY", "key-check")
    root = series_for(make_series, "mailgun", "")
    code, found = errors(cli, root)
    assert code == 1
    assert found == [
        "'delivery.mailgun.domain' is not set: the mailgun provider needs the sending domain"
    ]
