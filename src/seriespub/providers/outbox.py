"""The embedded default: one real `.eml` file per recipient under `.seriespub/outbox/NNN/`."""

from __future__ import annotations

import email.utils
import os
from pathlib import Path

from seriespub.models import Outcome, RecipientResult
from seriespub.providers import ProviderContext
from seriespub.providers.base import Batch, ProviderBase


class OutboxProvider(ProviderBase):
    """Writes messages to files; a file that exists is a message that was delivered."""

    name = "outbox"
    max_batch = 500
    can_settle = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        target = self._instalment_folder(batch)
        target.mkdir(parents=True, exist_ok=True)
        date = email.utils.formatdate(localtime=True)
        results = []
        for recipient in batch.recipients:
            data = batch.message.mime_for(recipient, date=date)
            path = target / f"{recipient.delivery_id}.eml"
            _write_atomically(path, data)
            results.append(RecipientResult(recipient.email, Outcome.SENT, path.name))
        return results

    def settle(self, batch: Batch) -> list[RecipientResult]:
        """The outbox can always tell: the file is there (renamed whole) or it is not."""
        target = self._instalment_folder(batch)
        results = []
        for recipient in batch.recipients:
            name = f"{recipient.delivery_id}.eml"
            outcome = Outcome.SENT if (target / name).exists() else Outcome.TRANSIENT
            results.append(RecipientResult(recipient.email, outcome, name,
                                           "" if outcome is Outcome.SENT else "not written"))
        return results

    def _instalment_folder(self, batch: Batch) -> Path:
        suffix = "-test" if batch.test else ""
        return self.folder / f"{batch.message.number:03d}{suffix}"


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def create(context: ProviderContext) -> OutboxProvider:
    return OutboxProvider(context.state_dir / "outbox")
