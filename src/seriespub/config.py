"""seriespub.toml → typed settings, validated once; secrets from the environment or `.env`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from seriespub import redact
from seriespub.errors import ConfigError
from seriespub.hostnames import check_helo_name, check_host

CONFIG_NAME = "seriespub.toml"
DAY_SECONDS = 86_400  # the longest timeout or wait a setting may ask for


@dataclass(frozen=True)
class SeriesSettings:
    title: str
    from_: str
    reply_to: str | None = None
    unsubscribe_url: str | None = None
    language: str = "en"
    postal_address: str | None = None  # the sender's postal address (CAN-SPAM), in the footer
    description: str | None = None  # Markdown: the series on its web page (`[site]`)
    # Readers who subscribe after part 1: "from_start" (their own track from part 1, one part
    # per slot) or "current" (join where the series stands). See seriespub.tracks.
    late_joiners: str = "from_start"


@dataclass(frozen=True)
class PostmarkSettings:
    api_url: str = "https://api.postmarkapp.com"
    message_stream: str = "broadcast"
    # Seconds a sent message may take to show up in Postmark's outbound search: a lost
    # answer is looked up no sooner, so "not found" really means "not sent".
    settle_delay: float = 10.0


@dataclass(frozen=True)
class SendgridSettings:
    api_url: str = "https://api.sendgrid.com"
    asm_group_id: int | None = None


@dataclass(frozen=True)
class MailgunSettings:
    domain: str = ""
    region: str = "us"
    api_url: str | None = None
    unsubscribe: str = "own"


@dataclass(frozen=True)
class ResendSettings:
    api_url: str = "https://api.resend.com"


@dataclass(frozen=True)
class SesSettings:
    region: str = "us-east-1"
    api_url: str | None = None
    configuration_set: str | None = None
    contact_list: str | None = None


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None  # PEM CA certificates to trust too; relative to the series
    # Envelope sender; "{token}" becomes the reader's token (VERP), so a bounce names them.
    bounce_address: str | None = None
    # The name given in EHLO; default: the machine's name when it is a domain, else the
    # connection's own address as a literal (no DNS look-up either way).
    helo_name: str | None = None


@dataclass(frozen=True)
class DeliverySettings:
    provider: str = "outbox"
    batch_size: int | None = None
    concurrency: int | None = None  # requests in flight; default: the provider's
    max_rate: float | None = None
    timeout: float = 30.0
    max_retry_seconds: float = 300.0
    postmark: PostmarkSettings = field(default_factory=PostmarkSettings)
    sendgrid: SendgridSettings = field(default_factory=SendgridSettings)
    mailgun: MailgunSettings = field(default_factory=MailgunSettings)
    resend: ResendSettings = field(default_factory=ResendSettings)
    ses: SesSettings = field(default_factory=SesSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)


@dataclass(frozen=True)
class ScheduleSettings:
    first_release: dt.datetime | None = None
    timezone: str = "UTC"
    every_weeks: int = 1
    skip: tuple[dt.date, ...] = ()
    catch_up: str = "oldest"
    install: str | None = None  # how CI installs seriespub: a pip requirement or git URL


@dataclass(frozen=True)
class SiteSettings:
    """`[site]`: the series on the web. Without `base_url` there is no site."""

    base_url: str | None = None  # where the site is served from, ending in /
    out_dir: str = "site"  # relative to the series folder
    subscribe: str | None = None  # a mailto: or https:// form action on the index page


@dataclass(frozen=True)
class InboxSettings:
    """`[inbox]`: the author's mailbox, read over IMAP for unsubscribes and bounces."""

    host: str
    username: str
    port: int | None = None  # default: 993 for tls, 143 otherwise
    security: str = "tls"
    folder: str = "INBOX"
    done_folder: str = "seriespub"
    timeout: float = 30.0
    ca_file: str | None = None  # PEM CA certificates to trust too


