"""Fuzzing the author's input files through the real CLI: hostile seriespub.toml values,
draft front matter and subscriber lists, each run through the commands that read them.

The oracle, for every example: the exit code is 0, 1 or 2; nothing escapes as an uncaught
exception (no traceback); no secret is printed; the input files are byte for byte as they
were (an import may only add to subscribers.csv, never drop a reader). A defect found here
gets its own regression test with the exact input beside the existing edge tests.

CI runs few examples, derandomized (fast and repeatable). A longer, random run:
    SERIESPUB_FUZZ_EXAMPLES=5000 pytest -q -p no:cacheprovider tests/test_fuzz_inputs.py
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import os
import tempfile
import traceback
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import DRAFT, TEST_SECRET, seriespub_process, write_subscribers

# Hostile settings name hosts: none of them is ever looked up (conftest.loopback_only).
pytestmark = pytest.mark.usefixtures("loopback_only")

LONG_RUN = int(os.environ.get("SERIESPUB_FUZZ_EXAMPLES", "0"))
PROVIDER_TOKEN = "pm-token-" + "fedcba9876543210" * 2  # set for every run: never printed


def fuzz_settings(default: int) -> settings:
    """Few derandomized examples in CI; SERIESPUB_FUZZ_EXAMPLES for a long random run."""
    return settings(
        max_examples=LONG_RUN or default,
        derandomize=not LONG_RUN,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


# --- running the CLI with the oracle ---------------------------------------------------

BASE_TOML: dict[str, str] = {
    "series.title": '"Test Series"',
    "series.from": '"Author <author@example.com>"',
    "series.unsubscribe_url": '"https://example.com/unsubscribe?token={token}"',
    "delivery.provider": '"outbox"',
    "schedule.first_release": "2026-12-01T09:00:00",
    "schedule.timezone": '"Europe/London"',
    "site.base_url": '"https://example.com/series/"',
    # Any provider a value switches to answers (refusing) on 127.0.0.1, never the Internet.
    **{
        f"delivery.{p}.api_url": '"http://127.0.0.1:9/"'
        for p in ("postmark", "sendgrid", "mailgun", "resend", "ses")
    },
    "delivery.smtp.host": '"127.0.0.1"',
    "delivery.smtp.port": "9",
}


def render_toml(values: dict[str, str]) -> str:
    """TOML text from dotted key → literal: one [table] per prefix, in first-seen order."""
    tables: dict[str, list[str]] = {}
    for dotted, literal in values.items():
        table, _, key = dotted.rpartition(".")
        tables.setdefault(table, []).append(f"{_toml_key(key)} = {literal}")
    return "".join(
        (f"[{table}]\n" if table else "") + "".join(line + "\n" for line in lines) + "\n"
        for table, lines in sorted(tables.items(), key=lambda kv: kv[0] != "")
    )


def _toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else toml_string(key)


def toml_string(text: str) -> str:
    """`text` as a TOML basic string, control characters escaped."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c < " " or c == "\x7f" or 0xD800 <= ord(c) <= 0xDFFF:
            out.append(f"\\u{ord(c):04x}" if ord(c) < 0xD800 else "?")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def new_series(root: Path, toml: str | bytes, draft: str | bytes, csv_bytes: bytes) -> None:
    (root / "drafts").mkdir(parents=True)
    for path, data in (
        (root / "seriespub.toml", toml),
        (root / "drafts" / "01-part-1.md", draft),
        (root / "subscribers.csv", csv_bytes),
    ):
        path.write_bytes(data.encode() if isinstance(data, str) else data)


def good_draft(number: int = 1) -> str:
    return DRAFT.format(title=f"Part {number} title", status="ready", number=number)


def good_list() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        write_subscribers(Path(tmp) / "s.csv", 3)
        return (Path(tmp) / "s.csv").read_bytes()


GOOD_LIST = good_list()


