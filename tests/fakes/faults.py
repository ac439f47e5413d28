"""Failure switches shared by the HTTP provider fakes: each counts down per send request."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Set a count to make the next N send requests misbehave in that way."""

    rate_limited: int = 0  # answer 429
    server_errors: int = 0  # answer `server_status`
    server_status: int = 500
    drops: int = 0  # record the messages as accepted, then drop the connection
    delay: float = 0.0  # seconds to wait before answering (after recording)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, name: str) -> bool:
        """Use up one of fault `name`; True when it applies to this request."""
        with self._lock:
            left = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False
