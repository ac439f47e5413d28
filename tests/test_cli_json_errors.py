"""With --json, stdout carries exactly one JSON document even when the command fails:
{"error", "hint", "exit_code"}; stderr keeps the human `error:` line, the exit code is kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import sendgrid_delivery
from fakes.sendgrid import SendgridState

Cli = Callable[..., Any]
MakeSeries = Callable[..., Path]
ERROR_KEYS = {"error", "hint", "exit_code"}


def error_document(result: Any, code: int = 1) -> dict[str, Any]:
    """The one JSON document on stdout of a failed run, checked against stderr."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    data = json.loads(result.stdout)  # one document, nothing else on stdout
    assert set(data) == ERROR_KEYS
    assert data["exit_code"] == code
    return dict(data)


def human_error(result: Any) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return str(errors[0]).removeprefix("error: ")


def test_send_next_json_with_a_bad_config(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series()
    (root / "seriespub.toml").write_text('[series]\ntitle = "T"\nfrom = "a@example.com"\nx = 1\n')
    result = cli(root, "send", "next", "--yes", "--json")
    data = error_document(result)
    assert data["error"] == human_error(result)
    assert "unknown key 'series.x'" in data["error"] and "seriespub.toml" in data["error"]


def test_status_json_outside_a_series(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "plain").mkdir()
    result = cli(tmp_path / "plain", "status", "--json")
    data = error_document(result)
    assert data["error"] == human_error(result)
    hint = [line for line in result.stderr.splitlines() if line.startswith("hint: ")]
    assert data["hint"] == (hint[0].removeprefix("hint: ") if hint else None)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"email\nJos\xe9@example.com\n", "not UTF-8 text"),
        (b"\xff\xfe,bad\n", "UTF-16 text"),
        (b"name,foo\nx,y\n", "no 'email' column"),
    ],
)
def test_subscribers_list_json_with_an_unreadable_csv(
    make_series: MakeSeries, cli: Cli, content: bytes, expected: str
) -> None:
    root = make_series()
    (root / "subscribers.csv").write_bytes(content)
    result = cli(root, "subscribers", "list", "--json")
    data = error_document(result)
    assert expected in data["error"] and data["error"] == human_error(result)


def test_subscribers_list_json_when_the_csv_is_a_folder(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series()
    (root / "subscribers.csv").unlink()
    (root / "subscribers.csv").mkdir()
    data = error_document(cli(root, "subscribers", "list", "--json"))
    assert "subscribers.csv" in data["error"]


def test_misuse_of_an_option_is_a_json_error_with_exit_2(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series()
    result = cli(root, "send", "next", "--json", "--bogus")
    data = error_document(result, code=2)
    assert data["error"] == "No such option: --bogus"
    assert data["hint"] == "Try 'seriespub send next --help' for help."
    assert "No such option: --bogus" in result.stderr  # click's usage text, as before


def test_a_bad_option_value_is_a_json_error(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series()
    data = error_document(cli(root, "send", "next", "--limit", "0", "--json"), code=2)
    assert "--limit" in data["error"]


def test_refusal_without_a_terminal_is_one_json_error(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series()
    data = error_document(cli(root, "send", "next", "--json"), code=2)
    assert data == {
        "error": "not a terminal: pass --yes to confirm",
        "hint": None,
        "exit_code": 2,
    }


@pytest.mark.parametrize(
    "command",
    [
        ("check",),
        ("status",),
        ("log",),
        ("log", "1"),
        ("schedule",),
        ("send", "due"),
        ("send", "retry"),
        ("subscribers", "list"),
    ],
)
def test_every_json_command_answers_a_broken_config_with_one_document(
    make_series: MakeSeries, cli: Cli, command: tuple[str, ...]
) -> None:
    root = make_series()
    (root / "seriespub.toml").write_text("[series\n")
    data = error_document(cli(root, *command, "--json"))
    assert "seriespub.toml" in data["error"] and "invalid TOML" in data["error"]


def test_after_the_report_a_failed_run_adds_no_second_document(
    make_series: MakeSeries, cli: Cli, sendgrid: tuple[str, SendgridState]
) -> None:
    """The run's report is the document; the exit code and stderr say it needs a decision."""
    url, state = sendgrid
    root = make_series(subscribers=2, delivery=sendgrid_delivery(url))
    state.faults.drops = 1  # accepted, then the answer is lost: unknown outcomes
    result = cli(root, "send", "next", "--yes", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["instalment"] == 1 and report["unknown"] == 2
    assert "outcome is unknown" in human_error(result)


def test_without_json_stdout_stays_empty_on_error(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "plain").mkdir()
    result = cli(tmp_path / "plain", "status")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ")


def test_a_command_without_json_gives_no_document(make_series: MakeSeries, cli: Cli) -> None:
    root = make_series()
    result = cli(root, "subscribers", "add", "x@example.com", "--json")
    assert result.exit_code == 2 and result.stdout == ""
