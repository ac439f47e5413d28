"""`check` catches what servers and filters will, and what it refuses, send refuses too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
REAL_URL = 'unsubscribe_url = "https://news.ann.dev/u?t={token}"'
PLACEHOLDER_URL = 'unsubscribe_url = "https://example.com/unsubscribe?token={token}"'


def findings(cli: Cli, root: Path) -> tuple[int, set[tuple[str, str, str]]]:
    result = cli(root, "check", "--json")
    data = json.loads(result.stdout)
    return result.exit_code, {(f["level"], f["where"], f["message"]) for f in data["findings"]}


def set_toml(root: Path, old: str, new: str) -> None:
    path = root / "seriespub.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def write_draft(
    root: Path,
    body: str,
    front: str = "title: Part 1 title\nstatus: ready\n",
) -> Path:
    path = root / "drafts" / "01-part-1.md"
    path.write_text(f"---\n{front}---\n{body}")
    return path


def outbox(root: Path) -> list[Path]:
    return list((root / ".seriespub" / "outbox").rglob("*.eml"))


def test_the_example_series_checks_clean(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1)
    set_toml(root, PLACEHOLDER_URL, REAL_URL)
    code, found = findings(cli, root)
    assert (code, found) == (0, set())


@pytest.mark.parametrize(
    ("body", "line", "text"),
    [
        ("Hello {{ name | title }},\n", 5, "template syntax '{{ name | title }},'"),
        ("Hi\n\n{% if name %}x{% endif %}\n", 7, "template syntax '{% if name %}x{% endif %}'"),
        ("Hi %%SP7%%\n", 5, "'%%SP7%%' is reserved for seriespub's per-reader values"),
    ],
)
def test_a_bad_draft_construct_is_an_error_in_check_and_stops_send(
    make_series: Callable[..., Path], cli: Cli, body: str, line: int, text: str
) -> None:
    root = make_series(drafts=1)
    draft = write_draft(root, body)
    code, found = findings(cli, root)
    assert code == 1
    errors = [f for f in found if f[0] == "error"]
    assert len(errors) == 1, found  # reported once, not again by the render
    assert errors[0][1] == f"{draft}:{line}" and errors[0][2].startswith(text)
    sent = cli(root, "send", "next", "--yes")
    assert sent.exit_code == 1 and sent.stderr.count("\n") == 1, sent.output
    assert sent.stderr.startswith(f"error: {draft}:{line}: ") and "Traceback" not in sent.output
    assert outbox(root) == []


def test_an_unknown_merge_field_stops_send_preview_and_test(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1)
    draft = write_draft(root, "Hello {{ name }},\n\nfrom {{ nmae }}\n")
    code, found = findings(cli, root)
    message = "unknown merge field 'nmae' (not a column of subscribers.csv)"
    assert code == 1 and ("error", f"{draft}:7", message) in found
    assert len([f for f in found if f[0] == "error"]) == 1
    for args in (
        ("send", "next", "--yes"),
        ("preview", "1"),
        ("send", "test", "--to", "me@example.com", "1"),
    ):
        result = cli(root, *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr == f"error: {draft}:7: {message}\n"
    assert outbox(root) == []


def test_an_unknown_field_in_the_template_stops_send(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=1)
    (root / "templates").mkdir()
    template = root / "templates" / "email.mjml"
    template.write_text(
        "<mjml><mj-body><mj-section><mj-column><mj-text>{{ content }} "
        '{{ subscriber.cty }} <a href="{{ unsubscribe_url }}">u</a>'
        "</mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    code, found = findings(cli, root)
    assert (
        code == 1
        and ("error", str(template), "unknown merge field 'cty' (not a column of subscribers.csv)")
        in found
    )
    sent = cli(root, "send", "next", "--yes")
    assert sent.exit_code == 1 and "unknown merge field 'cty'" in sent.stderr
    assert outbox(root) == []


def test_a_template_refusal_is_one_line_in_check_and_send(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    root = make_series(drafts=2)
    (root / "templates").mkdir()
    template = root / "templates" / "email.mjml"
    template.write_text(
        "<mjml><mj-body><mj-section><mj-column>\n<mj-text>"
        "{% if subscriber.name %}Dear{% endif %}{{ content }}</mj-text>\n"
        "</mj-column></mj-section></mj-body></mjml>"
    )
    code, found = findings(cli, root)
    errors = [f for f in found if f[0] == "error"]
    assert code == 1 and len(errors) == 1 and errors[0][1] == f"{template}:2"
    sent = cli(root, "send", "next", "--yes")
    assert sent.exit_code == 1
    assert sent.stderr.startswith(
        f"error: {template}:2: template: 'subscriber' is used in an "
        "expression; per-reader values can only be printed"
    )
    assert outbox(root) == []


def test_a_reserved_front_matter_key_is_named(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1)
    draft = write_draft(root, "Hi\n", front="title: T\nstatus: ready\nnext: soon\n")
    code, found = findings(cli, root)
    assert code == 1
    assert any(
        f[1] == f"{draft}:4" and f[2].startswith("front matter: 'next' is reserved") for f in found
    )


def test_unsubscribe_that_is_not_one_click_or_a_placeholder_warns(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_series(drafts=1)
    config = str(root / "seriespub.toml")
    code, found = findings(cli, root)
    placeholder = (
        "series.unsubscribe_url points at 'example.com', a placeholder: readers "
        "could not unsubscribe"
    )
    assert code == 0 and ("warning", config, placeholder) in found
    set_toml(root, PLACEHOLDER_URL + "\n", "")
    code, found = findings(cli, root)
    assert (
        code == 0
        and (
            "warning",
            config,
            "no series.unsubscribe_url: List-Unsubscribe is "
            "mailto: only, not RFC 8058 one-click, which Gmail "
            "and Yahoo require of bulk senders",
        )
        in found
    )
    # A Postmark broadcast stream brings its own one-click unsubscribe:
    set_toml(root, 'provider = "outbox"', 'provider = "postmark"')
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", "pm-check")  # else check reports it missing
    assert findings(cli, root) == (0, set())


@pytest.mark.parametrize(
    ("url", "bad"),
    [
        ("http://api.postmarkapp.com", True),
        ("HTTP://proxy.internal:8080", True),
        ("http://127.0.0.1:8025", False),
        ("http://localhost:8025", False),
        ("https://api.postmarkapp.com", False),
    ],
)
def test_an_http_api_url_is_an_error(
    make_series: Callable[..., Path], cli: Cli, url: str, bad: bool
) -> None:
    root = make_series(drafts=1, extra_toml=f'[delivery.postmark]\napi_url = "{url}"\n')
    set_toml(root, PLACEHOLDER_URL, REAL_URL)
    code, found = findings(cli, root)
    expected = {
        (
            "error",
            str(root / "seriespub.toml"),
            "delivery.postmark.api_url is http://: "
            "the API token would travel in clear; use https://",
        )
    }
    assert (code, found) == ((1, expected) if bad else (0, set()))


def test_subject_length(make_series: Callable[..., Path], cli: Cli) -> None:
    root = make_series(drafts=1)
    set_toml(root, PLACEHOLDER_URL, REAL_URL)
    draft = write_draft(root, "Hi\n", front=f"title: T\nstatus: ready\nsubject: {'w' * 151}\n")
    code, found = findings(cli, root)
    assert code == 0 and found == {
        (
            "warning",
            str(draft),
            "subject is 151 characters: inboxes show about 60 and filters distrust more than 150",
        )
    }
    write_draft(root, "Hi\n", front=f"title: T\nstatus: ready\nsubject: {'é' * 500}\n")
    code, found = findings(cli, root)
    assert code == 1
    assert (
        "error",
        str(draft),
        "subject is 1000 bytes: over the 998-byte line limit of mail",
    ) in found


def test_size_is_measured_as_sent_not_as_written(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """Cyrillic is 2 bytes in UTF-8 but 6 in quoted-printable (3 in base64 lines, ~2.7):
    an instalment well under 102 KB as written is clipped as sent."""
    root = make_series(drafts=1)
    set_toml(root, PLACEHOLDER_URL, REAL_URL)
    draft = write_draft(root, "Привет, мир. " * 3400 + "\n")
    html = root / "part.html"
    assert cli(root, "preview", "1", "--html", str(html)).exit_code == 0
    assert len(html.read_bytes()) < 102 * 1024  # as written: not clipped
    code, found = findings(cli, root)
    assert code == 1
    (error,) = found
    assert error[:2] == ("error", str(draft))
    assert error[2].startswith("HTML is ") and "KB as sent (text " in error[2]
    assert error[2].endswith("KB): Gmail clips messages over ~102 KB")
    assert int(error[2].split()[2]) > 102  # the figure itself is the encoded size


def test_a_short_unsubscribe_key_is_one_error_not_one_per_draft(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key is the series', not a draft's: with five drafts, one error, naming the
    variable and never a draft (each draft's render met the same key)."""
    root = make_series(drafts=5)
    monkeypatch.setenv("SERIESPUB_SECRET", "Xq7#z")  # 5 bytes, in no path
    code, found = findings(cli, root)
    assert code == 1
    key = [f for f in found if "the unsubscribe key has 5 bytes" in f[2]]
    assert len(key) == 1, key
    level, where, message = key[0]
    # At the variable, as SERIESPUB_SECRET_PREVIOUS's are; once, not "toml: VARIABLE: …".
    assert (level, where) == ("error", "SERIESPUB_SECRET")
    assert message.startswith("the unsubscribe key has 5 bytes"), message


