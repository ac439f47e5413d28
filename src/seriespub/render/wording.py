"""The few words seriespub itself writes into an email, in the series' language.

One table, used by the HTML template (as `words`) and the text part alike. A language tag
such as `de-CH` uses its base language; a language not in the table gets English, so a series
in any language still renders (its `lang` attribute stays what the author set).

Those English stand-ins are marked in HTML (WCAG 3.1.2, language of parts): `mark` and
`phrase` put `lang="en"` on the element holding one, and in a right-to-left series also
`dir="ltr"`, isolating the phrase with its punctuation; a translated phrase gets nothing.
Plain text cannot mark a part's language: the text part and the feed's text titles are
left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from seriespub.render.footnotes import NoteWords

# language: how a footnote mark is read out ("Footnote 1"), its visible text being the number
_FOOTNOTE = {"en": "Footnote", "de": "Fußnote", "fr": "Note", "es": "Nota", "nl": "Voetnoot"}
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
    footnote: str = "Footnote"  # a footnote mark's name, "Footnote 1", for screen readers
    language: str = "en"  # the series' language tag, as the author wrote it
    series_title: str = ""
    stand_in: bool = False  # the phrases are English, the series' language another

    @property
    def notes(self) -> NoteWords:
        """The names of the footnote links."""
        return NoteWords(self.back, self.footnote, "en" if self.stand_in else "")

    @property
    def mark(self) -> str:
        """The attributes of an element holding only seriespub's phrases (HTML, escaped):
        `lang="en"` for an English stand-in, with `dir="ltr"` in a right-to-left series."""
        if not self.stand_in:
            return ""
        return _html(' lang="en" dir="ltr"' if self.direction == "rtl" else ' lang="en"')

    @property
    def label_mark(self) -> str:
        """`mark` without the direction: for an element whose `aria-label` is a phrase of
        seriespub's but which holds more than that phrase (its layout keeps the page's)."""
        return _html(' lang="en"') if self.stand_in else ""

    @property
    def own(self) -> str:
        """The attributes of the author's text inside an element marked with `mark`."""
        return _html(f' lang="{escape(self.language)}"') if self.stand_in else ""

    def phrase(self, text: str) -> str:
        """`text` (a phrase of seriespub's) as HTML: escaped, in a `<span>` with `mark`
        when it is an English stand-in."""
        return _html(f"<span{self.mark}>{escape(text)}</span>" if self.stand_in else escape(text))

    @property
    def subscribed_html(self) -> str:
        """The footer sentence as HTML, the series title in it marked as the author's."""
        sentence = _TABLE[phrase_language(self.language)][4]
        before, _, after = sentence.partition("{series}")
        title = f'<span{self.own} dir="auto">{escape(self.series_title)}</span>'
        html = f"{escape(before)}{title}{escape(after)}"
        return _html(f"<span{self.mark}>{html}</span>" if self.stand_in else html)


def _html(text: str) -> str:
    """`text` as markup a template prints as it is (Jinja escapes a plain string)."""
    from markupsafe import Markup

    return Markup(text)


def _base(language: str) -> str:
    return language.split("-")[0].split("_")[0].lower()


def phrase_language(language: str) -> str:
    """The language seriespub writes its phrases in for a series in `language`: its base
    language where the table has it (`de-CH` → `de`), else `en`."""
    base = _base(language)
    return base if base in _TABLE else "en"


def wording(
    language: str, series_title: str, every_weeks: int | None, postal_address: str | None = None
) -> Wording:
    """The phrases for `language`; `every_weeks` is the cadence, None without a calendar."""
    lang = phrase_language(language)
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
        footnote=_FOOTNOTE[lang],
        language=language,
        stand_in=lang != _base(language),
        series_title=series_title,
    )


def direction(language: str) -> str:
    """ "rtl" for a language written right to left (`he`, `ar-EG`, `fa_IR`), else "ltr"."""
    return "rtl" if _base(language) in RIGHT_TO_LEFT else "ltr"