@contextmanager
def a_series(toml: str | bytes, draft: str | bytes, csv_bytes: bytes = GOOD_LIST) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "series"
        new_series(root, toml, draft, csv_bytes)
        yield root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every input file under `root` (not .seriespub/ state, not a built site)."""
    skip = (".seriespub", "site")
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] not in skip
    }


def run(
    root: Path,
    *args: str,
    changes: tuple[str, ...] = (),
    secrets: tuple[str, ...] = (),
    env: dict[str, str | None] | None = None,
) -> Any:
    """`seriespub ARGS -C root` in-process, checked against the oracle; `changes` are the
    files this command may change (appending readers to the list), `secrets` more values
    that must never be printed, `env` replaces the secrets set in the environment."""
    before = snapshot(root)
    if env is None:
        env = {"SERIESPUB_SECRET": TEST_SECRET, "POSTMARK_SERVER_TOKEN": PROVIDER_TOKEN}
    from seriespub.cli import app

    result = CliRunner().invoke(app, [*args, "-C", str(root)], env=env, catch_exceptions=True)
    said = result.output + (result.stderr if result.stderr_bytes is not None else "")
    where = f"seriespub {' '.join(args)}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"{where}: uncaught exception\n{trace}\n{said[-1500:]}")
    assert result.exit_code in (0, 1, 2), (where, result.exit_code, said[-1500:])
    if currently_in_test_context():
        event(f"exit {result.exit_code}")  # --hypothesis-show-statistics: how many got through
    assert "Traceback" not in said, (where, said[-3000:])
    for secret in (TEST_SECRET, PROVIDER_TOKEN, *secrets):
        assert secret not in said, (where, said)
    after = snapshot(root)
    for name in before:  # new files are fine: a site, an outbox in a folder named so
        if name in changes:
            continue
        assert before.get(name) == after.get(name), (where, f"{name} changed")
    return result


# --- seriespub.toml ----------------------------------------------------------------------


def documented_keys(cls: Any = None, prefix: str = "") -> dict[str, Any]:
    """Every key of seriespub.toml (the settings' dataclasses), tables included → its type."""
    from seriespub.config import Settings

    cls = cls or Settings
    keys: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        dotted = prefix + f.name.rstrip("_")
        inner = [a for a in typing.get_args(hints[f.name]) if a is not type(None)] or [
            hints[f.name]
        ]
        keys[dotted] = inner[0]
        if dataclasses.is_dataclass(inner[0]):
            keys.update(documented_keys(inner[0], dotted + "."))
    return keys


KEYS = documented_keys()
PROVIDERS = ["outbox", "postmark", "sendgrid", "mailgun", "resend", "ses", "smtp"]

hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(max_codepoint=0x9F), max_size=20),  # control characters, NUL
    st.sampled_from(["", " ", "\x00", "a\x00b", "\n", "..", "/", "/etc", ".seriespub", "{token}"]),
    st.sampled_from(["https://", "http://", "mailto:", "https://x/{token}", "https://bü.example/"]),
    st.integers(1, 200_000).map(lambda n: "x" * n),
    st.builds(  # plain text with one control character in it: rare in st.text() alone
        "{}{}{}".format,
        st.text(max_size=5),
        st.sampled_from(["\x00", "\x01", "\x1b", "\x7f", "\n", "\r", "\t"]),
        st.text(max_size=5),
    ),
    st.sampled_from([*PROVIDERS, "oldest", "all", "from_start", "current", "tls", "none"]),
)


def toml_datetime() -> st.SearchStrategy[str]:
    stamp = st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59))
    zone = st.sampled_from(["", "Z", "+14:00", "-12:00", "+05:45"])
    return st.one_of(
        st.builds(lambda t, z: t.isoformat() + z, stamp, zone),  # offset and local datetimes
        st.dates().map(dt.date.isoformat),  # local date
        st.times().map(lambda t: t.isoformat()),  # local time
        st.builds(lambda t: t.isoformat(sep=" "), stamp),
    )


def toml_scalar() -> st.SearchStrategy[str]:
    return st.one_of(
        hostile_text.map(toml_string),
        st.integers(-(2**63), 2**63 - 1).map(str),
        st.sampled_from(["0", "-1", "1", "65536", "99999999999999999999", "0x7fffffffffffffff"]),
        st.floats(allow_nan=True, allow_infinity=True).map(_toml_float),
        st.sampled_from(["1e-308", "1e308", "5e-324", "0.0", "-0.0", "0.5"]),
        st.sampled_from(["true", "false"]),
        toml_datetime(),
    )


