"""The site's files as text: index, one page per part, 404, Atom feed, sitemap, stylesheet.

Pure: `render_site` takes the released parts and the settings and returns {path: text};
no clock, no disk beyond the package's own templates. Links between pages are relative, so
the folder works wherever it is served; the 404 page, shown at any depth, links absolutely,
and so does each feed entry's content, which feed readers show away from its page.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from seriespub.config import SeriesSettings
from seriespub.render import markdown
from seriespub.render.wording import wording
from seriespub.schedule import zone
from seriespub.site.content import Part, absolute_links

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class SiteWords:
    """What the site says besides the author's text, in the series' language."""

    part: str
    of: str
    skip: str
    subscribe: str
    subscribe_by_email: str
    email: str
    feed: str
    parts: str
    none_yet: str
    not_found: str
    all_parts: str


# language: of, skip, subscribe, by email, email, feed, parts, none yet, not found, all parts
_WORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "of",
        "Skip to the text",
        "Subscribe",
        "Subscribe by email",
        "Your email address",
        "Atom feed",
        "The parts so far",
        "The first part has not been published yet.",
        "Page not found",
        "All parts of the series",
    ),
    "de": (
        "von",
        "Zum Text springen",
        "Abonnieren",
        "Per E-Mail abonnieren",
        "Ihre E-Mail-Adresse",
        "Atom-Feed",
        "Bisher erschienen",
        "Der erste Teil ist noch nicht erschienen.",
        "Seite nicht gefunden",
        "Alle Teile der Serie",
    ),
    "fr": (
        "sur",
        "Aller au texte",
        "S'abonner",
        "S'abonner par e-mail",
        "Votre adresse e-mail",
        "Flux Atom",
        "Les parties parues",
        "La première partie n'est pas encore parue.",
        "Page introuvable",
        "Toutes les parties de la série",
    ),
    "es": (
        "de",
        "Ir al texto",
        "Suscribirse",
        "Suscribirse por correo",
        "Tu correo electrónico",
        "Canal Atom",
        "Las partes publicadas",
        "La primera parte aún no se ha publicado.",
        "Página no encontrada",
        "Todas las partes de la serie",
    ),
    "nl": (
        "van",
        "Naar de tekst",
        "Abonneren",
        "Abonneren per e-mail",
        "Je e-mailadres",
        "Atom-feed",
        "De delen tot nu toe",
        "Het eerste deel is nog niet verschenen.",
        "Pagina niet gevonden",
        "Alle delen van de serie",
    ),
}


def site_words(language: str, part: str) -> SiteWords:
    """The site's phrases in `language` (its base language; English if not in the table)."""
    base = language.split("-")[0].split("_")[0].lower()
    return SiteWords(part, *_WORDS.get(base, _WORDS["en"]))


@dataclass(frozen=True)
class SiteInputs:
    series: SeriesSettings
    base_url: str
    subscribe: str | None
    timezone: str
    total: int  # "Part N of M": the parts the series has drafts for
    # When the series' settings last changed: the feed's `updated` (which Atom requires)
    # and the index's `lastmod` while no part is out, when that is all the site shows.
    set_up: dt.datetime = EPOCH