def test_a_template_stopped_at_its_bound_is_rendered_once_not_once_per_draft(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template that loops forever is stopped after its time bound, the same for every
    draft: `check` used to wait that long once per draft (5 s × 20 drafts: a check that
    seemed to hang). It renders until the first such stop, and says it once."""
    from contextlib import AbstractContextManager

    from seriespub.render import limits, templating

    monkeypatch.setattr(templating, "MAX_RENDER_SECONDS", 0.3)
    bounded, entered = limits.bounded, []

    def counted(*args: Any) -> AbstractContextManager[None]:
        entered.append(args)
        return bounded(*args)

    monkeypatch.setattr(limits, "bounded", counted)
    root = make_series(drafts=4)
    (root / "templates").mkdir()
    (root / "templates" / "email.mjml").write_text(
        "<mjml><mj-body><mj-section><mj-column>\n<mj-text>"
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
        "</mj-text>\n<mj-text>{{ unsubscribe_url }}</mj-text>\n"
        "</mj-column></mj-section></mj-body></mjml>\n"
    )
    code, found = findings(cli, root)
    assert code == 1
    stopped = [f for f in found if "stopped after" in f[2]]
    assert len(stopped) == 1 and "email.mjml" in stopped[0][1], found
    assert len(entered) == 1, f"{len(entered)} renders"


def test_a_dotenv_line_that_is_not_name_value_is_a_warning_naming_its_line(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """python-dotenv skips such a line; its variable is then not set. `check` says which
    line (never its text: it may hold a secret)."""
    root = make_series(drafts=1)
    (root / ".env").write_text("SENDGRID_API_KEY=abc\nhunter2 is my password\n")
    _code, found = findings(cli, root)
    assert ("warning", f"{root / '.env'}:2", "not a NAME=value line (skipped)") in found
    assert not any("hunter2" in m for _, _, m in found)


def _template(root: Path, unsubscribe: str) -> Path:
    (root / "templates").mkdir(exist_ok=True)
    path = root / "templates" / "email.mjml"
    path.write_text(
        "<mjml><mj-head><mj-title>{{ instalment.subject }}</mj-title></mj-head><mj-body>"
        "<mj-section><mj-column>\n<mj-text>{{ content }}</mj-text>\n"
        + unsubscribe
        + "\n</mj-column></mj-section></mj-body></mjml>\n"
    )
    return path


NO_LINK = "the HTML part has no unsubscribe link"


@pytest.mark.parametrize(
    "unsubscribe",
    [
        "<mj-text><!-- {{ unsubscribe_url }} --></mj-text>",
        "<mj-raw><!-- {{ unsubscribe_url }} --></mj-raw>",
        "<mj-text><!--[if mso]>{{ unsubscribe_url }}<![endif]--></mj-text>",
        '<mj-text><span title="{{ unsubscribe_url }}">Bye</span></mj-text>',
        '<mj-raw><div style="display: none">{{ unsubscribe_url }}</div></mj-raw>',
        "<mj-text><div hidden>{{ unsubscribe_url }}</div></mj-text>",
    ],
    ids=["comment", "raw-comment", "outlook-only", "attribute", "display-none", "hidden"],
)
def test_an_unsubscribe_url_no_reader_sees_is_warned_of(
    make_series: Callable[..., Path], cli: Cli, unsubscribe: str
) -> None:
    """Before: a template that printed it only inside an HTML comment (which MJML keeps)
    passed `check`, and HTML readers saw no way to leave."""
    root = make_series(drafts=1)
    set_toml(root, PLACEHOLDER_URL, REAL_URL)
    path = _template(root, unsubscribe)
    _code, found = findings(cli, root)
    assert [f[:2] for f in found if NO_LINK in f[2]] == [("warning", str(path))], found


@pytest.mark.parametrize(
    "unsubscribe",
    [
        '<mj-button href="{{ unsubscribe_url }}">Unsubscribe</mj-button>',
        '<mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>',
        "<mj-text>Leave: {{ unsubscribe_url }}</mj-text>",
    ],
    ids=["button", "link", "text"],
)
def test_an_unsubscribe_url_a_reader_can_follow_passes(
    make_series: Callable[..., Path], cli: Cli, unsubscribe: str
) -> None:
    root = make_series(drafts=1)
    set_toml(root, PLACEHOLDER_URL, REAL_URL)
    _template(root, unsubscribe)
    code, found = findings(cli, root)
    assert (code, found) == (0, set())


def _styled_template(root: Path, head: str, unsubscribe: str) -> Path:
    (root / "templates").mkdir(exist_ok=True)
    path = root / "templates" / "email.mjml"
    path.write_text(
        "<mjml><mj-head><mj-title>{{ instalment.subject }}</mj-title>\n"
        + head
        + "\n</mj-head><mj-body><mj-section><mj-column>\n"
        "<mj-text>{{ content }}</mj-text>\n" + unsubscribe + "\n"
        "</mj-column></mj-section></mj-body></mjml>\n"
    )
    return path


LINK = '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'


@pytest.mark.parametrize(
    ("head", "unsubscribe"),
    [
        (
            "<mj-style>.gone { display: none; }</mj-style>",
            f'<mj-text css-class="gone">{LINK}</mj-text>',
        ),
        (
            '<mj-attributes><mj-class name="quiet" css-class="gone" /></mj-attributes>'
            "<mj-style>.gone{visibility:hidden}</mj-style>",
            f'<mj-text mj-class="quiet">{LINK}</mj-text>',
        ),
        (
            '<mj-attributes><mj-class name="tiny" font-size="0px" /></mj-attributes>',
            '<mj-text mj-class="tiny">Leave: {{ unsubscribe_url }}</mj-text>',
        ),
        (
            "<mj-raw><style>p.fold { max-height: 0; overflow: hidden }</style></mj-raw>",
            f'<mj-text><p class="fold">{LINK}</p></mj-text>',
        ),
        (
            "<mj-style>.a, .tiny { font-size: 0 !important }</mj-style>",
            f'<mj-text><span class="x tiny">{LINK}</span></mj-text>',
        ),
        (
            "<mj-style>.outlook-no { mso-hide: all; }</mj-style>",
            f'<mj-text><div class="outlook-no">{LINK}</div></mj-text>',
        ),
        (
            "<mj-style>.ghost { opacity: 0 }</mj-style>",
            '<mj-button css-class="ghost" href="{{ unsubscribe_url }}">Bye</mj-button>',
        ),
        ("", f'<mj-text><div style="visibility:hidden">{LINK}</div></mj-text>'),
    ],
    ids=[
        "mj-style",
        "mj-class",
        "mj-class-inline",
        "style-block",
        "important",
        "mso-hide",
        "opacity",
        "inline-visibility",
    ],
)
def test_an_unsubscribe_link_hidden_by_a_class_is_warned_of(
    make_series: Callable[..., Path], cli: Cli, head: str, unsubscribe: str
) -> None:
    """Before: a link under an element a stylesheet's class hides (or an inline style other
    than `display:none`) passed `check`."""
    root = make_series(drafts=1)
    set_toml(root, PLACEHOLDER_URL, REAL_URL)
    path = _styled_template(root, head, unsubscribe)
    _code, found = findings(cli, root)
    assert [f[:2] for f in found if NO_LINK in f[2]] == [("warning", str(path))], found


@pytest.mark.parametrize(
    ("head", "unsubscribe"),
    [
        (  # a dark-mode swap: media queries are not followed
            "<mj-style>@media (prefers-color-scheme: dark) { .light { display: none !important } }"
            "</mj-style>",
            f'<mj-text css-class="light">{LINK}</mj-text>',
        ),
        (  # MJML's own columns set font-size:0px; the text inside sets its own size
            "<mj-style>.hide { display: none }</mj-style>",
            f'<mj-text css-class="show">{LINK}</mj-text>',
        ),
        (  # a later, inline or more specific rule shows it again
            "<mj-style>.x { visibility: hidden } .y { visibility: visible }</mj-style>",
            f'<mj-text><div class="x"><span class="y">{LINK}</span></div></mj-text>',
        ),
        (  # an image link inside a zero font size (MJML's mj-image) is still seen
            "",
            '<mj-image href="{{ unsubscribe_url }}" src="https://example.com/bye.png" alt="Bye" />',
        ),
        (  # combinators are not followed
            "<mj-style>.card a { display: none }</mj-style>",
            f'<mj-text css-class="card">{LINK}</mj-text>',
        ),
    ],
    ids=["dark-mode", "other-class", "shown-again", "image-link", "combinator"],
)
def test_an_unsubscribe_link_under_classes_that_do_not_hide_it_passes(
    make_series: Callable[..., Path], cli: Cli, head: str, unsubscribe: str
) -> None:
    root = make_series(drafts=1)
    set_toml(root, PLACEHOLDER_URL, REAL_URL)
    _styled_template(root, head, unsubscribe)
    code, found = findings(cli, root)
    assert (code, found) == (0, set())


def test_the_default_template_copied_as_the_series_template_passes(
    make_series: Callable[..., Path], cli: Cli
) -> None:
    """Its preheader is hidden (`display:none`, `mso-hide:all`), its columns have
    `font-size:0px`, its dark mode is a media query: none of it hides the link."""
    from seriespub.render import email

    root = make_series(drafts=2)
    set_toml(root, PLACEHOLDER_URL, REAL_URL)
    (root / "templates").mkdir()
    default = Path(email.__file__).parent / "templates" / "email.mjml"
    (root / "templates" / "email.mjml").write_text(default.read_text())
    code, found = findings(cli, root)
    assert (code, found) == (0, set())


@pytest.mark.parametrize("provider", ["outbox", "sendgrid"])
def test_a_dotenv_that_is_not_utf8_is_named_once_at_its_line(
    make_series: Callable[..., Path], cli: Cli, provider: str
) -> None:
    """Before: `error …/seriespub.toml: …/.env:2: not UTF-8 …`, the location twice (the
    settings', then the error's own). The sendgrid series reads it for its key first."""
    root = make_series(drafts=2, delivery=f'[delivery]\nprovider = "{provider}"\n')
    (root / ".env").write_bytes(b"SENDGRID_API_KEY=abc\nNAME=caf\xe9\n")
    code, found = findings(cli, root)
    assert code == 1
    utf8 = [f for f in found if "UTF-8" in f[2]]
    assert [f[:2] for f in utf8] == [("error", f"{root / '.env'}:2")], found
    assert utf8[0][2].startswith("not UTF-8 text (byte 0xE9)"), utf8
    assert "save .env as UTF-8 text" in utf8[0][2]  # the error's hint, as `send` prints it


def test_a_short_generated_key_is_named_at_its_file(
    make_series: Callable[..., Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: `error …/seriespub.toml: …/.seriespub/secret: the unsubscribe key has …`."""
    monkeypatch.delenv("SERIESPUB_SECRET")  # the generated key is read only without it
    root = make_series(drafts=2)
    key = root / ".seriespub" / "secret"
    key.parent.mkdir()
    key.write_text("short")
    code, found = findings(cli, root)
    assert code == 1
    short = [f for f in found if "unsubscribe key has 5 bytes" in f[2]]
    assert [f[:2] for f in short] == [("error", str(key))], found
    assert short[0][2].startswith("the unsubscribe key has 5 bytes")
