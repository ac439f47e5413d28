"""The few words seriespub itself writes into an email, in the series' language.

One table, used by the HTML template (as `words`) and the text part alike. A language tag
such as `de-CH` uses its base language; a language not in the table gets English, so a series
in any language still renders (its `lang` attribute stays what the author set).
"""

from __future__ import annotations

from dataclasses import dataclass

_NUMBERS = {"en": "two", "de": "zwei", "fr": "deux", "es": "dos", "nl": "twee"}

# language: (part, next time, next week, in {n} weeks, footer sentence, unsubscribe, back)
_TABLE: dict[str, tuple[str, str, str, str, str, str, str]] = {
    "en": (
        "Part",
        "Next time",
        "Next week",
        "In {n} weeks",
        "You receive {series} because you subscribed.",
        "Unsubscribe",
        "Back to the text",
    ),
    "de": (
        "Teil",
        "Beim nächsten Mal",
        "Nächste Woche",
        "In {n} Wochen",
        "Sie erhalten {series}, weil Sie sich angemeldet haben.",
        "Abmelden",
        "Zurück zum Text",
    ),
    "fr": (
        "Partie",
        "La prochaine fois",
        "La semaine prochaine",
        "Dans {n} semaines",
        "Vous recevez {series} car vous vous êtes abonné.",
        "Se désabonner",
        "Retour au texte",
    ),
    "es": (
        "Parte",
        "La próxima vez",
        "La próxima semana",
        "Dentro de {n} semanas",
        "Recibes {series} porque te suscribiste.",
        "Darse de baja",
        "Volver al texto",
    ),
    "nl": (
        "Deel",
        "Volgende keer",
        "Volgende week",
        "Over {n} weken",
        "Je ontvangt {series} omdat je je hebt aangemeld.",
        "Afmelden",
        "Terug naar de tekst",
    ),
}
LANGUAGES = tuple(_TABLE)
# Languages written right to left (by their base subtag): a series in one has its body set
# right to left, in the email and on the site; titles follow their own text (`dir="auto"`).
RIGHT_TO_LEFT = frozenset({"ar", "ckb", "dv", "fa", "he", "ks", "ps", "sd", "ug", "ur", "yi"})
# language: (view in browser, previously in this series): links to the series' site
_SITE: dict[str, tuple[str, str]] = {
    "en": ("View in browser", "Previously in this series"),
    "de": ("Im Browser ansehen", "Bisher in dieser Serie"),
    "fr": ("Voir dans le navigateur", "Précédemment dans cette série"),
    "es": ("Ver en el navegador", "Anteriormente en esta serie"),
    "nl": ("Bekijk in de browser", "Eerder in deze serie"),
}


@dataclass(frozen=True)
class Wording:
    """The phrases of one rendered instalment."""

    part: str  # "Part" in the kicker "SERIES · PART 3"
    next_label: str  # "Next week", "In two weeks", "Next time"
    subscribed: str  # the footer sentence, series title filled in
    unsubscribe: str  # the unsubscribe link's label
    back: str  # a footnote's link back to its reference (for screen readers)
    postal: str = ""  # the sender's postal address on one line, or ""
    view_in_browser: str = "View in browser"  # links to the site, with [site]
    previously: str = "Previously in this series"
    direction: str = "ltr"  # the body's: "rtl" for a language in RIGHT_TO_LEFT


def wording(
    language: str, series_title: str, every_weeks: int | None, postal_address: str | None = None
) -> Wording:
    """The phrases for `language`; `every_weeks` is the cadence, None without a calendar."""
    base = language.split("-")[0].split("_")[0].lower()
    lang = base if base in _TABLE else "en"
    part, later, week, weeks, subscribed, unsubscribe, back = _TABLE[lang]
    if every_weeks is None:
        label = later
    elif every_weeks == 1:
        label = week
    else:
        label = weeks.format(n=_NUMBERS[lang] if every_weeks == 2 else every_weeks)
    postal = ", ".join(line.strip() for line in (postal_address or "").splitlines() if line.strip())
    return Wording(
        part,
        label,
        subscribed.format(series=series_title),
        unsubscribe,
        back,
        postal,
        *_SITE[lang],
        direction=direction(language),
    )


def direction(language: str) -> str:
    """ "rtl" for a language written right to left (`he`, `ar-EG`, `fa_IR`), else "ltr"."""
    base = language.split("-")[0].split("_")[0].lower()
    return "rtl" if base in RIGHT_TO_LEFT else "ltr"
