"""The MJML engine, behind one function: PyPI `mrml` (MRML's own binding), with guards.

mrml is ~1 ms a render and pixel-identical to npm mjml on our templates, but it has silent
bugs (shared/reference/mjml-engines.md): attribute values are written with Rust escaping,
so a newline, `"` or `\\` inside one breaks the HTML; `mj-html-attributes` and CDATA are
not supported; an `mj-image` without `alt` gets none; `mj-preview` becomes white 1 px text
that spam filters score and that no padding ends. `compile_mjml` guards each of these.
"""

from __future__ import annotations

import re

from seriespub.errors import InputError

_ATTRIBUTE = re.compile(r'(\s[\w:.-]+)="([^"]*)"')
_NEWLINE_IN_ATTRIBUTE = re.compile(r'="[^"\n]*\n')
_IMAGE_NO_ALT = re.compile(r"<mj-image(?![^>]*\salt=)([^>]*?)(/?)>")
_UNSUPPORTED = (
    ("<mj-html-attributes", "mj-html-attributes is not supported by the engine"),
    ("<![CDATA[", "CDATA sections are not supported by the engine"),
)
_JINJA_LT = re.compile(r"\{%[^%]*<[^%]*%\}")
# mrml writes <mj-preview> as white 1 px text (SpamAssassin: HTML_FONT_LOW_CONTRAST), unpadded.
_MRML_PREVIEW = re.compile(
    r'<div style="display:none;font-size:1px;color:#ffffff;line-height:1px;max-height:0px;'
    r'max-width:0px;opacity:0;overflow:hidden;">([^<]*)</div>'
)
PREHEADER_STYLE = "display:none;max-height:0;max-width:0;overflow:hidden;mso-hide:all;"
PREHEADER_PADDING = "\u034f\u200c&nbsp;" * 60  # &#847;&zwnj;&nbsp;: ends the inbox snippet


def compile_mjml(source: str, where: str = "template") -> str:
    """MJML source → HTML; errors name `where` and never leak engine internals."""
    import mrml

    for needle, problem in _UNSUPPORTED:
        if needle in source:
            raise InputError(problem, path=where)
    if _JINJA_LT.search(source):
        raise InputError("'<' inside a {% %} tag breaks the MJML parser", path=where)
    try:
        output = mrml.to_html(_guard(source))
    except Exception as exc:  # mrml raises its own untyped errors
        raise InputError(f"MJML could not be rendered: {exc}", path=where) from None
    return _MRML_PREVIEW.sub(_preheader, str(output.content))


def _preheader(match: re.Match[str]) -> str:
    """A preheader hidden the way well-behaved templates hide it, and padded."""
    return (
        f'<div class="sp-preheader" style="{PREHEADER_STYLE}" dir="auto">{match.group(1)}'
        f"{PREHEADER_PADDING}</div>"
    )


def _guard(source: str) -> str:
    """Make attribute values safe for mrml's escaping and give every mj-image an alt."""
    if "\\" in source or _NEWLINE_IN_ATTRIBUTE.search(source):  # rare: skip the rewrite
        source = _ATTRIBUTE.sub(lambda m: f'{m.group(1)}="{_clean(m.group(2))}"', source)
    return _IMAGE_NO_ALT.sub(r'<mj-image alt=""\1\2>', source)


def _clean(value: str) -> str:
    return " ".join(value.split("\n")).replace("\\", "&#92;")