@dataclass(frozen=True)
class Settings:
    series: SeriesSettings
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    inbox: InboxSettings | None = None


_CHOICES: dict[str, tuple[str, ...]] = {
    "schedule.catch_up": ("oldest", "all"),
    "series.late_joiners": ("from_start", "current"),
    "inbox.security": ("tls", "starttls", "none"),
}


def _choices(dotted: str) -> tuple[str, ...] | None:
    """Allowed values of a key: the provider names and each provider's choices come from
    its spec (imported here: `seriespub.providers` builds on this module)."""
    from seriespub.providers import SPECS

    if dotted == "delivery.provider":
        return tuple(SPECS)
    table, _, key = dotted.removeprefix("delivery.").partition(".")
    if dotted.startswith("delivery.") and table in SPECS:
        return SPECS[table].choices.get(key)
    return _CHOICES.get(dotted)


def load_settings(path: Path) -> Settings:
    """Read and validate seriespub.toml; every problem names the file and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", where=str(path)) from None
    return parse_settings(text.removeprefix("\ufeff"), path)  # the byte order mark Notepad writes


def parse_settings(text: str, path: Path) -> Settings:
    """Validate the text of seriespub.toml (to be) at `path`, as `load_settings` does."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", where=str(path)) from None
    if "series" not in raw:
        raise ConfigError("missing [series] table", where=str(path))
    try:
        settings: Settings = _build(Settings, raw, "")
        _check_values(settings)
        settings = replace(settings, site=_site_urls_in_ascii(settings.site))
    except ConfigError as exc:
        raise ConfigError(str(exc), where=str(path)) from None
    return settings


def _check_values(settings: Settings) -> None:
    d = settings.delivery
    for name, value in (
        ("delivery.batch_size", d.batch_size),
        ("delivery.concurrency", d.concurrency),
        ("schedule.every_weeks", settings.schedule.every_weeks),
    ):
        if value is not None and value < 1:
            raise ConfigError(f"'{name}' must be at least 1, not {value}")
    _check_numbers(d)
    _check_calendar(settings.schedule)
    _check_series(settings.series)
    _check_site(settings.site)
    install = settings.schedule.install
    if install is not None and (not install.strip() or not install.isprintable()):
        raise ConfigError(
            "'schedule.install' must be one line: a pip requirement such as "
            '"seriespub @ git+https://github.com/OWNER/seriespub@COMMIT"'
        )
    check_host("delivery.smtp", d.smtp.host)
    if d.smtp.helo_name is not None:
        check_helo_name(d.smtp.helo_name)
    if settings.inbox is not None:
        from seriespub.inbox.settings import check_inbox

        check_inbox(settings.inbox)
    if d.smtp.bounce_address is not None:
        from seriespub.inbox.settings import check_bounce_address

        check_bounce_address(d.smtp.bounce_address)


def _check_numbers(d: DeliverySettings) -> None:
    """Zero, negative or NaN limits would turn rate limiting, retries or timeouts off."""
    positive = (
        ("delivery.max_rate", d.max_rate),
        ("delivery.timeout", d.timeout),
        ("delivery.smtp.timeout", d.smtp.timeout),
    )
    for name, number in positive:
        if number is not None and not number > 0:
            raise ConfigError(f"'{name}' must be more than 0, not {number}")
    for name, number in (
        ("delivery.max_retry_seconds", d.max_retry_seconds),
        ("delivery.postmark.settle_delay", d.postmark.settle_delay),
    ):
        if not number >= 0:
            raise ConfigError(f"'{name}' must be 0 or more, not {number}")
    _check_clock_sized(d)
    if not 1 <= d.smtp.port <= 65535:
        raise ConfigError(f"'delivery.smtp.port' must be 1 to 65535, not {d.smtp.port}")
    if d.sendgrid.asm_group_id is not None and d.sendgrid.asm_group_id < 1:
        raise ConfigError("'delivery.sendgrid.asm_group_id' must be at least 1")


