"""The embedded default: one real `.eml` file per recipient under `.seriespub/outbox/NNN/`.

A complete file is a delivered message; its name is the delivery id, so a file can never be
written twice under two names. Folders are made 0700 and files 0600 (mail is private). A file
that cannot be written (a full disk, a read-only file system, an outbox symlink pointing
nowhere) stops the send with one line naming the path: the batch is recorded as deferred, and
the next `send next` writes exactly the messages still missing (a rewrite replaces a file,
never adds one).
"""

from __future__ import annotations

import email.utils
import os
from pathlib import Path

from seriespub.errors import PermanentSendError
from seriespub.models import Outcome, RecipientResult
from seriespub.pathtext import shown
from seriespub.providers import SPECS, ProviderContext
from seriespub.providers.base import Batch, ProviderBase
from seriespub.statefiles import FILE_MODE, StateError, not_a_folder, os_error, private_dir

SPEC = SPECS["outbox"]


class OutboxProvider(ProviderBase, spec=SPEC):
    """Writes messages to files; a file that exists is a message that was delivered."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def open(self) -> None:
        """Make the outbox before the core records a batch: an outbox missing when a
        pending batch is settled was moved away since, not yet to be made (`settle`)."""
        try:
            private_dir(self.folder, within=self.folder.parent)
        except StateError as exc:
            raise PermanentSendError(str(exc), provider=self.name, hint=exc.hint) from None

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        target = self._instalment_folder(batch)
        try:
            private_dir(target, within=self.folder.parent)
        except StateError as exc:
            raise PermanentSendError(str(exc), provider=self.name, hint=exc.hint) from None
        date = email.utils.formatdate(localtime=True)
        results = []
        for recipient in batch.recipients:
            name = f"{recipient.delivery_id}.eml"
            path = f"{target}/{name}"
            try:
                _write(path, batch.message.mime_for(recipient, date=date))
            except OSError as exc:
                error = os_error(exc, path, "cannot write")
                raise PermanentSendError(str(error), provider=self.name, hint=error.hint) from None
            results.append(RecipientResult(recipient.email, Outcome.SENT, name))
        return results

    def settle(self, batch: Batch) -> list[RecipientResult]:
        """A message is delivered when its file is complete. The outbox moved away (handed
        over?) since the batch was begun cannot tell: rewriting would give readers two."""
        if not self.folder.is_dir():
            raise PermanentSendError(
                f"{shown(self.folder)} is gone (moved or renamed since the run "
                "stopped?), so which of the batch's messages were written is not known",
                provider=self.name,
            )
        target = self._instalment_folder(batch)
        tail = batch.message.mime_tail
        results = []
        for recipient in batch.recipients:
            name = f"{recipient.delivery_id}.eml"
            whole = _ends_with(target / name, tail)
            results.append(
                RecipientResult(
                    recipient.email,
                    Outcome.SENT if whole else Outcome.TRANSIENT,
                    name,
                    "" if whole else "not written",
                )
            )
        return results

    def _instalment_folder(self, batch: Batch) -> Path:
        suffix = "-test" if batch.test else ""
        return self.folder / f"{batch.message.number:03d}{suffix}"


def _write(path: str, data: bytes) -> None:
    # No temp file and rename: a message cut short by a kill lacks its closing MIME boundary,
    # which is how `settle` tells it apart (and it is then rewritten whole).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _ends_with(path: Path, tail: bytes) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(-len(tail), os.SEEK_END)
            return handle.read() == tail
    except OSError:  # missing, or shorter than the tail
        return False


def create(context: ProviderContext) -> OutboxProvider:
    folder = context.state_dir / "outbox"
    if folder.is_symlink() and not folder.exists():
        # Checked before anything is recorded: otherwise the first batch finds it.
        raise not_a_folder(folder)
    return OutboxProvider(folder)
