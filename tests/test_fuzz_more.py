"""Fuzzing what the first round (test_fuzz_inputs.py) left out: the author's own email
template, settings only some commands read (`[inbox]`, numbers in `[delivery]`), and the
commands' own options; with a deadline on every example.

The oracle is test_fuzz_inputs.run's: exit 0, 1 or 2, no traceback, no secret printed, the
author's files unchanged. Here every example must also end within DEADLINE seconds: a
template that would run forever or take the machine's memory is stopped and named.

CI runs few examples, derandomized. A longer, random run:
    SERIESPUB_FUZZ_EXAMPLES=2000 pytest -q -p no:cacheprovider tests/test_fuzz_more.py
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from test_fuzz_inputs import BASE_TOML, a_series, good_draft, render_toml, run

DEADLINE = 20.0  # seconds: longer is a hang to understand, by design or not


def mjml(inner: str) -> str:
    """An author's template: the default layout's bones, `inner` in its one text block."""
    return (
        "<mjml><mj-body><mj-section><mj-column>\n<mj-text>"
        + inner
        + "</mj-text>\n<mj-text>{{ unsubscribe_url }}</mj-text>\n"
        "</mj-column></mj-section></mj-body></mjml>\n"
    )


def with_template(root: Path, template: str | bytes) -> Path:
    path = root / "templates" / "email.mjml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(template.encode() if isinstance(template, str) else template)
    return path


def timed(root: Path, *args: str, **kwargs: Any) -> Any:
    """`run` (the oracle) within DEADLINE seconds."""
    started = time.monotonic()
    result = run(root, *args, **kwargs)
    took = time.monotonic() - started
    assert took < DEADLINE, (args, f"{took:.1f} s")
    return result


def said(result: Any) -> str:
    return result.output + (result.stderr if result.stderr_bytes is not None else "")


TEMPLATE_COMMANDS = [
    ("check",),
    ("preview", "1"),
    ("preview", "1", "--text"),
    ("send", "next", "--dry-run"),
    ("send", "next", "--yes"),
]


# --- regressions: the template ---------------------------------------------------------


@pytest.mark.parametrize("command", [("check",), ("preview", "1"), ("send", "next", "--yes")])
@pytest.mark.parametrize(
    ("inner", "message"),
    [
        ("{{ series.title | nosuch }}", "template: No filter named 'nosuch'"),
        ("{% if series.title is nosuch %}x{% endif %}", "template: No test named 'nosuch'"),
    ],
)
def test_an_unknown_filter_or_test_is_one_line_with_the_line(
    command: tuple[str, ...], inner: str, message: str
) -> None:
    """Before: a traceback ending in jinja2's TemplateAssertionError (raised when compiling,
    after the parse that was guarded)."""
    with a_series(render_toml(BASE_TOML), good_draft()) as root:
        path = with_template(root, mjml(inner))
        result = timed(root, *command)
        assert result.exit_code == 1, said(result)
        assert f"{path}:2: {message}" in said(result)


def test_a_template_that_computes_forever_is_stopped_and_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: `preview 1` ran for hours (10^10 loop turns, no output to count)."""
    from seriespub.render import templating

    monkeypatch.setattr(templating, "MAX_RENDER_SECONDS", 1.0)
    loop = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    with a_series(render_toml(BASE_TOML), good_draft()) as root:
        path = with_template(root, mjml(loop))
        for command in (("preview", "1"), ("check",)):
            started = time.monotonic()
            result = timed(root, *command)
            assert time.monotonic() - started < 5
            assert result.exit_code == 1, said(result)
            assert f"{path}:2: template: stopped after 1 s" in said(result)