def _check_clock_sized(d: DeliverySettings) -> None:
    """A wait or timeout longer than a day is a typo, and past ~10^9 s no clock can hold it."""
    for name, seconds in (
        ("delivery.timeout", d.timeout),
        ("delivery.smtp.timeout", d.smtp.timeout),
        ("delivery.postmark.settle_delay", d.postmark.settle_delay),
    ):
        check_at_most_a_day(name, seconds)
    if d.max_rate is not None and d.max_rate < 1 / DAY_SECONDS:
        raise ConfigError(
            f"'delivery.max_rate' must be at least 1/{DAY_SECONDS} (one message a day), "
            f"not {d.max_rate}"
        )


def check_at_most_a_day(name: str, seconds: float) -> None:
    """Refuse a number of seconds over a day, naming its key."""
    if seconds > DAY_SECONDS:
        raise ConfigError(f"'{name}' must be at most {DAY_SECONDS} (seconds: a day), not {seconds}")


def _check_series(series: SeriesSettings) -> None:
    """Sender, reply address and unsubscribe URL: exactly what the author meant, or refused."""
    from seriespub.addresses import parse_mailbox, parse_mailboxes

    if not series.title.strip():
        raise ConfigError("'series.title' must not be empty")
    if any((c < " " and c != "\t") or c == "\x7f" for c in series.title):
        # It names the series in From, List-Id and every page: one line of text.
        raise ConfigError("'series.title' must be one line, without control characters")
    for key, value, parse in (
        ("series.from", series.from_, parse_mailbox),
        ("series.reply_to", series.reply_to, parse_mailboxes),
    ):
        if value is None:
            continue
        try:
            parse(value)
        except ValueError as exc:
            raise ConfigError(f"'{key}': {exc}", hint=_ADDRESS_HINT) from None
    if series.unsubscribe_url is not None:
        _check_unsubscribe_url(series.unsubscribe_url)


_ADDRESS_HINT = 'write it as "Ann Writer <ann@example.com>" or ann@example.com'
# A URL goes into `List-Unsubscribe: <…>` and into links: these would end the `<…>` early,
# start a second URI, or break the header or the link.
_URL_FORBIDDEN = frozenset(' <>"\\^`{|}\x7f')
_URL_MAX = 400  # with a 32-character token and an address of 254 (×3 once quoted) ≤ 998


def _check_unsubscribe_url(url: str) -> None:
    key = "'series.unsubscribe_url'"
    if not url.startswith("https://") or len(url) <= len("https://"):
        raise ConfigError(f"{key} must be an https:// URL (RFC 8058)")
    bare = url.replace("{token}", "").replace("{email}", "")
    bad = sorted({c for c in bare if c in _URL_FORBIDDEN or not c.isprintable() or not c.isascii()})
    host = url[len("https://") :].split("/", 1)[0].split("?", 1)[0]
    if not host.isascii() and (idna := _idna_url(url, host)) is not None:
        raise ConfigError(
            f"{key} has a domain with {', '.join(repr(c) for c in bad)}: write it as IDNA, {idna}"
        )
    if bad:
        raise ConfigError(
            f"{key} has {', '.join(repr(c) for c in bad)}: percent-encode it "
            "(a space or '>' would start a second URI in List-Unsubscribe)"
        )
    if "{token}" not in url and "{email}" not in url:
        raise ConfigError(
            f"{key} must contain {{token}} (or {{email}}) so that each reader gets their own link"
        )
    if len(url) > _URL_MAX:
        raise ConfigError(f"{key} is longer than {_URL_MAX} characters")


def _idna_url(url: str, host: str) -> str | None:
    """`url` with its host as IDNA A-labels, or None if the host is no domain."""
    from seriespub.addresses import ascii_domain

    user, at, host_port = host.rpartition("@")
    name, colon, port = host_port.partition(":")
    ascii_host = ascii_domain(name)
    if ascii_host is None or not (user + port).isascii():
        return None
    return url.replace(host, f"{user}{at}{ascii_host}{colon}{port}", 1)


