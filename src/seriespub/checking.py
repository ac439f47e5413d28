"""`check` for a whole series: drafts, rendering, size, subscribers."""

from __future__ import annotations

from collections import Counter

from seriespub import publishing, subscribers
from seriespub.errors import InputError, SeriespubError
from seriespub.render import checks
from seriespub.render.checks import Finding, Level
from seriespub.series import Series


def check_series(series: Series) -> list[Finding]:
    """Every finding, errors and warnings, in the order an author would fix them."""
    drafts = publishing.drafts_of(series, strict=False)
    findings = [Finding(Level.ERROR, _where(p) or str(series.drafts_dir), _plain(p))
                for p in drafts.problems]
    numbers = [i.number for i in drafts.instalments]
    findings += checks.check_numbers(numbers, str(series.drafts_dir))
    fields = set(_columns(series, findings))
    for instalment in drafts.instalments:
        findings += checks.check_body(instalment.path, instalment.body, instalment.body_line,
                                      fields)
        try:
            message = publishing.render(series, drafts, instalment)
        except SeriespubError as exc:
            findings.append(Finding(Level.ERROR, str(instalment.path), str(exc)))
            continue
        # The size a reader gets: slots filled with a typical 40-character value.
        size = len(message.html.fill(["x" * 40] * len(message.slots)).encode())
        findings += checks.check_size(instalment.path, size)
    return findings


def _where(problem: InputError) -> str:
    if problem.path is None:
        return ""
    return f"{problem.path}:{problem.line}" if problem.line else str(problem.path)


def _plain(problem: InputError) -> str:
    """The message without the `path:line: ` prefix that `where` already shows."""
    text, prefix = str(problem), f"{_where(problem)}: "
    return text[len(prefix):] if problem.path is not None and text.startswith(prefix) else text


def _columns(series: Series, findings: list[Finding]) -> list[str]:
    path = series.subscribers_path
    try:
        data = subscribers.read_file(path)
    except SeriespubError as exc:
        findings.append(Finding(Level.ERROR, str(path), str(exc)))
        return []
    for problem in data.problems:
        findings.append(Finding(Level.ERROR, f"{path}:{problem.line}", problem.message))
    seen = Counter(s.key for s in data.subscribers)
    for address, count in seen.items():
        if count > 1:
            findings.append(Finding(Level.ERROR, str(path),
                                    f"{address} appears {count} times"))
    return data.columns
