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
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from test_fuzz_inputs import (
    BASE_TOML,
    _toml_float,
    a_series,
    fuzz_settings,
    good_draft,
    hostile_text,
    render_toml,
    run,
    toml_string,
)

# Hostile settings name hosts: none of them is ever looked up (conftest.loopback_only).
pytestmark = pytest.mark.usefixtures("loopback_only")

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
    return str(result.output) + (str(result.stderr) if result.stderr_bytes is not None else "")


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


def test_a_template_without_the_unsubscribe_link_is_warned_of() -> None:
    """Before: `check` said nothing and the HTML part went out with no way to leave (only
    the text part and the List-Unsubscribe header had one)."""
    with a_series(render_toml(BASE_TOML), good_draft()) as root:
        path = with_template(root, mjml("{{ content }}").replace("{{ unsubscribe_url }}", "Bye"))
        result = timed(root, "check")
        assert f"{path}: the HTML part has no unsubscribe link" in said(result), said(result)
        assert said(result).count("no unsubscribe link") == 1
        with_template(root, mjml("{{ content }}"))
        assert "no unsubscribe link" not in said(timed(root, "check"))


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


# --- fuzzing: the author's template ------------------------------------------------------

JINJA_BITS = [
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "{{ series.title }}",
    "{{ series.title | upper }}",
    "{{ nosuch }}",
    "{{ series.title | nosuch }}",
    "{% if series is nosuch %}{% endif %}",
    "{% for i in range(99999) %}",
    "{% endfor %}",
    "{% if next %}",
    "{% endif %}",
    "{% else %}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}",
    "{{ 1/0 }}",
    "{{ unsubscribe_url }}",
    "{{ unsubscribe_url | upper }}",
    "{{ subscriber.name }}",
    "{{ subscriber.name | default('reader') }}",
    "{% if subscriber.name %}x{% endif %}",
    "{{ content }}",
    "{{ words.unsubscribe }}",
    "{{ instalment.title | start_side }}",
    "{{ next.title }}",
    "{% set x = 'a' * 999999 %}{{ x | length }}",
    "{{ 'x' | center(999999) | length }}",
    "{{ ('%09999999d' % 1) | length }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{% include 'x.mjml' %}",
    "{% extends 'x.mjml' %}",
    "{% raw %}",
    "{% endraw %}",
    "{{ lipsum(5) }}",
    "{{ range(10) | batch(3) | list }}",
    "{{ '{0.__class__}'.format(series) }}",
    "%%SP0%%",
    "{{ instalment.extra.update({}) }}",
]
MJML_BITS = [
    "<mj-text>",
    "</mj-text>",
    "<mj-section>",
    "</mj-section>",
    "<mj-column>",
    "<mj-image src='x.png'>",
    '<mj-image src="https://example.com/a.png" />',
    '<mj-button href="{{ unsubscribe_url }}">Leave</mj-button>',
    "<mj-html-attributes>",
    "<![CDATA[",
    "<mj-raw><script>alert(1)</script></mj-raw>",
    '<mj-include path="/etc/passwd" />',
    "<mj-preview>{{ instalment.preheader }}</mj-preview>",
    '<mj-text css-class="a\nb">',
    "<",
    ">",
    "&",
    "&nbsp;",
    "</mjml>",
    "<mjml>",
    "\\",
    '"',
]


@st.composite
def hostile_template(draw: st.DrawFn) -> str | bytes:
    """The default-like template with pieces of Jinja and MJML put in, or stranger text."""
    base = draw(st.sampled_from(["mjml", "default", "empty"]))
    if base == "default":
        from seriespub.render.email import default_template

        text = default_template()
    else:
        text = mjml("Hello") if base == "mjml" else ""
    pieces = st.one_of(
        st.sampled_from(JINJA_BITS),
        st.sampled_from(MJML_BITS),
        st.text(max_size=12),
    )
    for piece in draw(st.lists(pieces, max_size=5)):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + piece + text[at:]
    if draw(st.integers(0, 7)) == 0:
        raw = text.encode()
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=3)) + raw[at:]
    return text


@fuzz_settings(default=30)
@given(template=hostile_template(), command=st.sampled_from([*TEMPLATE_COMMANDS, ("site",)]))
def test_fuzzed_template_is_one_line_or_works_in_time(
    template: str | bytes, command: tuple[str, ...]
) -> None:
    with a_series(render_toml(BASE_TOML), good_draft()) as root, watchdog():
        with_template(root, template)
        timed(root, *command)


# --- fuzzing: [inbox] through subscribers sync, and the commands' own options -------------

inbox_value = {
    "inbox.port": st.one_of(st.integers(-2, 70_000), st.sampled_from([9, 2**63 - 1])).map(str),
    "inbox.security": st.sampled_from(['"tls"', '"starttls"', '"none"', '"ssl"', '""', "1"]),
    "inbox.folder": hostile_text.map(toml_string),
    "inbox.done_folder": hostile_text.map(toml_string),
    "inbox.username": hostile_text.map(toml_string),
    "inbox.timeout": st.one_of(
        st.floats(allow_nan=False, allow_infinity=False).map(_toml_float),
        st.sampled_from(["0.001", "1e308", "86400", "86401", "-0.0", "1"]),
    ),
    "inbox.ca_file": st.sampled_from(['"/nonexistent"', '"."', '"seriespub.toml"', '""', "[]"]),
}


