"""Bad input: one clear line naming the file (and line), exit 1 (2 for misuse), no traceback,
and nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]


def one_line_error(result: Any, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ")
    return str(first)


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[series\ntitle = 1", "invalid TOML"),
        (
            '[series]\ntitle = "T"\nfrom = "a@example.com"\ncolour = "red"\n',
            "unknown key 'series.colour'",
        ),
        (
            '[series]\ntitle = 3\nfrom = "a@example.com"\n',
            "'series.title' must be a string, not int",
        ),
        ('[series]\ntitle = "T"\n', "missing required key 'series.from'"),
        (
            '[series]\ntitle = "T"\nfrom = "a@example.com"\n[delivery]\nprovider = "pigeon"\n',
            "'delivery.provider' must be one of outbox, smtp",
        ),
    ],
)
def test_bad_config_names_the_key(
    make_series: Callable[..., Path], cli: Cli, toml: str, expected: str
) -> None:
    root = make_series()
    (root / "seriespub.toml").write_text(toml)
    line = one_line_error(cli(root, "send", "next", "--yes"))
    assert "seriespub.toml" in line and expected in line


def test_malformed_front_matter_names_file_and_line(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1)
    (root / "drafts" / "01-part-1.md").write_text("---\ntitle: ok\nstatus: [ready\n---\nBody\n")
    line = one_line_error(cli(root, "send", "next", "--yes"))
    assert "01-part-1.md:3: front matter:" in line


def test_missing_draft_and_unknown_instalment(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1)
    assert "no such draft" in one_line_error(cli(root, "preview", "drafts/nope.md"))
    assert "no instalment number 7" in one_line_error(cli(root, "preview", "7"))


def test_line_break_in_subject_is_refused(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1)
    (root / "drafts" / "01-part-1.md").write_text(
        '---\ntitle: T\nsubject: "Hi\\nBcc: victim@example.com"\nstatus: ready\n---\nBody\n'
    )
    assert "header injection" in one_line_error(cli(root, "send", "next", "--yes"))
    assert not (root / ".seriespub" / "outbox").exists()


def test_line_break_in_a_name_is_refused_and_the_csv_is_kept(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(subscribers=1)
    path = root / "subscribers.csv"
    path.write_text('email,name,status,subscribed_at\nx@example.com,"Eve\nBcc: a@b.c",active,\n')
    before = path.read_bytes()
    result = cli(root, "subscribers", "add", "new@example.com")
    assert "header injection" in one_line_error(result)
    assert path.read_bytes() == before


def test_unreadable_subscriber_file(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series()
    (root / "subscribers.csv").write_bytes(b"email,name\n\xff\xfe\x00bad\n")
    assert "not UTF-8" in one_line_error(cli(root, "send", "next", "--yes"))


def test_invalid_address_to_add_and_to_send_test(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series()
    assert "invalid address 'nope'" in one_line_error(cli(root, "subscribers", "add", "nope"))
    assert "invalid address" in one_line_error(cli(root, "send", "test", "--to", "x@"))


def test_an_invalid_address_says_why(make_series: Callable[..., Path], cli: Cli) -> None:
    """ "invalid address" alone leaves the author guessing: the line says what is wrong,
    wherever the address came from (a command, a row of the list, `send test`)."""
    root = make_series()
    added = one_line_error(cli(root, "subscribers", "add", "josé@example.com"))
    assert "invalid address 'josé@example.com': a non-ASCII character before '@'" in added
    assert "SMTPUTF8" in added
    tested = one_line_error(cli(root, "send", "test", "--to", "ann@example"))
    assert "invalid address 'ann@example': invalid domain 'example'" in tested
    with (root / "subscribers.csv").open("a", encoding="utf-8") as f:
        f.write("two..dots@example.com,Two\n")
    checked = cli(root, "check")
    assert "invalid address 'two..dots@example.com': two dots in a row" in checked.output


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("ivy@@example.com", "more than one '@'"),
        ("ann@bo@example.com", "more than one '@'"),
        ("two..dots@example.com", "two dots in a row before '@'"),
        (".ann@example.com", "a dot at the start of the part before '@'"),
        ("ann.@example.com", "a dot at the end of the part before '@'"),
        ("ann,bo@example.com", "',' before '@'"),
        ('"ann"@example.com', "'\"' before '@'"),
    ],
)
def test_a_bad_local_part_says_exactly_what_is_wrong(
    make_series: Callable[..., Path], cli: Cli, address: str, why: str
) -> None:
    """One reason, the one that applies: not a list of three an author must check by hand."""
    root = make_series()
    line = one_line_error(cli(root, "subscribers", "add", address))
    assert f"invalid address {address!r}: {why}" in line
    assert " or " not in line.split(": ", 2)[-1]


def test_misuse_of_options_exits_2(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series()
    result = cli(root, "send", "next", "--no-such-option")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    settle = cli(root, "send", "settle", "1")
    assert settle.exit_code == 2 and "--assume-delivered" in settle.stderr


def test_a_missing_secret_names_the_variable_and_secrets_never_leak(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(
        delivery='[delivery]\nprovider = "postmark"\nmax_retry_seconds = 0.5\n'
        '[delivery.postmark]\napi_url = "http://127.0.0.1:9"\n'
    )
    line = one_line_error(cli(root, "send", "next", "--yes"))
    assert "POSTMARK_SERVER_TOKEN is not set" in line
    (root / ".env").write_text("POSTMARK_SERVER_TOKEN=pm-secret-token-123\n")
    result = cli(root, "send", "next", "--yes")  # port 9: nothing listens there
    assert result.exit_code == 1
    assert "pm-secret-token-123" not in result.output
    assert "cannot connect to 127.0.0.1" in result.stderr


def test_init_onto_a_file_is_one_line(tmp_path: Path, cli: Cli) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    line = one_line_error(cli(tmp_path, "init", str(target)))
    assert "notes.txt: is a file, not a folder" in line
    assert target.read_text() == "mine\n"


def test_init_in_a_repository_appends_to_its_gitignore(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / ".gitignore").write_text("__pycache__/\n.env")  # no final newline
    result = cli(tmp_path, "init", ".")
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".gitignore").read_text() == "__pycache__/\n.env\n.seriespub/\n"
    assert "updated .gitignore" in result.stdout
    assert (tmp_path / "seriespub.toml").is_file()
    again = cli(tmp_path, "init", ".")
    assert "seriespub.toml: already exists" in one_line_error(again)
    assert (tmp_path / ".gitignore").read_text() == "__pycache__/\n.env\n.seriespub/\n"


def test_log_of_a_part_that_does_not_exist_exits_1(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2)
    assert "no instalment number 99" in one_line_error(cli(root, "log", "99"))
    assert "no instalment number 99" in one_line_error(cli(root, "log", "99", "--json"))
    result = cli(root, "log", "2")  # drafted, nothing sent yet: an empty table
    assert result.exit_code == 0 and "Part 2: 0 deliveries" in result.stdout


@pytest.mark.parametrize("where", ["missing/cal.ics", "drafts"])
def test_schedule_ics_to_a_bad_path_is_one_line(
    make_series: Callable[..., Path], cli: Cli, where: str
) -> None:
    root = make_series(
        extra_toml='[schedule]\nfirst_release = 2026-12-01T09:00:00\ntimezone = "Europe/London"\n'
    )
    line = one_line_error(cli(root, "schedule", "--ics", where))
    assert where in line
    assert not (root / "missing").exists()


@pytest.mark.parametrize("kind", ["directory", "dangling", "loop"])
def test_a_seriespub_toml_that_is_not_a_file_is_named_not_passed_over(
    make_series: Callable[..., Path], cli: Cli, kind: str
) -> None:
    """A folder whose seriespub.toml cannot be read stops there: the walk up never lands
    on an enclosing series and runs the command on it instead."""
    outer = make_series(drafts=1)
    inner = outer / "book"
    inner.mkdir()
    config = inner / "seriespub.toml"
    if kind == "directory":
        config.mkdir()
    else:
        config.symlink_to("seriespub.toml" if kind == "loop" else "gone.toml")
    result = cli(inner, "status")
    line = one_line_error(result)
    assert str(config) in line and "cannot read" in line, line


def test_a_seriespub_toml_saved_with_a_byte_order_mark_is_read(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """Notepad writes UTF-8 with a BOM; TOML calls it an invalid statement at 1:1."""
    root = make_series(drafts=1)
    config = root / "seriespub.toml"
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())
    result = cli(root, "status")
    assert result.exit_code == 0, result.output
    assert "Part 1 title" in result.stdout


@pytest.mark.parametrize(
    "command", [("send", "next", "--dry-run"), ("send", "next", "--yes"), ("check",)]
)
def test_a_dotenv_that_is_not_utf8_is_one_line_naming_its_line(
    make_series: Callable[..., Path], cli: Cli, command: tuple[str, ...]
) -> None:
    """Found by tests/test_fuzz_inputs.py: a .env saved as Windows-1252 (a key pasted with
    an accented letter around it) was a UnicodeDecodeError traceback."""
    root = make_series()
    env = "# secrets\nPOSTMARK_SERVER_TOKEN=pm-s\xe9cret-123\n".encode("cp1252")
    (root / ".env").write_bytes(env)
    result = cli(root, *command)
    said = result.stdout if command == ("check",) else one_line_error(result)  # check: a finding
    assert result.exit_code == 1 and ".env:2: not UTF-8 text (byte 0xE9)" in said, said
    assert "cret-123" not in result.output
    assert (root / ".env").read_bytes() == env


INBOX = '[inbox]\nhost = "{host}"\nusername = "ann"\n'
SMTP = '[delivery.smtp]\nhost = "{host}"\n'


@pytest.mark.parametrize(
    ("table", "key"), [(INBOX, "inbox"), (SMTP, "delivery.smtp")], ids=["inbox", "smtp"]
)
@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("127.0.0.1:9", 'host = "127.0.0.1" and port = 9'),
        ("imap.example.com:993", 'host = "imap.example.com" and port = 993'),
        ("imaps://imap.example.com", "a host name, not a URL"),
        ("[::1]", "without brackets"),
        ("[::1]:993", "without brackets"),
        ("mail example.com", "a host name"),
    ],
)
def test_a_host_with_a_port_or_a_scheme_is_one_line_naming_the_port_key(
    make_series: Callable[..., Path],
    cli: Cli,
    loopback_only: list[str],
    table: str,
    key: str,
    host: str,
    said: str,
) -> None:
    """`host = "127.0.0.1:9"` was looked up as a host name (a resolver error); the port has
    its own key in both tables, so the host names a host and nothing else."""
    root = make_series(
        delivery='[delivery]\nprovider = "smtp"\n', extra_toml=table.format(host=host)
    )
    line = one_line_error(cli(root, "status"))
    assert f"'{key}.host'" in line and said in line
    assert "port" not in said or f"{key}.port" in line
    assert loopback_only == []  # refused before anything is looked up


@pytest.mark.parametrize("host", ["::1", "127.0.0.1", "mail.example.org", "localhost"])
def test_a_bare_host_or_ipv6_address_is_accepted(tmp_path: Path, host: str) -> None:
    from seriespub.config import load_settings

    path = tmp_path / "seriespub.toml"
    toml = '[series]\ntitle = "T"\nfrom = "a@example.com"\n'
    path.write_text(toml + INBOX.format(host=host) + "[delivery]\n" + SMTP.format(host=host))
    settings = load_settings(path)
    assert settings.inbox is not None and settings.inbox.host == host
    assert settings.delivery.smtp.host == host


def test_a_dotenv_line_that_is_not_name_value_is_a_warning_naming_its_line(
    make_series: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """python-dotenv skips a line it cannot parse and logs its own note on stderr
    ("python-dotenv could not parse statement starting at line 2"): no `warning:`, in a
    library's words. seriespub says it as its own warning, naming the file and the line,
    never the line's text (it may hold a secret), and carries on."""
    from instalments import run_seriespub

    monkeypatch.delenv("SERIESPUB_SECRET")  # from .env, so .env is read
    root = make_series(drafts=1)
    key = "k3y-" + "q" * 44
    (root / ".env").write_text(f"SERIESPUB_SECRET={key}\nhunter2 is my password\n")
    done = run_seriespub(root, "send", "next", "--yes")
    assert done.returncode == 0, done.stderr
    assert "python-dotenv" not in done.stderr
    assert ".env:2: not a NAME=value line" in done.stderr
    assert next(line for line in done.stderr.splitlines() if ".env:2" in line).startswith(
        "warning: "
    )
    assert "hunter2" not in done.stderr and key not in done.stderr
