"""The template rules: what a draft and `templates/email.mjml` may contain, and a sandbox.

Guarantees:
- A template runs in Jinja's immutable sandbox with no loader: it cannot reach Python
  internals (no shell commands), change the objects it is given, or read other files
  (`include`, `extends` and `import` are refused before rendering).
- Per-reader values (`subscriber.<field>`, `unsubscribe_url`) are filled in after rendering,
  so a template may only *print* them: `{{ subscriber.name }}` or
  `{{ subscriber.name | default("reader") }}`. Testing or transforming one is refused with
  the template's path and line, since it would act on a placeholder, not the reader's value.
- A draft body may only hold merge tags (`{{ field }}`, `{{ field | default("…") }}`);
  other template syntax outside code is refused with `file:line` (it is not evaluated and
  would reach readers as raw braces).
- Slot tokens (`%%SPn%%`) are seriespub's own: one typed by an author is refused.
- Besides Jinja's filters a template has `start_side` (`left` or `right`, by the text's first
  strong character), for clients that drop `text-align: start`.
- Every error while rendering (syntax, undefined names, unknown filters and tests,
  ZeroDivisionError, recursion, sandbox violations) becomes an InputError naming the template
  and, where known, the line.
- A render is bounded: it is stopped after MAX_RENDER_SECONDS of template code (a loop that
  prints nothing runs as long as it likes otherwise), and, where the platform allows, may not
  take more than MAX_RENDER_MEMORY more address space (`'{:>99999999999}'.format(1)`, or a
  string doubled in a loop, would take the machine's memory before any other check could).
"""

from __future__ import annotations

import functools
import operator
import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from seriespub.errors import InputError
from seriespub.message import SLOT_RE
from seriespub.render import limits
from seriespub.render.markdown import MERGE_TAG, code_spans

