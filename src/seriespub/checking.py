"""`check` for a whole series: settings, drafts, rendering, size, subscribers.

Whatever `check` calls an error in a draft or template also stops `preview` and `send`
(the same rules run when rendering, see `require_known_fields`).
"""

from __future__ import annotations

from seriespub import publishing, subscribers
from seriespub.config import INBOX_PASSWORD, dotenv_problems
from seriespub.drafts import load_drafts
from seriespub.errors import ConfigError, InputError, SeriespubError
from seriespub.message import UNSUBSCRIBE_FIELD, PreparedMessage, slot_token
from seriespub.models import Instalment, Recipient, Subscriber
from seriespub.render import checks
from seriespub.render.checks import BUILTIN_FIELDS, Finding, Level
from seriespub.render.templating import OverBound
from seriespub.render.visible import seen_slots
from seriespub.series import Series
from seriespub.subscribers import RowProblem

TYPICAL_VALUE = "x" * 40


def check_series(series: Series) -> list[Finding]:
    """Every finding, errors and warnings, in the order an author would fix them."""
    settings, where = series.settings, str(series.config_path)
    dotenv = series.root / ".env"
    findings = [
        *(Finding(Level.WARNING, f"{dotenv}:{n}", why) for n, why in dotenv_problems(dotenv)),
        *checks.check_unsubscribe(settings.series, settings.delivery, where),
        *checks.check_api_urls(settings.delivery, where),
        *_delivery_findings(series, where),
    ]
    drafts = load_drafts(series.drafts_dir, strict=False)  # its problems are findings here
    findings += [
        Finding(Level.ERROR, _where(p) or str(series.drafts_dir), _plain(p))
        for p in drafts.problems
    ]
    numbers = [i.number for i in drafts.instalments]
    findings += checks.check_numbers(numbers, str(series.drafts_dir))
    fields = set(_columns(series, findings))
    rendering = True  # until a render stops at its bound: every other draft's would too
    for instalment in drafts.instalments:
        findings += checks.check_body(
            instalment.path, instalment.body, instalment.body_line, fields
        )
        findings += checks.check_subject(instalment.path, instalment.subject)
        if not rendering:
            continue
        try:
            message = publishing.render(series, drafts, instalment, create_key=False)
        except OverBound as exc:  # seconds each: one is enough to name the template
            _add_once(findings, Finding(Level.ERROR, _where(exc) or str(exc.path), _plain(exc)))
            rendering = False
            continue
        except InputError as exc:
            _add_once(
                findings, Finding(Level.ERROR, _where(exc) or str(instalment.path), _plain(exc))
            )
            continue
        except ConfigError as exc:
            # The series' settings or unsubscribe key, not this draft: every draft's render
            # meets it, so it is said once, against the settings (or the file it names).
            _add_once(findings, config_finding(exc, str(series.config_path)))
            continue
        except SeriespubError as exc:
            findings.append(Finding(Level.ERROR, str(instalment.path), str(exc)))
            continue
        html_size, text_size = sizes_as_sent(message, sorted(fields))
        findings += checks.check_size(instalment.path, html_size, text_size)
        _add_once(findings, *_unsubscribe_in_html(series, message))
    return findings


def _unsubscribe_in_html(series: Series, message: PreparedMessage) -> list[Finding]:
    """An author's template that prints no `{{ unsubscribe_url }}` a reader can see or click
    (only in a comment, a `title`, an element hidden by a style, a class or `hidden`:
    `render.visible`) leaves HTML readers (most of them) no way to leave: the text part and
    the List-Unsubscribe header keep one."""
    if series.template_path is None:
        return []
    printed = {i for i in message.html.slot_ids if message.slots[i].field == UNSUBSCRIBE_FIELD}
    if printed and printed & seen_slots(message.html.with_tokens(slot_token)):
        return []
    return [
        Finding(
            Level.WARNING,
            str(series.template_path),
            "the HTML part has no unsubscribe link (its readers see no way to leave); "
            "print {{ unsubscribe_url }} in the template, in a link's href or its text "
            "(not in a comment, a title or a hidden element)",
        )
    ]


def _delivery_findings(series: Series, where: str) -> list[Finding]:
    """What would stop a send before its first request: the provider's secrets that are
    not set (environment or .env), Mailgun without its sending domain. Nothing is asked
    of the provider: `check` works offline."""
    from seriespub.providers import SPECS

    delivery = series.settings.delivery
    spec = SPECS[delivery.provider]
    findings = []
    for name in (*spec.required_secrets, *spec.optional_secrets):
        try:
            if name in spec.required_secrets:
                series.secrets.require(name, f"the {spec.name} provider")
            else:
                series.secrets.credential(name)
        except ConfigError as exc:
            findings.append(config_finding(exc, where))
    if series.settings.inbox is not None and series.secrets.get(INBOX_PASSWORD) is None:
        # A send then goes out without reading the inbox (a warning); `subscribers sync` fails.
        findings.append(
            Finding(
                Level.WARNING,
                where,
                f"{INBOX_PASSWORD} is not set (environment or .env): [inbox] is not read "
                "before a send, and subscribers sync fails",
            )
        )
    if spec.name == "mailgun" and not delivery.mailgun.domain:
        findings.append(
            Finding(
                Level.ERROR,
                where,
                "'delivery.mailgun.domain' is not set: the mailgun provider needs the "
                "sending domain",
            )
        )
    return findings


