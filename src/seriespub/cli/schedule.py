"""`seriespub schedule`: the release calendar (wired up below)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
