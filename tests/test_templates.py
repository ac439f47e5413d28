"""The template rules: per-reader values printed only, a sandbox, errors with file:line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from seriespub.config import SeriesSettings
from seriespub.drafts import read_draft
from seriespub.errors import InputError
from seriespub.message import PreparedMessage
from seriespub.models import DraftStatus, Instalment, Subscriber
from seriespub.render.email import RenderInputs, prepare

SERIES = SeriesSettings(
    title="Teaming",
    from_="Ann Author <ann@example.com>",
    unsubscribe_url="https://example.com/u?t={token}",
)


def instalment(body: str = "Hi", title: str = "T", **extra: object) -> Instalment:
    return Instalment(
        number=1,
        title=title,
        subject="S",
        body=body,
        path=Path("drafts/01-x.md"),
        status=DraftStatus.READY,
        body_line=5,
        extra=dict(extra),
    )


def template(tmp_path: Path, inner: str) -> Path:
    path = tmp_path / "email.mjml"
    path.write_text(
        "<mjml><mj-body><mj-section><mj-column>\n<mj-text>"
        + inner
        + "</mj-text>\n</mj-column></mj-section></mj-body></mjml>\n"
    )
    return path


def render(tmp_path: Path, inner: str, body: str = "Hi") -> PreparedMessage:
    return prepare(
        instalment(body), RenderInputs(SERIES, b"k", template_path=template(tmp_path, inner))
    )


def html_for(message: PreparedMessage, name: str) -> str:
    return message.html_for(message.recipient(Subscriber("r@example.com", name)))


# Drafts: only merge tags.


@pytest.mark.parametrize(
    ("body", "line", "shown"),
    [
        ("Hello {{ name | title }},\n", 5, "{{ name | title }}"),
        ("Hello,\n\n{% if name %}Dear {{ name }}{% endif %}\n", 7, "{% if name %}"),
        ("Hi\n{# a note to self #}\n", 6, "{# a note to self #}"),
    ],
)
def test_a_draft_with_template_logic_is_refused_with_its_line(
    body: str, line: int, shown: str
) -> None:
    with pytest.raises(InputError) as caught:
        prepare(instalment(body), RenderInputs(SERIES, b"k"))
    assert str(caught.value).startswith(f"drafts/01-x.md:{line}: template syntax ")
    assert shown[:10] in str(caught.value)
    assert "only merge tags are allowed in a draft" in str(caught.value)


def test_template_syntax_inside_code_is_kept_as_text() -> None:
    body = "Use `{% raw %}` in Jinja:\n\n```\n{% for x in y %}{# c #}\n```\n"
    message = prepare(instalment(body), RenderInputs(SERIES, b"k"))
    text = message.text_for(message.recipient(Subscriber("r@example.com", "R")))
    assert "Use {% raw %} in Jinja:" in text and "    {% for x in y %}{# c #}" in text


def test_merge_tags_with_defaults_still_work() -> None:
    message = prepare(
        instalment('Hi {{ name | default("you") }} {{ subscriber.email }}.'),
        RenderInputs(SERIES, b"k"),
    )
    assert "Hi you r@example.com." in html_for(message, "")


def test_a_typed_slot_token_is_refused_not_a_crash() -> None:
    with pytest.raises(InputError, match=r"drafts/01-x.md:6: '%%SP7%%' is reserved"):
        prepare(instalment("Hi\nsee %%SP7%% here\n"), RenderInputs(SERIES, b"k"))
    with pytest.raises(InputError, match=r"drafts/01-x.md:5: '%%sp1%%' is reserved"):
        prepare(instalment("`%%sp1%%`"), RenderInputs(SERIES, b"k"))
    # In the title it would have been filled with a reader's name:
    with pytest.raises(InputError, match=r"drafts/01-x.md: front matter: '%%SP0%%'"):
        prepare(instalment("Hi {{ name }}", title="%%SP0%%"), RenderInputs(SERIES, b"k"))


def test_a_front_matter_key_named_like_a_template_variable_is_refused(tmp_path: Path) -> None:
    draft = tmp_path / "01-x.md"
    for key in ("next", "content", "series", "subscriber"):
        draft.write_text(f"---\ntitle: X\n{key}: oops\n---\nHi\n")
        with pytest.raises(InputError, match=rf"01-x.md:3: front matter: '{key}' is reserved"):
            read_draft(draft)
    draft.write_text("---\ntitle: X\n1: one\n---\nHi\n")
    with pytest.raises(InputError, match="key 1 must be a name"):
        read_draft(draft)
    draft.write_text("---\ntitle: X\nmood: calm\n---\nHi\n")
    assert read_draft(draft).extra == {"mood": "calm"}


# Templates: per-reader values may only be printed.


def test_subscriber_fields_print_with_or_without_a_default(tmp_path: Path) -> None:
    message = render(
        tmp_path,
        '{{ subscriber.name | default("friend") }}/'
        "{{ subscriber.name }}/{{ series.title | upper }}",
    )
    assert "friend//TEAMING" in html_for(message, "")
    assert "Bo &amp; Co/Bo &amp; Co/TEAMING" in html_for(message, "Bo & Co")


@pytest.mark.parametrize(
    "inner",
    [
        "{{ subscriber.name | upper }}",
        "{{ subscriber.name | title }}",
        "{% if subscriber.name %}x{% endif %}",
        "{{ subscriber.name ~ '!' }}",
        "{{ subscriber['name'] }}",
        "{% set n = subscriber.name %}{{ n }}",
        "{% filter upper %}{{ subscriber.name }}{% endfilter %}",
        "{{ unsubscribe_url | lower }}",
        "{{ subscriber.name | default(series.title) }}",
    ],
)
def test_logic_on_a_per_reader_value_is_refused_with_the_line(tmp_path: Path, inner: str) -> None:
    with pytest.raises(InputError) as caught:
        render(tmp_path, inner)
    assert str(caught.value).startswith(f"{tmp_path / 'email.mjml'}:2: template: ")
    assert "per-reader values can only be printed" in str(caught.value)


def test_a_filter_that_mangles_a_merge_field_in_content_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="a per-reader value was changed by a filter"):
        render(tmp_path, "{{ content | lower }}", body="Hi {{ name }}")


def test_template_logic_on_everything_else_still_works(tmp_path: Path) -> None:
    message = render(
        tmp_path,
        "{% if next %}n{% else %}none{% endif %} {{ instalment.title | lower }} {{ content }}",
    )
    assert "none t <p>Hi</p>" in html_for(message, "R")


# Runtime errors and the sandbox.


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        ("{{ 1/0 }}", "template: ZeroDivisionError: division by zero"),
        ("{% macro r() %}{{ r() }}{% endmacro %}{{ r() }}", "template: recursion too deep"),
        ("{% include 'other.mjml' %}", "template: include, extends and import are not allowed"),
        ("{% import 'm.mjml' as m %}", "template: include, extends and import are not allowed"),
        ("{{ nothing.here }}", "template: 'nothing' is undefined"),
        ("{{ 'x'.center(10**9) }}", "template: argument 1000000000 is too large"),
    ],
)
def test_runtime_errors_name_the_template_and_line(
    tmp_path: Path, inner: str, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        render(tmp_path, inner)
    assert str(caught.value).startswith(f"{tmp_path / 'email.mjml'}:2: {message}")


def test_the_sandbox_refuses_python_internals(tmp_path: Path, monkeypatch: object) -> None:
    marker = tmp_path / "pwned"
    attacks = [
        f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}}",
        f"{{{{ series.__class__.__init__.__globals__['os'].system('touch {marker}') }}}}",
        "{{ instalment.extra.update({'a': 1}) }}",  # immutable: no mutation
    ]
    for attack in attacks:
        with pytest.raises(InputError, match=r"email.mjml:2: template: "):
            render(tmp_path, attack)
    assert not marker.exists()


def test_arithmetic_bombs_fail_fast(tmp_path: Path) -> None:
    started = time.monotonic()
    for bomb in ("{{ 9 ** 99999999 }}", "{{ 'x' * 10 ** 10 }}", "{{ [1] * 10 ** 9 }}"):
        with pytest.raises(InputError, match=r"email.mjml:2: template: .*too large"):
            render(tmp_path, bomb)
    loop = "{% for i in range(99999) %}{{ 'x' * 999999 }}{% endfor %}"
    with pytest.raises(InputError, match=r"email.mjml: template: output is over 16 MB"):
        render(tmp_path, loop)
    with pytest.raises(InputError, match=r"email.mjml:2: template: 'lipsum' is undefined"):
        render(tmp_path, "{{ lipsum(999999) }}")
    assert time.monotonic() - started < 5
