"""An in-memory provider for testing the sending core: scripted failures, counted deliveries."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from seriespub.errors import SendError
from seriespub.models import Outcome, RecipientResult, SubscriberStatus, Suppression
from seriespub.providers.base import Batch, ProviderBase

Script = Callable[[Batch, int], SendError | None]


@dataclass
class MemoryProvider(ProviderBase):
    """Records each accepted message; `script(batch, call_no)` may return an error to raise."""

    name: str = "memory"
    max_batch: int = 10
    can_settle: bool = False
    script: Script | None = None
    refuse: dict[str, str] = field(default_factory=dict)  # address → permanent reason
    flaky: dict[str, int] = field(default_factory=dict)  # address → transient failures
    suppressed: list[Suppression] = field(default_factory=list)
    delivered: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        with self.lock:
            self.calls += 1
            call = self.calls
        error = self.script(batch, call) if self.script else None
        if error is not None and not getattr(error, "accepted", False):
            raise error
        results = [self._one(r.email) for r in batch.recipients]
        if error is not None:  # accepted, then the answer was lost
            raise error
        return results

    def _one(self, address: str) -> RecipientResult:
        if address in self.refuse:
            return RecipientResult(
                address,
                Outcome.FAILED,
                reason=self.refuse[address],
                new_status=SubscriberStatus.BOUNCED,
            )
        with self.lock:
            if self.flaky.get(address, 0) > 0:
                self.flaky[address] -= 1
                return RecipientResult(address, Outcome.TRANSIENT, reason="421 try later")
            self.delivered[address] += 1
        return RecipientResult(address, Outcome.SENT, f"id-{address}")

    def suppressions(self) -> list[Suppression]:
        return list(self.suppressed)