def _toml_float(x: float) -> str:
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    text = repr(x)
    return text if any(c in text for c in ".en") else text + ".0"


toml_value = st.recursive(
    toml_scalar(),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(st.sampled_from(["a", "b", "title", "x y"]), inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{_toml_key(k)} = {v}" for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=6,
)


def right_type(hint: Any) -> st.SearchStrategy[str]:
    """A value of the key's own type, at its edges: what the type check lets through."""
    if hint is int:
        return st.one_of(st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1)).map(str)
    if hint is float:
        return st.one_of(st.floats(allow_nan=False).map(_toml_float), st.integers(-3, 10).map(str))
    if hint is dt.datetime:
        return toml_datetime()
    if typing.get_origin(hint) is tuple:
        return st.lists(st.dates().map(dt.date.isoformat), max_size=4).map(
            lambda xs: "[" + ", ".join(xs) + "]"
        )
    if dataclasses.is_dataclass(hint):
        return st.just("{}")
    return hostile_text.map(toml_string)


@st.composite
def hostile_toml(draw: st.DrawFn) -> str | bytes:
    """A valid config with a few keys set to hostile values, or broken in its shape."""
    values = dict(BASE_TOML)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(KEYS)))
        if key == "inbox" or key.startswith("inbox."):
            values.setdefault("inbox.host", '"127.0.0.1"')
            values.setdefault("inbox.username", '"ann"')
        if any(k.startswith(key + ".") for k in values):  # a table: replace it whole
            values = {k: v for k, v in values.items() if not k.startswith(key + ".")}
        values[key] = draw(st.one_of(toml_value, right_type(KEYS[key])))
    text = render_toml(values)
    shape = draw(st.sampled_from(["plain"] * 6 + ["unknown", "duplicate", "garbage", "bytes"]))
    if shape == "unknown":
        text += draw(st.sampled_from(["[series]\n", "[nope]\n", "[delivery.zzz]\n", ""]))
        text += f"{draw(st.sampled_from(['zzz', 'series', 'a.b']))} = {draw(toml_value)}\n"
    elif shape == "duplicate":
        key = draw(st.sampled_from(list(values)))
        text += f"[{key.rpartition('.')[0]}]\n{key.rpartition('.')[2]} = {values[key]}\n"
    elif shape == "garbage":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=10)) + text[at:]
    elif shape == "bytes":
        at = draw(st.integers(0, len(text)))
        raw = text.encode()
        return raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    return text


CONFIG_COMMANDS = [
    ("check",),
    ("status",),
    ("schedule",),
    ("preview", "1"),
    ("send", "next", "--dry-run"),
    ("site",),
]


@fuzz_settings(default=25)
@given(toml=hostile_toml(), command=st.sampled_from(CONFIG_COMMANDS))
def test_fuzzed_config_is_one_line_or_works(toml: str | bytes, command: tuple[str, ...]) -> None:
    with a_series(toml, good_draft()) as root:
        run(root, *command)


# --- front matter ------------------------------------------------------------------------

FRONT_KEYS = ["title", "subject", "preheader", "number", "status", "release"]

