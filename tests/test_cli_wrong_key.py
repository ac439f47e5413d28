"""A wrong API key stops a send and a sync with a hint that names the variable to check,
for every HTTP provider, and never shows the key itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import postmark_delivery, sendgrid_delivery
from fakes.httpserver import serve
from fakes.mailgun import MailgunState, fake_mailgun
from fakes.postmark import PostmarkHandler, PostmarkState
from fakes.resend import ResendState, fake_resend
from fakes.sendgrid import SendgridHandler, SendgridState
from fakes.ses import SesState, fake_ses

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]

RIGHT, WRONG = "right-key-0123456789", "wrong-key-ABCDEFGHIJ"


@contextmanager
def running(provider: str) -> Iterator[tuple[str, str]]:
    """The fake of `provider`, which accepts only RIGHT: (its `[delivery]` tables, the
    variable holding the key)."""
    if provider == "postmark":
        with serve(PostmarkHandler, PostmarkState(token=RIGHT)) as (url, _):
            yield postmark_delivery(url), "POSTMARK_SERVER_TOKEN"
    elif provider == "sendgrid":
        with serve(SendgridHandler, SendgridState(key=RIGHT)) as (url, _):
            yield sendgrid_delivery(url), "SENDGRID_API_KEY"
    elif provider == "resend":
        with fake_resend(ResendState(api_key=RIGHT)) as (url, _):
            yield (
                f'[delivery]\nprovider = "resend"\n[delivery.resend]\napi_url = "{url}"\n',
                ("RESEND_API_KEY"),
            )
    elif provider == "mailgun":
        with fake_mailgun(MailgunState(api_key=RIGHT, domain="mg.example.com")) as (url, _):
            yield (
                (
                    '[delivery]\nprovider = "mailgun"\n[delivery.mailgun]\n'
                    f'domain = "mg.example.com"\napi_url = "{url}"\n'
                ),
                "MAILGUN_API_KEY",
            )
    else:
        state = SesState(access_key="AKIDRIGHT", secret_key=RIGHT, region="eu-west-1")
        with fake_ses(state) as (url, _):
            yield (
                (
                    '[delivery]\nprovider = "ses"\n[delivery.ses]\nregion = "eu-west-1"\n'
                    f'api_url = "{url}"\n'
                ),
                "AWS_SECRET_ACCESS_KEY",
            )


SEND, SYNC = ("send", "next", "--yes"), ("subscribers", "sync")


@pytest.mark.parametrize(
    ("provider", "command"),
    [
        *((p, c) for p in ("postmark", "sendgrid", "resend", "mailgun") for c in (SEND, SYNC)),
        ("ses", SEND),  # seriespub reads no suppressions from SES: its sync asks nothing
    ],
)
def test_a_wrong_key_is_named_in_the_hint(
    make_series: MakeSeries,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    command: tuple[str, ...],
) -> None:
    with running(provider) as (delivery, variable):
        monkeypatch.setenv(variable, WRONG)
        if provider == "ses":
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDRIGHT")
        root = make_series(delivery=delivery, drafts=1)
        result = cli(root, *command)
    assert result.exit_code == 1, result.output
    hints = [line for line in result.stderr.splitlines() if line.startswith("hint: ")]
    assert hints and hints[0].startswith("hint: check ") and variable in hints[0], result.stderr
    assert WRONG not in result.output