@fuzz_settings(default=20)
@given(
    values=st.dictionaries(
        st.sampled_from(sorted(inbox_value)),
        st.sampled_from(sorted(inbox_value)).flatmap(lambda key: inbox_value[key]),
        max_size=3,
    ),
    command=st.sampled_from([("subscribers", "sync"), ("check",), ("send", "next", "--yes")]),
)
def test_fuzzed_inbox_is_one_line_or_works_in_time(
    values: dict[str, str], command: tuple[str, ...]
) -> None:
    """Only ever 127.0.0.1, on a port where nothing listens (or one the check refuses)."""
    toml = {**INBOX, **values, "inbox.host": '"127.0.0.1"', "inbox.timeout": "2"}
    if "inbox.timeout" in values:
        toml["inbox.timeout"] = values["inbox.timeout"]
    env = {"SERIESPUB_SECRET": os.environ["SERIESPUB_SECRET"], "IMAP_PASSWORD": "imap-pw-93a1"}
    with a_series(render_toml(toml), good_draft()) as root, watchdog():
        timed(root, *command, env=env, secrets=("imap-pw-93a1",))


number = st.one_of(
    st.integers(-3, 3),
    st.integers(),
    st.sampled_from([99999, 100000, 2**31, 2**63, 10**30]),
).map(str)
odd_text = st.one_of(
    st.sampled_from(["", " ", "-", "--", ".", "..", "/", "~", "-x", "1e3", "0x10", "NaN"]),
    st.text(st.characters(blacklist_characters="\x00"), max_size=12),
)
odd_path = st.one_of(
    odd_text,
    st.sampled_from(
        [
            "seriespub.toml",
            "subscribers.csv",
            ".env",
            "drafts",
            "drafts/x.ics",
            "templates/x.ics",
            ".seriespub/ledger.db",
            "nodir/x.ics",
            "/dev/null",
            "/dev/full",
            "/proc/self/status",
            "a" * 300,
            "x.ics/",
        ]
    ),
)
OPTION_COMMANDS = st.one_of(
    st.tuples(st.just("log"), st.one_of(number, odd_text)),
    st.tuples(st.just("log"), number, st.sampled_from(["--failed", "--unknown", "--json"])),
    st.tuples(st.just("preview"), st.one_of(number, odd_text)),
    st.tuples(st.just("preview"), st.just("1"), st.just("--html"), odd_path),
    st.tuples(st.just("schedule"), st.just("--ics"), odd_path),
    st.tuples(st.just("subscribers"), st.just("list"), st.just("--json")),
    st.tuples(st.just("subscribers"), st.just("list"), st.just("--status"), odd_text),
    st.tuples(st.just("send"), st.just("next"), st.just("--dry-run"), st.just("--limit"), number),
    st.tuples(st.just("site"), st.just("--serve"), st.just("--port"), odd_text),
    st.tuples(st.just("new"), odd_text),
)


@fuzz_settings(default=30)
@given(command=OPTION_COMMANDS)
def test_fuzzed_options_are_one_line_or_work_in_time(command: tuple[str, ...]) -> None:
    """`site --serve` only with a port typer refuses: a served site would never return."""
    assume(command[:2] != ("site", "--serve") or not _a_port(command[3]))
    with a_series(render_toml(BASE_TOML), good_draft()) as root, watchdog(), inside(root.parent):
        timed(root, *command)


@contextmanager
def inside(folder: Path) -> Iterator[None]:
    """A relative `--ics`/`--html` path is the shell's: here, beside the throwaway series,
    never in the checkout the tests run from."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _a_port(text: str) -> bool:
    try:
        return 0 <= int(text) <= 65535
    except ValueError:
        return False


@contextmanager
def watchdog(seconds: float = DEADLINE * 2) -> Iterator[None]:
    """A hang becomes a failure naming where it hung (SIGALRM in the main thread), not a
    suite that never ends."""

    def hung(signum: int, frame: Any) -> None:
        raise AssertionError(f"hung for {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_recursive_template_under_a_raised_recursion_limit_is_named_not_a_crash() -> None:
    """A macro that calls itself is stopped by Python's recursion limit. A caller that had
    raised it (Hypothesis does, for its tests; an embedding program may) let the template
    recurse until the C stack ran out: a segmentation fault (seen once in about 40 runs of
    these tests). A render is held to a depth of its own, whatever the limit."""
    import subprocess
    import sys

    from instalments import seriespub_env

    code = (
        "import sys\nsys.setrecursionlimit(100_000)\nfrom seriespub.cli import app\n"
        "app(['preview', '1'])\n"
    )
    recursive = "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"
    with a_series(render_toml(BASE_TOML), good_draft()) as root:
        path = with_template(root, mjml(recursive))
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env=seriespub_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1, (done.returncode, done.stderr[-500:])
    assert f"{path}:2: template: recursion too deep" in done.stderr