yaml_scalar = st.one_of(
    st.sampled_from(
        [
            "2026-12-01",
            "2026-12-01 09:00",
            "2026-12-01T09:00:00+02:00",
            "0001-01-01",
            "9999-12-31 23:59:59",
            "2026-02-30",
            "09:00",
            "~",
            "null",
            "",
            "yes",
            "no",
            "on",
            "true",
            "'12'",
            "12",
            "0",
            "-1",
            "99999",
            "100000",
            "1e400",
            ".nan",
            "-.inf",
            "0x1F",
            "0o17",
            "1_000",
            "12:30:00",
            "ready",
            "draft",
            "READY",
            "!!binary aGVsbG8=",
            "!!python/object/apply:os.system ['true']",
            "!!python/name:os.system",
            "!!timestamp 2026-12-01",
            "!!int '3'",
            "!!str 3",
            "!!float x",
            "!!set {a, b}",
            "!!omap [a: 1]",
            "&x 1",
            "*x",
            "&y [1, *y]",
            "|\n  block\n  text",
            ">-\n  folded",
            "'unterminated",
            '"\\x00nul"',
            '"\\ud800"',
            "{{ name }}",
            "%%SP1%%",
            "[1, [2, [3]]]",
            "{a: {b: c}}",
            "[]",
            "{}",
            "? complex\n: key",
        ]
    ),
    st.integers(-(10**30), 10**30).map(str),
    st.text(max_size=30).map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.text(max_size=30),
    st.integers(1, 100_000).map(lambda n: "y" * n),
)

yaml_value = st.recursive(
    yaml_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(inner, max_size=3).map(
            lambda xs: "{" + ", ".join(f"k{i}: {x}" for i, x in enumerate(xs)) + "}"
        ),
    ),
    max_leaves=5,
)


@st.composite
def hostile_draft(draw: st.DrawFn) -> str | bytes:
    """A ready draft whose front matter has a few hostile values (or extra keys)."""
    front = {"title": "Part 1", "status": "ready"}
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*FRONT_KEYS, "extra", "series", "content", "title "]))
        front[key] = draw(yaml_value)
    if draw(st.booleans()):
        front = dict(draw(st.permutations(list(front.items()))))
    lines = "".join(f"{k}: {v}\n" for k, v in front.items())
    body = draw(
        st.one_of(
            st.sampled_from(["Hello {{ name }}.\n", "Body\n", "", "---\n", "# Head\n"]),
            st.text(max_size=60),  # NULs, lone surrogates' neighbours, stray Jinja and Markdown
            st.lists(
                st.sampled_from(
                    ["{{", "}}", "{%", "[x](", ")", "![a](", "<b>", "\n", "`", "> ", "- ", "|"]
                ),
                max_size=12,
            ).map("".join),
        )
    )
    text = f"---\n{lines}---\n{body}"
    if draw(st.integers(0, 9)) == 0:
        raw = text.encode()
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=3)) + raw[at:]
    return text


DRAFT_COMMANDS = [("check",), ("status",), ("preview", "1"), ("send", "next", "--dry-run")]


@fuzz_settings(default=25)
@given(draft=hostile_draft(), command=st.sampled_from(DRAFT_COMMANDS))
def test_fuzzed_front_matter_is_one_line_or_works(
    draft: str | bytes, command: tuple[str, ...]
) -> None:
    with a_series(render_toml(BASE_TOML), draft) as root:
        run(root, *command)


# --- subscribers.csv and import files ----------------------------------------------------

HEADERS = [
    ["email", "name", "status", "subscribed_at"],
    ["email", "name", "status", "subscribed_at", "city"],
    ["Email Address", "First Name", "Last Name"],
    ["email", "email", "name"],
    ["email"],
    ["name", "status"],
    [],
    ["", "", ""],
    ["email", "name", "status", "subscribed_at", "unsubscribed_at", "state"],
    ["\ufeffemail", "name"],
    ["sep=;"],
]

cell = st.one_of(
    st.sampled_from(
        [
            "ann@example.com",
            "reader0001@example.com",
            "READER0002@EXAMPLE.COM",
            "bo@bücher.example",
            "josé@example.com",
            "mailto:cy@example.com",
            "Di <di@example.com>",
            "cat@example",
            "",
            "active",
            "unsubscribed",
            "bounced",
            "complained",
            "pending",
            "actve",
            "2026-01-01",
            "2026-13-45",
            "0001-01-01",
            "yes",
            "JosÃ©",
            '"',
            '""',
            "a,b",
            "a;b",
            "line\nbreak",
            "cr\ronly",
            "\x00",
            "=cmd()",
        ]
    ),
    st.text(max_size=15),
    st.integers(1, 70_000).map(lambda n: "z" * n),
)