def _ascii_url(url: str) -> str | None:
    """An http(s) `url` as RFC 3986 wants it: the host as IDNA A-labels, every non-ASCII
    character of the rest percent-encoded as UTF-8 (what is ASCII stays as written, so an
    ASCII URL is unchanged); None when the host is no domain name."""
    import urllib.parse

    host = urllib.parse.urlsplit(url).netloc
    if not host.isascii():
        url = _idna_url(url, host) or ""
        if not url:
            return None
    return re.sub(r"[^\x00-\x7f]+", lambda m: urllib.parse.quote(m.group(0)), url)


def _site_urls_in_ascii(site: SiteSettings) -> SiteSettings:
    """`[site]` with its web addresses in ASCII, once on load: every page, feed entry,
    sitemap and email that writes one writes that form (`bücher.example` → `xn--bcher-kva…`)."""
    urls: dict[str, str] = {}
    for key in ("base_url", "subscribe"):
        url = getattr(site, key)
        if url is None or url.isascii() or not url.startswith(("https://", "http://")):
            continue
        written = _ascii_url(url)
        if written is None:
            raise ConfigError(f"'site.{key}' has a host that is no domain name: {url!r}")
        urls[key] = written
    return replace(site, **urls)


def _check_site(site: SiteSettings) -> None:
    """A URL that lands in every page, feed entry and email: absolute, plain, ending in /."""
    if site.base_url is not None:
        url = site.base_url
        if (
            not url.startswith(("https://", "http://"))
            or not url.endswith("/")
            or any(c in _URL_FORBIDDEN or not c.isprintable() for c in url)
            or "{" in url
        ):
            raise ConfigError(f"'site.base_url' must be an http(s):// URL ending in /, not {url!r}")
    if site.subscribe is not None and not site.subscribe.startswith(
        ("mailto:", "https://", "http://")
    ):
        raise ConfigError("'site.subscribe' must be a mailto: address or an http(s):// URL")
    out = Path(site.out_dir)
    if (
        not out.parts
        or out.is_absolute()
        or ".." in out.parts
        or out.parts[0] in (".seriespub", "drafts", "templates")
    ):
        raise ConfigError(
            "'site.out_dir' must be a folder inside the series folder, such as "
            f'"site", not {site.out_dir!r}'
        )


# A calendar must fit in a datetime (up to the year 9999) with room for its arithmetic
# (a cadence, a zone's offset): ten-year cadences and dates within these years leave it.
MAX_EVERY_WEEKS = 520
FIRST_YEAR, LAST_YEAR = 1970, 8999
YEARS = f"between the years {FIRST_YEAR} and {LAST_YEAR}"


def in_calendar_years(when: dt.datetime) -> bool:
    """Whether `when` is a date the release calendar can work with (FIRST_YEAR..LAST_YEAR)."""
    return FIRST_YEAR <= when.year <= LAST_YEAR


def _check_calendar(schedule: ScheduleSettings) -> None:
    if schedule.every_weeks > MAX_EVERY_WEEKS:
        raise ConfigError(
            f"'schedule.every_weeks' must be at most {MAX_EVERY_WEEKS} (ten years), "
            f"not {schedule.every_weeks}"
        )
    first = schedule.first_release
    if first is not None and not in_calendar_years(first):
        raise ConfigError(f"'schedule.first_release' must be {YEARS}, not {first}")
    _check_timezone(schedule.timezone)


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"'schedule.timezone': unknown time zone {name!r} "
            "(use an IANA name such as Europe/London)"
        ) from None


def _key(name: str) -> str:
    """`from_` in Python is `from` in TOML."""
    return name.rstrip("_")


