"""Instalment → PreparedMessage: Markdown and MJML rendered once, per-reader values as slots."""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from seriespub.config import SeriesSettings
from seriespub.errors import ConfigError, InputError
from seriespub.message import UNSUBSCRIBE_FIELD, PreparedMessage, SlottedText
from seriespub.models import Instalment
from seriespub.render import markdown, mjml, templating, text
from seriespub.render.wording import Wording, wording
from seriespub.textfiles import read_text
from seriespub.textwidth import display_width

TEMPLATE_NAME = "email.mjml"
MAX_TEMPLATE_BYTES = 4 * 1024 * 1024  # the default template is 10 KB; an email under 102 KB


@dataclass(frozen=True)
class SiteLinks:
    """The instalment's page on the series' site, and the earlier parts' pages."""

    view: str
    previously: tuple[tuple[int, str, str], ...] = ()  # (number, title, url)


@dataclass(frozen=True)
class RenderInputs:
    """What rendering needs besides the instalment itself."""

    series: SeriesSettings
    secret: bytes = field(repr=False)
    next_instalment: Instalment | None = None
    template_path: Path | None = None  # the series' templates/email.mjml, if any
    every_weeks: int | None = None  # the release cadence; None: no [schedule]
    site: SiteLinks | None = None  # with [site]: "view in browser", "previously"

    @property
    def words(self) -> Wording:
        """The phrases seriespub writes, in the series' language and cadence."""
        s = self.series
        return wording(s.language, s.title, self.every_weeks, s.postal_address)


def default_template() -> str:
    return (resources.files("seriespub.render") / "templates" / TEMPLATE_NAME).read_text(
        encoding="utf-8"
    )


def read_template(path: Path) -> str:
    """The author's template, or an InputError naming it: missing (a dangling symlink), not a
    regular file (a folder, a device that would never end), too large, or not UTF-8."""
    try:
        info = path.stat()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            f"not a file: templates/{TEMPLATE_NAME} must be MJML text (or a symlink to it)",
            path=path,
        )
    if info.st_size > MAX_TEMPLATE_BYTES:
        raise InputError(
            f"over {MAX_TEMPLATE_BYTES // (1024 * 1024)} MB: a template is a page of MJML",
            path=path,
        )
    return read_text(path)


def prepare(instalment: Instalment, inputs: RenderInputs) -> PreparedMessage:
    """Render `instalment` once: HTML via MJML, text from the Markdown, slots left open."""
    slots = markdown.SlotTable()
    body = slots.replace_tags(instalment.body)
    unsubscribe = slots.token(UNSUBSCRIBE_FIELD)
    content = markdown.to_html(body, inputs.words.notes)
    source = _render_template(instalment, inputs, content, slots, unsubscribe)
    where = str(inputs.template_path or f"default template ({instalment.path.name})")
    html = mjml.compile_mjml(source, where)
    page = inputs.site.view if inputs.site else None
    plain = _text_part(instalment, inputs, text.to_text(body, page), unsubscribe)
    message = PreparedMessage(
        number=instalment.number,
        subject=instalment.subject,
        from_header=_address(inputs.series.from_, "series.from") or "",
        reply_to=_address(inputs.series.reply_to, "series.reply_to"),
        html=SlottedText.parse(html),
        text=SlottedText.parse(plain),
        slots=tuple(slots.slots),
        unsubscribe_url=inputs.series.unsubscribe_url,
        secret=inputs.secret,
        series_title=inputs.series.title,
        preheader=instalment.preheader,
    )
    message.validate()
    return message


def _address(value: str | None, key: str) -> str | None:
    """An address header value on one line: names RFC 2047-encoded, domains as IDNA A-labels.

    The settings were validated on load (`addresses.parse_mailboxes`), so the value holds
    exactly the mailboxes the author wrote.
    """
    from seriespub import headers
    from seriespub.addresses import parse_mailboxes

    if not value:
        return None
    try:
        return headers.unfolded(headers.mailboxes(parse_mailboxes(value)))
    except ValueError as exc:
        raise ConfigError(f"'{key}': {exc}") from None


