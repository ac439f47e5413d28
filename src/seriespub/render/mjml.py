"""The MJML engine, behind one function: PyPI `mrml` (MRML's own binding), with guards.

mrml is ~1 ms a render and pixel-identical to npm mjml on our templates, but it has silent
bugs (shared/reference/mjml-engines.md): attribute values are written with Rust escaping,
so a newline, `"` or `\\` inside one breaks the HTML; `mj-html-attributes` and CDATA are
not supported; an `mj-image` without `alt` gets none. `compile_mjml` guards each of these.
"""

from __future__ import annotations

import re

from seriespub.errors import InputError

_ATTRIBUTE = re.compile(r'(\s[\w:.-]+)="([^"]*)"')
_NEWLINE_IN_ATTRIBUTE = re.compile(r'="[^"\n]*\n')
_IMAGE_NO_ALT = re.compile(r"<mj-image(?![^>]*\salt=)([^>]*?)(/?)>")
_UNSUPPORTED = (("<mj-html-attributes", "mj-html-attributes is not supported by the engine"),
                ("<![CDATA[", "CDATA sections are not supported by the engine"))
_JINJA_LT = re.compile(r"\{%[^%]*<[^%]*%\}")


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
    return str(output.content)


def _guard(source: str) -> str:
    """Make attribute values safe for mrml's escaping and give every mj-image an alt."""
    if "\\" in source or _NEWLINE_IN_ATTRIBUTE.search(source):   # rare: skip the rewrite
        source = _ATTRIBUTE.sub(lambda m: f'{m.group(1)}="{_clean(m.group(2))}"', source)
    return _IMAGE_NO_ALT.sub(r'<mj-image alt=""\1\2>', source)


def _clean(value: str) -> str:
    return " ".join(value.split("\n")).replace("\\", "&#92;")