def _build(cls: Any, raw: Mapping[str, Any], where: str) -> Any:
    """Build dataclass `cls` from a TOML table; unknown keys and wrong types are errors."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where or 'top level'} must be a table")
    hints = typing.get_type_hints(cls)
    fields = {_key(f.name): f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        dotted = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown key '{dotted}'")
    values: dict[str, Any] = {}
    for key, f in fields.items():
        dotted = f"{where}.{key}" if where else key
        if key in raw:
            values[f.name] = _convert(hints[f.name], raw[key], dotted)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key '{dotted}'")
    return cls(**values)


def _convert(hint: Any, value: Any, dotted: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, dotted)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, dotted)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"'{dotted}' must be a list")
        return tuple(_convert(args[0], v, dotted) for v in value)
    converted = _scalar(hint, value, dotted)
    choices = _choices(dotted)
    if choices and converted not in choices:
        raise ConfigError(f"'{dotted}' must be one of {', '.join(choices)}, not {value!r}")
    return converted


def _scalar(hint: Any, value: Any, dotted: str) -> Any:
    if hint is dt.datetime:
        return _to_datetime(value, dotted)
    if hint is dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"'{dotted}' must be a date like 2026-12-25") from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"'{dotted}' must be a finite number, not {value}")
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"'{dotted}' must be {_type_name(hint)}, not {type(value).__name__}")
    if hint is str and (bad := _control_character(value)) is not None:
        # A NUL in a path is a ValueError wherever the path is opened; elsewhere it breaks
        # the email's markup (MJML) or a header far from here.
        raise ConfigError(f"'{dotted}' has a control character (U+{ord(bad):04X})")
    return value


def _control_character(text: str) -> str | None:
    """The first control character of `text` other than a tab or a line break (lines are
    the business of each key's own check: an address may have several, a title not)."""
    return next((c for c in text if (c < " " and c not in "\t\n\r") or c == "\x7f"), None)


def _to_datetime(value: Any, dotted: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"'{dotted}' must be a date and time like 2026-12-01 09:00") from None


def _type_name(hint: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


class Secret:
    """A secret value whose repr and str never show it, and that `redact` scrubs from
    everything printed or stored from the moment it exists (unless `scrub=False`)."""

    __slots__ = ("_value",)

    def __init__(self, value: str, *, scrub: bool = True) -> None:
        self._value = value
        if scrub:
            redact.register(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


# Read through Secrets for convenience, but not secret: never scrubbed from messages.
NOT_SECRET = frozenset({"AWS_ENDPOINT_URL_SESV2", "AWS_ENDPOINT_URL"})
# Secrets that belong to no provider (the providers' own are in their specs).
INBOX_PASSWORD = "IMAP_PASSWORD"  # `[inbox]`'s login
OTHER_SECRETS = ("SERIESPUB_SECRET", "SERIESPUB_SECRET_PREVIOUS", INBOX_PASSWORD)


def known_secrets() -> tuple[str, ...]:
    """Every secret seriespub knows: all that are configured are scrubbed as soon as any is
    read, whichever provider runs (a key left in .env for another provider is a secret too)."""
    from seriespub.providers import SPECS

    names = [*OTHER_SECRETS, *(n for spec in SPECS.values() for n in spec.secrets)]
    return tuple(dict.fromkeys(names))


class Secrets:
    """Secrets from the process environment, falling back to `.env` beside seriespub.toml."""

    def __init__(self, env: Mapping[str, str], dotenv_path: Path | None = None) -> None:
        self._env = dict(env)
        self._dotenv_path = dotenv_path
        self._dotenv: dict[str, str] | None = None
        self._registered = False

    def __repr__(self) -> str:
        return f"Secrets(dotenv={self._dotenv_path!r})"

    def get(self, name: str) -> Secret | None:
        if not self._registered:
            self._registered = True
            for known in known_secrets():
                self._value(known)
        value = self._value(name)
        return Secret(value, scrub=name not in NOT_SECRET) if value else None

    def _value(self, name: str) -> str | None:
        value = self._env.get(name) or self._from_dotenv().get(name)
        if value and name not in NOT_SECRET:
            redact.register(value)
        return value

    def only_in_environment(self, names: list[str]) -> list[str]:
        """Those of `names` set in the process environment but not in `.env`: what a
        command started by cron or systemd (which see neither) would not have."""
        return [n for n in names if self._env.get(n) and not self._from_dotenv().get(n)]

    def require(self, name: str, why: str) -> Secret:
        """A login credential that must be set and sendable (`credential`)."""
        secret = self.credential(name)
        if secret is None:
            raise ConfigError(
                f"{name} is not set: {why} needs it in the environment or in .env",
                hint=f"export {name}=… or add it to .env beside {CONFIG_NAME}",
            )
        return secret

    def credential(self, name: str) -> Secret | None:
        """A login credential (an HTTP header, an SMTP or IMAP login), None when not set.

        Those carry ASCII only, and no control character: anything else is refused here,
        by name, rather than failing deep in httpx, botocore or smtplib with a traceback.
        """
        secret = self.get(name)
        if secret is not None and not _sendable(secret.reveal()):
            raise ConfigError(
                f"{name} holds a character no login can carry (only ASCII letters, digits, "
                "punctuation and spaces; no line break, tab or accented letter)",
                hint=f"check {name} in the environment or .env: a stray line break or a "
                "character pasted from a document?",
            )
        return secret

    def _from_dotenv(self) -> dict[str, str]:
        if self._dotenv is None:
            self._dotenv = {}
            if self._dotenv_path is not None and self._dotenv_path.is_file():
                text = _dotenv_text(self._dotenv_path)
                self._dotenv = _dotenv_values(self._dotenv_path, text)
        return self._dotenv


def _dotenv_values(path: Path, text: str) -> dict[str, str]:
    """`.env`'s values; a line python-dotenv cannot parse is skipped, as it does, with our
    own warning naming the line (never its text: it may hold a secret) instead of its log."""
    import logging

    from dotenv import dotenv_values

    from seriespub import notices

    for line in dotenv_unread_lines(text):
        notices.warn(f"{path}:{line}: {DOTENV_UNREAD}")
    said = logging.getLogger("dotenv.main")
    was, said.disabled = said.disabled, True  # its note, in its words, would say it twice
    try:
        values = dotenv_values(stream=io.StringIO(text))
    finally:
        said.disabled = was
    return {k: v for k, v in values.items() if v is not None}


DOTENV_UNREAD = "not a NAME=value line (skipped)"


def dotenv_unread_lines(text: str) -> list[int]:
    """The lines of `.env`'s `text` python-dotenv cannot parse (and skips)."""
    from dotenv.parser import parse_stream

    return [b.original.line for b in parse_stream(io.StringIO(text)) if b.error]


def dotenv_problems(path: Path) -> list[tuple[int, str]]:
    """For `check`: each line of the `.env` at `path` that is skipped, and why."""
    if not path.is_file():
        return []
    try:
        text = _dotenv_text(path)
    except (ConfigError, OSError):
        return []  # not UTF-8 or unreadable: reported where the secrets are read
    return [(line, DOTENV_UNREAD) for line in dotenv_unread_lines(text)]


def _dotenv_text(path: Path) -> str:
    """`.env`'s text; one that is not UTF-8 is refused with the line of its first such byte
    (never the line itself: it holds secrets). Notepad's byte-order mark is dropped."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02X})",
            where=f"{path}:{line}",
            hint=f"save {path.name} as UTF-8 text (a secret pasted from a document?)",
        ) from None


def _sendable(value: str) -> bool:
    return value.isascii() and value.isprintable()


def secrets_for(series_root: Path, env: Mapping[str, str] | None = None) -> Secrets:
    """The secrets visible to a series: environment first, then `.env` in its folder."""
    return Secrets(os.environ if env is None else env, series_root / ".env")