@st.composite
def hostile_csv(draw: st.DrawFn) -> bytes:
    header = list(draw(st.sampled_from(HEADERS)))
    width = max(len(header), 1)
    rows = draw(
        st.lists(
            st.lists(cell, min_size=0, max_size=width + 2),
            max_size=6,
        )
    )
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONE, "raw"]))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = _csv_text([header, *rows], delimiter, quoting, end)
    encoding = draw(st.sampled_from(["utf-8"] * 5 + ["utf-8-sig", "utf-16", "utf-16-le", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at:]
    return data


def _csv_text(rows: list[list[str]], delimiter: str, quoting: Any, end: str) -> str:
    buffer = io.StringIO()
    try:
        if quoting != "raw":
            writer = csv.writer(
                buffer, delimiter=delimiter, quoting=quoting, escapechar="\\", lineterminator=end
            )
            writer.writerows(rows)
            return buffer.getvalue()
    except csv.Error:  # QUOTE_NONE cannot write a lone empty cell: write it raw
        pass
    # No escaping at all: stray quotes and delimiters as typed.
    return "".join(delimiter.join(row) + end for row in rows)


LIST_COMMANDS = [
    ("check",),
    ("status",),
    ("subscribers", "list"),
    ("preview", "1"),
    ("send", "next", "--dry-run"),
]


@fuzz_settings(default=20)
@given(data=hostile_csv(), command=st.sampled_from(LIST_COMMANDS))
def test_fuzzed_subscriber_list_is_one_line_or_works(data: bytes, command: tuple[str, ...]) -> None:
    with a_series(render_toml(BASE_TOML), good_draft(), data) as root:
        run(root, *command)


def addresses(data: bytes) -> set[str]:
    rows = csv.DictReader(io.StringIO(data.decode("utf-8")))
    return {row["email"] for row in rows}


@fuzz_settings(default=20)
@given(data=hostile_csv())
def test_fuzzed_import_is_one_line_and_loses_no_reader(data: bytes) -> None:
    with a_series(render_toml(BASE_TOML), good_draft()) as root:
        source = root.parent / "export.csv"
        source.write_bytes(data)
        run(root, "subscribers", "import", str(source), changes=("subscribers.csv",))
        after = (root / "subscribers.csv").read_bytes()
        assert addresses(GOOD_LIST) <= addresses(after)
        assert source.read_bytes() == data


# --- .env --------------------------------------------------------------------------------

SECRET_NAMES = [
    "SERIESPUB_SECRET",
    "SENDGRID_API_KEY",
    "IMAP_PASSWORD",
    "SERIESPUB_SECRET_PREVIOUS",
]


@st.composite
def hostile_dotenv(draw: st.DrawFn) -> tuple[bytes, tuple[str, ...]]:
    """A .env of secrets (each holding a distinctive token) in hostile shapes."""
    lines, tokens = [], []
    for number in range(draw(st.integers(0, 5))):
        token = f"tok{number}-" + "9f8e7d6c" * 3
        tokens.append(token)
        around = draw(st.sampled_from(["{}", '"{}', "'{}'", '"{}\\n"', "{} # c", " {} ", "{}\x00"]))
        value = around.format(token) + draw(st.text(max_size=8))
        name = draw(st.sampled_from([*SECRET_NAMES, "export SENDGRID_API_KEY", "", "A B", "="]))
        lines.append(f"{name}={value}")
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)
    data = text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"])), "replace")
    if draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at:]
    return data, tuple(tokens)


SENDGRID_TOML = {
    **BASE_TOML,
    "delivery.provider": '"sendgrid"',
    "delivery.max_retry_seconds": "0",
    "delivery.sendgrid.asm_group_id": "7",
}


@fuzz_settings(default=20)
@given(
    dotenv=hostile_dotenv(),
    toml=st.sampled_from([BASE_TOML, SENDGRID_TOML]),
    command=st.sampled_from([("check",), ("send", "next", "--dry-run"), ("send", "next", "--yes")]),
)
def test_fuzzed_dotenv_is_one_line_and_never_printed(
    dotenv: tuple[bytes, tuple[str, ...]], toml: dict[str, str], command: tuple[str, ...]
) -> None:
    data, tokens = dotenv
    with a_series(render_toml(toml), good_draft()) as root:
        (root / ".env").write_bytes(data)
        run(root, *command, secrets=tokens, env={name: None for name in SECRET_NAMES})