@cache
def _environment() -> Any:
    import jinja2

    folder = resources.files("seriespub.site") / "templates"
    sources = {
        name: (folder / name).read_text(encoding="utf-8")
        for name in ("base.html", "index.html", "part.html", "404.html", "feed.xml", "sitemap.xml")
    }
    return jinja2.Environment(
        loader=jinja2.DictLoader(sources),
        autoescape=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def stylesheet() -> str:
    return (resources.files("seriespub.site") / "templates" / "style.css").read_text(
        encoding="utf-8"
    )


def stamp(when: dt.datetime) -> str:
    """RFC 3339 in UTC, to the second: the same instant always gives the same text."""
    return when.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_site(parts: list[Part], inputs: SiteInputs) -> dict[str, str]:
    """Every file of the site, path (POSIX, relative) → text."""
    from markupsafe import Markup

    common = _common(parts, inputs)
    files = {
        "index.html": _page(
            "index.html",
            common,
            root="",
            url=inputs.base_url,
            page_title=inputs.series.title,
            og_title=inputs.series.title,
            og_type="website",
            published=None,
            modified=None,
            description=_plain(inputs.series.description),
        ),
        "404.html": _page(
            "404.html",
            common,
            root=_path_of(inputs.base_url),
            url=f"{inputs.base_url}404.html",
            og_type="website",
            page_title=f"{common['words'].not_found} · {inputs.series.title}",
            og_title=inputs.series.title,
            published=None,
            modified=None,
            description="",
        ),
    }
    for i, part in enumerate(parts):
        shown = Part(**{**part.__dict__, "content": Markup(part.content)})
        files[f"{part.path}/index.html"] = _page(
            "part.html",
            common,
            root="../",
            url=f"{inputs.base_url}{part.path}/",
            part=shown,
            prev=parts[i - 1] if i else None,
            next=parts[i + 1] if i + 1 < len(parts) else None,
            page_title=f"{part.title} · {inputs.series.title}",
            og_title=part.title,
            og_type="article",
            published=stamp(part.released),
            modified=stamp(part.updated) if part.edited else None,
            description=part.summary,
        )
    feed_content = {
        p.number: absolute_links(p.content, f"{inputs.base_url}{p.path}/") for p in parts
    }
    files["feed.xml"] = (
        _environment().get_template("feed.xml").render(**common, feed_content=feed_content)
    )
    files["sitemap.xml"] = _environment().get_template("sitemap.xml").render(**common)
    files["style.css"] = stylesheet()
    return files


def _common(parts: list[Part], inputs: SiteInputs) -> dict[str, Any]:
    from markupsafe import Markup

    s = inputs.series
    words = wording(s.language, s.title, None, s.postal_address)
    tz = zone(inputs.timezone)
    subscribe = inputs.subscribe
    return {
        "lang": s.language,
        "direction": words.direction,
        "locale": s.language.replace("-", "_"),
        "series_title": s.title,
        "base_url": inputs.base_url,
        "words": site_words(s.language, words.part),
        "parts": parts,
        "total": max(inputs.total, len(parts), *(p.number for p in parts), 0),
        "dates": {p.number: p.released.astimezone(tz).date().isoformat() for p in parts},
        "description_html": Markup(
            markdown.to_html(s.description or "", words.notes, named_anchors=False)
        ),
        "subscribe": subscribe,
        "subscribe_href": subscribe,
        "subscribe_is_form": bool(subscribe and not subscribe.startswith("mailto:")),
        "postal": words.postal,
        "mark": words.mark,  # on an element holding only seriespub's phrase
        "label_mark": words.label_mark,  # on one it names (aria-label) but which holds more
        "own": words.own,  # on the author's text inside either
        "phrase": words.phrase,
        "stamp": stamp,
        "author": _author(s.from_),
        "updated": stamp(max((p.updated for p in parts), default=inputs.set_up)),
        "description": _plain(s.description),
    }


def _page(template: str, common: dict[str, Any], **values: Any) -> str:
    rendered: str = _environment().get_template(template).render(**{**common, **values})
    return rendered


def _plain(markdown_text: str | None) -> str:
    """The first paragraph of a Markdown description as one plain line (meta tags)."""
    import re

    first = (markdown_text or "").strip().split("\n\n")[0]
    text = re.sub(r"\]\([^)]*\)", "", first)  # a link's URL, keeping its words
    return re.sub(r"\s+", " ", re.sub(r"[*_`#>\[\]]", "", text)).strip()


def _author(from_: str) -> str:
    """The sender's display name, never the address (the feed is public)."""
    from seriespub.addresses import parse_mailbox

    try:
        return parse_mailbox(from_).name or "seriespub"
    except ValueError:
        return "seriespub"


def _path_of(base_url: str) -> str:
    return urllib.parse.urlsplit(base_url).path or "/"