PER_READER = ("subscriber", "unsubscribe_url")
DRAFT_RULE = 'only merge tags are allowed in a draft: {{ field }} or {{ field | default("…") }}'
TEMPLATE_RULE = (
    "per-reader values can only be printed: {{ subscriber.FIELD }} or "
    '{{ subscriber.FIELD | default("…") }}'
)
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\{%|\{#")
_MANGLED_TOKEN = re.compile(r"%%\s*sp\s*\d", re.IGNORECASE)
_TYPED_TOKEN = re.compile(r"%%sp\d+%%", re.IGNORECASE)  # SLOT_RE, and what a filter makes of it
_MAX_POWER = 128
_MAX_REPEAT = 1_000_000
MAX_OUTPUT = 16 * 1024 * 1024  # characters; an email is under 102 KB to be read whole
MAX_RENDER_SECONDS = 5.0  # the default template renders in milliseconds
MAX_RENDER_MEMORY = 1024 * 1024 * 1024  # bytes of address space beyond what the process has


class OverBound(InputError):
    """A render stopped at its time or memory bound: the template's, met by every draft
    (`check` renders no further draft after one)."""


def slot_token_problem(text: str) -> tuple[int, str] | None:
    """(line offset, message) of the first `%%SPn%%` typed in `text`, or None."""
    match = _TYPED_TOKEN.search(text)
    if match is None:
        return None
    return (
        text.count("\n", 0, match.start()),
        f"{match.group(0)!r} is reserved for seriespub's per-reader values; write it another way",
    )


def draft_problems(body: str) -> Iterator[tuple[int, str]]:
    """(line offset, message) for each construct a draft body may not contain."""
    token = slot_token_problem(body)
    if token is not None:
        yield token
    rest = MERGE_TAG.sub(lambda m: " " * len(m.group(0)), body)  # offsets stay the same
    if not _TEMPLATE_SYNTAX.search(rest):
        return
    code = code_spans(body)
    for match in _TEMPLATE_SYNTAX.finditer(rest):
        if not any(start <= match.start() < end for start, end in code):
            snippet = rest[match.start() : match.start() + 40].split("\n")[0].strip()
            yield (
                body.count("\n", 0, match.start()),
                f"template syntax {snippet!r} is not evaluated in a draft; " + DRAFT_RULE,
            )
            return


class SubscriberTokens:
    """`subscriber` in a template: each field prints as the slot filled per reader."""

    def __init__(self, token: Callable[[str, str], str]) -> None:
        self._token = token

    def __getattr__(self, field: str) -> PerReader:
        if field.startswith("_"):
            raise AttributeError(field)
        return PerReader(self._token, field)


class PerReader:
    """A per-reader value, turned into its slot token only when printed."""

    def __init__(self, token: Callable[[str, str], str], field: str, default: str = "") -> None:
        self._token, self._field, self._default = token, field, default

    def with_default(self, default: str) -> PerReader:
        return PerReader(self._token, self._field, default)

    def __html__(self) -> str:
        return self._token(self._field, self._default)

    __str__ = __html__


def _default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """Jinja's `default`, which for a per-reader value becomes the slot's fallback."""
    from jinja2.filters import do_default

    if isinstance(value, PerReader):
        return value.with_default(str(default_value))
    return do_default(value, default_value, boolean)


def start_side(text: Any) -> str:
    """`right` when `text` is right-to-left by its first strong character (as `dir="auto"`
    decides), else `left`: the side `text-align: start` means, written out for Yahoo and
    Outlook for Windows, which drop flow-relative values."""
    for character in str(text):
        kind = unicodedata.bidirectional(character)
        if kind in ("R", "AL"):
            return "right"
        if kind == "L":
            return "left"
    return "left"


@functools.lru_cache(maxsize=1)
def environment() -> Any:
    """The one template environment: sandboxed, immutable, no loader, strict undefined."""
    import jinja2
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _Sandbox(ImmutableSandboxedEnvironment):
        # `9 ** 9 ** 9` or `"x" * 10 ** 12` would hang or exhaust memory before any error.
        intercepted_binops = frozenset({"**", "*"})

        def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
            if operator_ == "**":
                if isinstance(right, int) and abs(right) > _MAX_POWER:
                    raise SecurityError(f"exponent {right} is too large")
                return operator.pow(left, right)
            for count, other in ((left, right), (right, left)):
                if (
                    isinstance(count, int)
                    and isinstance(other, str | list | tuple)
                    and count * len(other) > _MAX_REPEAT
                ):
                    raise SecurityError("repetition is too large")
            return operator.mul(left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            # `'x'.center(10 ** 9)` and the like: no call needs a count that large.
            for value in (*args, *kwargs.values()):
                if isinstance(value, int) and abs(value) > _MAX_REPEAT:
                    raise SecurityError(f"argument {value} is too large")
            return super().call(__context, __obj, *args, **kwargs)

    env = _Sandbox(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["default"] = env.filters["d"] = _default
    env.filters["start_side"] = start_side
    del env.globals["lipsum"]  # `lipsum(999999)`: megabytes of nothing
    return env


@functools.lru_cache(maxsize=8)
def compile_template(source: str, where: str) -> Any:
    """Parse, check against the rules, and compile once per process."""
    import jinja2

    env = environment()
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"template: {exc.message}", path=where, line=exc.lineno) from None
    _check_tree(tree, where)
    try:
        return env.from_string(tree)
    except jinja2.TemplateSyntaxError as exc:  # an unknown filter or test, found compiling
        raise InputError(f"template: {exc.message}", path=where, line=exc.lineno) from None


def _check_tree(tree: Any, where: str) -> None:
    from jinja2 import nodes

    for node in tree.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        raise InputError(
            "template: include, extends and import are not allowed (a template is one file)",
            path=where,
            line=node.lineno,
        )
    printed = _printed_per_reader(tree)
    for block in tree.find_all((nodes.FilterBlock, nodes.AssignBlock)):
        for name in _per_reader_names(block):
            printed.discard(id(name))
    for name in _per_reader_names(tree):
        if id(name) not in printed:
            raise InputError(
                f"template: '{name.name}' is used in an expression; " + TEMPLATE_RULE,
                path=where,
                line=name.lineno,
            )


def _per_reader_names(tree: Any) -> Iterator[Any]:
    from jinja2 import nodes

    for name in tree.find_all(nodes.Name):
        if name.name in PER_READER and name.ctx == "load":
            yield name


def _printed_per_reader(tree: Any) -> set[int]:
    """Ids of the per-reader names printed as they are (optionally with a default)."""
    from jinja2 import nodes

    allowed: set[int] = set()
    for output in tree.find_all(nodes.Output):
        for expr in output.nodes:
            if _is_plain_default(expr):
                expr = expr.node
            if (
                isinstance(expr, nodes.Getattr)
                and isinstance(expr.node, nodes.Name)
                and expr.node.name == "subscriber"
            ):
                allowed.add(id(expr.node))
            elif isinstance(expr, nodes.Name) and expr.name == "unsubscribe_url":
                allowed.add(id(expr))
    return allowed


def _is_plain_default(expr: Any) -> bool:
    """`x | default("text")`: one constant string argument, nothing else."""
    from jinja2 import nodes

    return (
        isinstance(expr, nodes.Filter)
        and expr.name in ("default", "d")
        and len(expr.args) <= 1
        and not expr.kwargs
        and expr.dyn_args is None
        and expr.dyn_kwargs is None
        and all(isinstance(a, nodes.Const) and isinstance(a.value, str) for a in expr.args)
    )


def render(
    template: Any,
    where: str,
    context: dict[str, Any],
    slot_count: Callable[[], int],
) -> str:
    """Render with every failure turned into an InputError naming `where` and the line."""
    try:
        with limits.bounded(MAX_RENDER_SECONDS, MAX_RENDER_MEMORY):
            rendered = _bounded(template.generate(context))
    except InputError:
        raise
    except Exception as exc:  # whatever a template raises is the author's to fix
        raise _template_error(exc, where) from None
    _check_tokens(rendered, where, slot_count())
    return rendered


def _bounded(chunks: Iterator[str]) -> str:
    """Join the output, stopping a runaway loop before it takes the machine's memory."""
    from jinja2.exceptions import SecurityError

    out, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise SecurityError(f"output is over {MAX_OUTPUT // (1024 * 1024)} MB")
        out.append(chunk)
    return "".join(out)


def _template_error(exc: BaseException, where: str) -> InputError:
    import jinja2

    line = exc.lineno if isinstance(exc, jinja2.TemplateSyntaxError) else _template_line(exc)
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, RecursionError):
        text = "recursion too deep"
    elif isinstance(exc, limits.OverBudget):
        text = str(exc)
    elif isinstance(exc, MemoryError):
        text = f"uses more than {MAX_RENDER_MEMORY // (1024 * 1024)} MB of memory"
    elif not isinstance(exc, jinja2.TemplateError):
        text = f"{type(exc).__name__}: {text}"
    if isinstance(exc, limits.OverBudget | MemoryError):
        return OverBound(f"template: {text}", path=where, line=line)
    return InputError(f"template: {text}", path=where, line=line)


def _template_line(exc: BaseException) -> int | None:
    """The template line of the innermost template frame (Jinja rewrites tracebacks)."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == limits.TEMPLATE_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _check_tokens(rendered: str, where: str, slot_count: int) -> None:
    """Every slot token in the output must be one this render made, and left whole."""
    tokens = SLOT_RE.findall(rendered)
    if len(_MANGLED_TOKEN.findall(rendered)) != len(tokens) or any(
        int(n) >= slot_count for n in tokens
    ):
        raise InputError(
            "template: a per-reader value was changed by a filter; " + TEMPLATE_RULE, path=where
        )
