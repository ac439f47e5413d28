"""The message every bench sends: the repository's example instalment, really rendered."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout

from seriespub.config import SeriesSettings
from seriespub.drafts import read_draft
from seriespub.message import PreparedMessage
from seriespub.render.email import RenderInputs, prepare

DRAFT = Path(__file__).resolve().parents[1] / "drafts" / "01-leading-across-systems.md"


def example_instalment() -> PreparedMessage:
    series = SeriesSettings(
        title="Developing a culture of 'Teaming'",
        from_="Impact4Health <blog@example.com>",
        unsubscribe_url="https://example.com/unsubscribe?token={token}",
    )
    return prepare(read_draft(DRAFT), RenderInputs(series, b"bench-secret"))