# --- send next --at T ----------------------------------------------------------------------

at_value = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "slot",
            "",
            " ",
            "now",
            "2026-12-01 09:00",
            "2026-13-45 25:61",
            "2026-12-01T09:00+14:00",
            "2026-12-02 23:59:59.999999",
            "2026-11-30 9:00",
            "\x00",
        ]
    ),
    st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)).map(str),
    st.builds(
        lambda t, z: t.isoformat() + z,
        st.datetimes(),
        st.sampled_from(["", "Z", "+23:59", "-99:00"]),
    ),
    st.integers().map(str),
)


@fuzz_settings(default=20)
@given(at=at_value, dry=st.booleans())
def test_fuzzed_send_at_is_one_line_or_works(at: str, dry: bool) -> None:
    """Through SendGrid (it can hold messages until a time), on 127.0.0.1 where nothing listens."""
    env: dict[str, str | None] = {
        "SERIESPUB_SECRET": TEST_SECRET,
        "SENDGRID_API_KEY": PROVIDER_TOKEN,
    }
    with a_series(render_toml(SENDGRID_TOML), good_draft()) as root:
        run(root, "send", "next", "--at", at, "--dry-run" if dry else "--yes", env=env)


# --- a sample as real processes ------------------------------------------------------------

SAMPLE = {
    "toml-nul-out-dir": (render_toml({**BASE_TOML, "site.out_dir": '"a\\u0000b"'}), None, None),
    "toml-huge-port": (render_toml({**BASE_TOML, "delivery.smtp.port": "99999999999"}), None, None),
    "front-tag": (None, "---\ntitle: T\nstatus: ready\nnumber: !!int ''\n---\nHi\n", None),
    "front-nul": (None, "---\ntitle: T\x00\nstatus: ready\n---\nHi\n", None),
    "list-cp1252": (None, None, "email,name\r\nann@example.com,Jos\xe9\r\n".encode("cp1252")),
}


@pytest.mark.parametrize("kind", sorted(SAMPLE))
@pytest.mark.parametrize("command", [("send", "next", "--dry-run")])
def test_a_sample_exits_as_a_process_as_in_process(kind: str, command: tuple[str, ...]) -> None:
    """In-process runs share one interpreter; a process shows what the user's terminal does."""
    toml, draft, data = SAMPLE[kind]
    with a_series(toml or render_toml(BASE_TOML), draft or good_draft(), data or GOOD_LIST) as root:
        inside = run(root, *command)
        proc = seriespub_process(root, *command, output=True)
        out, err = proc.communicate(timeout=60)
        said = out.decode() + err.decode()
        assert proc.returncode == inside.exit_code == 1, (proc.returncode, said[-2000:])
        assert "Traceback" not in said and said.count("error") >= 1, said


def test_the_guard_lets_only_loopback_be_looked_up(
    loopback_only: list[str], make_series: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What keeps the fuzzers' hosts off the network: only loopback names resolve, and the
    CLI's own connections (httpx) go through it."""
    import socket

    assert socket.getaddrinfo("127.0.0.1", 9)
    assert socket.getaddrinfo("::1", 9)
    assert socket.getaddrinfo("localhost", 9)
    for host in ("example.invalid", "10.0.0.1", "8.8.8.8"):
        with pytest.raises(socket.gaierror):
            socket.getaddrinfo(host, 53)
    root = make_series(
        drafts=1,
        subscribers=1,
        delivery='[delivery]\nprovider = "postmark"\nmax_retry_seconds = 0\n'
        '[delivery.postmark]\napi_url = "http://api.example.invalid:9/"\n',
    )
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", PROVIDER_TOKEN)
    result = cli(root, "send", "next", "--yes")
    assert result.exit_code != 0
    assert "api.example.invalid" in loopback_only