@pytest.mark.parametrize(
    "bomb",
    [
        # Each string doubles: 2^40 bytes long before the loop ends.
        "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
        "{{ '{:>99999999999}'.format(1) | length }}",  # 100 GB in one call
        "{{ ('%099999999999d' % 1) | length }}",
    ],
)
def test_a_template_that_takes_the_memory_is_stopped_and_named(
    monkeypatch: pytest.MonkeyPatch, bomb: str
) -> None:
    """Before: a 'MemoryError: MemoryError' only once the machine had no more to give
    (the doubling swapped its way to the kernel's OOM killer), or a 100 GB allocation tried."""
    from seriespub.render import templating

    monkeypatch.setattr(templating, "MAX_RENDER_MEMORY", 256 * 1024 * 1024)
    with a_series(render_toml(BASE_TOML), good_draft()) as root:
        path = with_template(root, mjml(bomb))
        result = timed(root, "preview", "1")
        assert result.exit_code == 1, said(result)
        assert f"{path}:2: template: uses more than 256 MB of memory" in said(result)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.symlink_to(p.parent / "gone.mjml"), "cannot read: No such file or directory"),
        (lambda p: p.mkdir(), "not a file"),
        (lambda p: p.symlink_to("/dev/zero"), "not a file"),
    ],
    ids=["dangling-symlink", "folder", "symlink-to-device"],
)
@pytest.mark.parametrize("command", [("check",), ("preview", "1"), ("send", "next", "--yes")])
def test_a_template_that_is_not_a_readable_file_is_named_not_skipped(
    make: Callable[[Path], None], problem: str, command: tuple[str, ...]
) -> None:
    """Before: templates/email.mjml was silently passed over for the default template, so
    the author's design was not what readers got (and `check` said all was well)."""
    with a_series(render_toml(BASE_TOML), good_draft()) as root:
        path = root / "templates" / "email.mjml"
        path.parent.mkdir()
        make(path)
        result = timed(root, *command)
        assert result.exit_code == 1, said(result)
        assert f"{path}: {problem}" in said(result)
        assert not (root / ".seriespub" / "outbox").exists() or not any(
            (root / ".seriespub" / "outbox").iterdir()
        )


def test_a_template_too_large_to_be_one_is_refused() -> None:
    with a_series(render_toml(BASE_TOML), good_draft()) as root:
        path = with_template(root, mjml("x" * (5 * 1024 * 1024)))
        result = timed(root, "preview", "1")
        assert result.exit_code == 1, said(result)
        assert f"{path}: over 4 MB: a template is a page of MJML" in said(result)


# --- regressions: numbers in the settings ------------------------------------------------

POSTMARK = {
    **BASE_TOML,
    "delivery.provider": '"postmark"',
    "delivery.max_retry_seconds": "0",
}
INBOX = {
    **BASE_TOML,
    "inbox.host": '"127.0.0.1"',
    "inbox.port": "9",
    "inbox.username": '"ann"',
    "inbox.security": '"none"',
}


@pytest.mark.parametrize(
    ("toml", "key", "value", "command", "message"),
    [
        (POSTMARK, "delivery.timeout", "1e308", ("send", "next", "--yes"), "at most 86400"),
        (INBOX, "inbox.timeout", "1e308", ("subscribers", "sync"), "at most 86400"),
        (BASE_TOML, "delivery.smtp.timeout", "1e10", ("check",), "at most 86400"),
        (
            POSTMARK,
            "delivery.postmark.settle_delay",
            "1e308",
            ("send", "next", "--yes"),
            "at most 86400",
        ),
        (BASE_TOML, "delivery.max_rate", "1e-300", ("send", "next", "--yes"), "at least 1/86400"),
    ],
)
def test_a_number_too_large_for_a_clock_is_refused_with_its_key(
    toml: dict[str, str], key: str, value: str, command: tuple[str, ...], message: str
) -> None:
    """Before: OverflowError tracebacks (socket timeouts, timedelta, a rate limiter's wait)."""
    env = {
        "SERIESPUB_SECRET": os.environ["SERIESPUB_SECRET"],
        "POSTMARK_SERVER_TOKEN": "pm-" + "0" * 36,
        "IMAP_PASSWORD": "pw",
    }
    with a_series(render_toml({**toml, key: value}), good_draft()) as root:
        result = timed(root, *command, env=env)
        assert result.exit_code == 1, said(result)
        assert f"seriespub.toml: '{key}' must be {message}" in said(result), said(result)
        assert not (root / ".seriespub" / "outbox").exists()