class _SubscriberTokens(templating.SubscriberTokens):
    """`{{ subscriber.X }}` in a template: a slot filled per recipient."""

    def __init__(self, slots: markdown.SlotTable) -> None:
        super().__init__(slots.token)


def _render_template(
    instalment: Instalment,
    inputs: RenderInputs,
    content: str,
    slots: markdown.SlotTable,
    unsubscribe: str,
) -> str:
    """The template rendered in the sandbox; refuses what templating's rules refuse."""
    from markupsafe import Markup

    if inputs.template_path is not None:
        source, where = read_template(inputs.template_path), str(inputs.template_path)
    else:
        source, where = default_template(), "default template"
    _refuse_draft_constructs(instalment)
    _refuse_typed_tokens(instalment, inputs, source, where)
    context = {
        **instalment.extra,
        "series": inputs.series,
        "instalment": instalment,
        "next": inputs.next_instalment,
        "content": Markup(content),
        "unsubscribe_url": Markup(unsubscribe),
        "subscriber": _SubscriberTokens(slots),
        "words": inputs.words,
        "site": inputs.site,
    }
    return templating.render(_compiled(source, where), where, context, lambda: len(slots.slots))


def _refuse_draft_constructs(instalment: Instalment) -> None:
    for offset, problem in templating.draft_problems(instalment.body):
        raise InputError(problem, path=instalment.path, line=instalment.body_line + offset)


def _refuse_typed_tokens(
    instalment: Instalment, inputs: RenderInputs, source: str, where: str
) -> None:
    """A `%%SPn%%` typed anywhere that reaches the message would be taken for a slot."""
    found = templating.slot_token_problem(source)
    if found is not None:
        raise InputError(found[1], path=where, line=found[0] + 1)
    texts = [
        (instalment.path, t)
        for t in (
            instalment.title,
            instalment.subject,
            instalment.preheader,
            *map(str, instalment.extra.values()),
        )
    ]
    if inputs.next_instalment is not None:
        texts.append((inputs.next_instalment.path, inputs.next_instalment.title))
    texts += [
        (instalment.path, title) for _, title, _ in (inputs.site.previously if inputs.site else ())
    ]
    for path, text_ in texts:
        found = templating.slot_token_problem(text_)
        if found is not None:
            raise InputError(f"front matter: {found[1]}", path=path)
    for text_ in (inputs.series.title, inputs.series.from_):
        found = templating.slot_token_problem(text_)
        if found is not None:
            raise InputError(f"[series]: {found[1]}", path="seriespub.toml")


def _compiled(source: str, where: str = "template") -> Any:
    """Compile a template once per process: compiling costs more than rendering."""
    return templating.compile_template(source, where)


def _text_part(instalment: Instalment, inputs: RenderInputs, body: str, unsub: str) -> str:
    words, series = inputs.words, inputs.series
    lines = [
        f"{series.title} · {words.part} {instalment.number}",
        "",
        instalment.title,
        "=" * min(display_width(instalment.title), text.WIDTH),
        "",
        body.rstrip("\n"),
    ]
    if inputs.site is not None:
        lines[1:1] = [f"{words.view_in_browser}: {inputs.site.view}"]
        if inputs.site.previously:
            lines += ["", "-" * 24, f"{words.previously}:"]
            lines += [
                f"- {words.part} {n}: {title}\n  {url}" for n, title, url in inputs.site.previously
            ]
    if inputs.next_instalment is not None:
        lines += ["", "-" * 24, f"{words.next_label}: {inputs.next_instalment.title}"]
    lines += ["", "-- ", words.subscribed, f"{words.unsubscribe}: {unsub}"]
    if words.postal:
        lines += [words.postal]
    return "\n".join([*lines, ""])
