"""Instalment → PreparedMessage: Markdown and MJML rendered once, per-reader values as slots."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from seriespub.config import SeriesSettings
from seriespub.errors import InputError
from seriespub.message import UNSUBSCRIBE_FIELD, PreparedMessage, SlottedText
from seriespub.models import Instalment
from seriespub.render import markdown, mjml, text
from seriespub.render.wording import Wording, wording
from seriespub.textfiles import read_text

TEMPLATE_NAME = "email.mjml"


@dataclass(frozen=True)
class RenderInputs:
    """What rendering needs besides the instalment itself."""

    series: SeriesSettings
    secret: bytes
    next_instalment: Instalment | None = None
    template_path: Path | None = None     # the series' templates/email.mjml, if any
    every_weeks: int | None = None        # the release cadence; None: no [schedule]

    @property
    def words(self) -> Wording:
        """The phrases seriespub writes, in the series' language and cadence."""
        s = self.series
        return wording(s.language, s.title, self.every_weeks, s.postal_address)


def default_template() -> str:
    return (resources.files("seriespub.render") / "templates" / TEMPLATE_NAME).read_text(
        encoding="utf-8")


def prepare(instalment: Instalment, inputs: RenderInputs) -> PreparedMessage:
    """Render `instalment` once: HTML via MJML, text from the Markdown, slots left open."""
    slots = markdown.SlotTable()
    body = slots.replace_tags(instalment.body)
    unsubscribe = slots.token(UNSUBSCRIBE_FIELD)
    content = markdown.to_html(body, inputs.words.back)
    source = _render_template(instalment, inputs, content, slots, unsubscribe)
    where = str(inputs.template_path or f"default template ({instalment.path.name})")
    html = mjml.compile_mjml(source, where)
    plain = _text_part(instalment, inputs, text.to_text(body), unsubscribe)
    message = PreparedMessage(
        number=instalment.number, subject=instalment.subject,
        from_header=_address(inputs.series.from_) or "",
        reply_to=_address(inputs.series.reply_to), html=SlottedText.parse(html),
        text=SlottedText.parse(plain), slots=tuple(slots.slots),
        unsubscribe_url=inputs.series.unsubscribe_url, secret=inputs.secret,
        series_title=inputs.series.title, preheader=instalment.preheader)
    message.validate()
    return message


def _address(value: str | None) -> str | None:
    """An address header value, its display name RFC 2047-encoded when not ASCII."""
    from email.utils import formataddr, parseaddr

    return formataddr(parseaddr(value), charset="utf-8") if value else None


class _SubscriberTokens:
    """`{{ subscriber.X }}` in a template: a slot filled per recipient."""

    def __init__(self, slots: markdown.SlotTable) -> None:
        self._slots = slots

    def __getattr__(self, field: str) -> Any:
        from markupsafe import Markup

        return Markup(self._slots.token(field))


def _render_template(instalment: Instalment, inputs: RenderInputs, content: str,
                     slots: markdown.SlotTable, unsubscribe: str) -> str:
    import jinja2
    from markupsafe import Markup

    if inputs.template_path is not None:
        source, where = read_text(inputs.template_path), str(inputs.template_path)
    else:
        source, where = default_template(), "default template"
    try:
        rendered: str = _compiled(source).render(
            series=inputs.series, instalment=instalment, next=inputs.next_instalment,
            content=Markup(content), unsubscribe_url=Markup(unsubscribe), words=inputs.words,
            subscriber=_SubscriberTokens(slots), **instalment.extra)
        return rendered
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"template: {exc.message}", path=where, line=exc.lineno) from None
    except jinja2.UndefinedError as exc:
        raise InputError(f"template: {exc.message}", path=where) from None


@functools.lru_cache(maxsize=8)
def _compiled(source: str) -> Any:
    """Compile a template once per process: compiling costs more than rendering."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    return env.from_string(source)


def _text_part(instalment: Instalment, inputs: RenderInputs, body: str, unsub: str) -> str:
    words, series = inputs.words, inputs.series
    lines = [f"{series.title} · {words.part} {instalment.number}", "", instalment.title,
             "=" * min(len(instalment.title), 72), "", body.rstrip("\n")]
    if inputs.next_instalment is not None:
        lines += ["", "-" * 24, f"{words.next_label}: {inputs.next_instalment.title}"]
    lines += ["", "-- ", words.subscribed, f"{words.unsubscribe}: {unsub}"]
    if words.postal:
        lines += [words.postal]
    return "\n".join([*lines, ""])
