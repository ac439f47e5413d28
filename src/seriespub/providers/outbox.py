"""The embedded default: one real `.eml` file per recipient under `.seriespub/outbox/NNN/`.

A complete file is a delivered message; its name is the delivery id, so a file can never be
written twice under two names.
"""

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
    concurrency = 2           # one disk: more writers only queue on it
    can_settle = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        target = self._instalment_folder(batch)
        target.mkdir(parents=True, exist_ok=True)
        date = email.utils.formatdate(localtime=True)
        results = []
        for recipient in batch.recipients:
            name = f"{recipient.delivery_id}.eml"
            _write(f"{target}/{name}", batch.message.mime_for(recipient, date=date))
            results.append(RecipientResult(recipient.email, Outcome.SENT, name))
        return results

    def settle(self, batch: Batch) -> list[RecipientResult]:
        """The outbox can always tell: a message is delivered when its file is complete."""
        target = self._instalment_folder(batch)
        tail = batch.message.mime_tail
        results = []
        for recipient in batch.recipients:
            name = f"{recipient.delivery_id}.eml"
            whole = _ends_with(target / name, tail)
            results.append(RecipientResult(recipient.email,
                                           Outcome.SENT if whole else Outcome.TRANSIENT, name,
                                           "" if whole else "not written"))
        return results

    def _instalment_folder(self, batch: Batch) -> Path:
        suffix = "-test" if batch.test else ""
        return self.folder / f"{batch.message.number:03d}{suffix}"


def _write(path: str, data: bytes) -> None:
    # No temp file and rename: a message cut short by a kill lacks its closing MIME boundary,
    # which is how `settle` tells it apart (and it is then rewritten whole).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _ends_with(path: Path, tail: bytes) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(-len(tail), os.SEEK_END)
            return handle.read() == tail
    except OSError:   # missing, or shorter than the tail
        return False


def create(context: ProviderContext) -> OutboxProvider:
    return OutboxProvider(context.state_dir / "outbox")