def sizes_as_sent(
    message: PreparedMessage, fields: list[str], recipient: Recipient | None = None
) -> tuple[int, int]:
    """Bytes of the HTML and text parts as they travel (encoded) to `recipient`, by default
    a typical reader: every merge value 40 characters long."""
    if recipient is None:
        reader = Subscriber(
            "reader@example.com", TYPICAL_VALUE, fields=dict.fromkeys(fields, TYPICAL_VALUE)
        )
        recipient = message.recipient(reader)
    size = message.sent_size(recipient)
    return size.html, size.text


def require_known_fields(series: Series, instalment: Instalment, message: PreparedMessage) -> None:
    """Refuse a merge field no subscriber has: it would go out as its default, or blank."""
    try:
        known = set(subscribers.columns_of(series.subscribers_path)) | BUILTIN_FIELDS
    except (SeriespubError, OSError):
        return  # the send reports an unreadable list on its own
    for line, field in checks.unknown_fields(instalment.body, instalment.body_line, known):
        raise InputError(checks.unknown_field_message(field), path=instalment.path, line=line)
    for slot in message.slots:
        if slot.field not in known:
            raise InputError(
                checks.unknown_field_message(slot.field),
                path=series.template_path or "default template",
            )


def _add_once(findings: list[Finding], *found: Finding) -> None:
    """Rendering refuses what check_body already reported: say it once."""
    for finding in found:
        if finding not in findings:
            findings.append(finding)


def config_finding(problem: ConfigError, where: str) -> Finding:
    """A settings or secrets error as an error finding: at the file, `file:line` or variable
    it names itself, else at `where`; its hint (what to do) in brackets, as `_columns`'s."""
    hint = f" ({problem.hint})" if problem.hint else ""
    return Finding(Level.ERROR, problem.where or where, problem.what + hint)


def _where(problem: InputError) -> str:
    if problem.path is None:
        return ""
    return f"{problem.path}:{problem.line}" if problem.line else str(problem.path)


def _plain(problem: InputError) -> str:
    """The message without the `path:line: ` prefix that `where` already shows."""
    text, prefix = str(problem), f"{_where(problem)}: "
    return text[len(prefix) :] if problem.path is not None and text.startswith(prefix) else text


def _columns(series: Series, findings: list[Finding]) -> list[str]:
    """The list's columns; its unreadable rows and repeated addresses become findings.
    Streamed in flat memory: the list is never held whole (a million readers)."""
    path = series.subscribers_path
    problems: list[RowProblem] = []
    wide = subscribers.ProblemTally()  # the first few: a shifted export may have millions
    garbled = subscribers.ProblemTally()
    try:
        columns = subscribers.columns_of(path)
        repeated = subscribers.duplicate_addresses(path, problems, wide, garbled)
    except InputError as exc:  # said once where it is, with how to fix it
        hint = f" ({exc.hint})" if exc.hint else ""
        findings.append(Finding(Level.ERROR, _where(exc) or str(path), _plain(exc) + hint))
        return []
    except SeriespubError as exc:
        findings.append(Finding(Level.ERROR, str(path), str(exc)))
        return []
    for problem in problems:
        findings.append(Finding(Level.ERROR, f"{path}:{problem.line}", problem.message))
    for address, count in repeated.items():
        findings.append(Finding(Level.ERROR, str(path), f"{address} appears {count} times"))
    findings += _wide_rows(path, wide)
    findings += _tallied(path, garbled, "garbled row(s)")
    return columns


def _wide_rows(path: object, wide: subscribers.ProblemTally) -> list[Finding]:
    """Cells past the header: no column names them (kept by every rewrite, never merged)."""
    return _tallied(path, wide, "row(s) with cells past the header")


def _tallied(path: object, tally: subscribers.ProblemTally, what: str) -> list[Finding]:
    """The first few rows of a tally as warnings, and how many more there are."""
    found = [Finding(Level.WARNING, f"{path}:{p.line}", p.message) for p in tally.first]
    if tally.count > len(found):
        more = tally.count - len(found)
        found.append(Finding(Level.WARNING, str(path), f"{more:,} more {what}"))
    return found
