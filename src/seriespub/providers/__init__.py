"""Provider registry: the name in `[delivery] provider` → an adapter, imported lazily."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from seriespub.config import Secrets, Settings
from seriespub.providers.base import Batch, Provider, ProviderBase

__all__ = ["Batch", "Provider", "ProviderBase", "ProviderContext", "make_provider"]


@dataclass(frozen=True)
class ProviderContext:
    """Everything an adapter may need to build itself."""

    settings: Settings
    secrets: Secrets
    state_dir: Path        # the series' .seriespub/ folder
    # Tests hand HTTP adapters an httpx transport (MockTransport) instead of the network.
    http_transport: object | None = None


def make_provider(name: str, context: ProviderContext) -> Provider:
    """Build the adapter called `name`; each module exposes `create(context) -> Provider`."""
    module = importlib.import_module(f"seriespub.providers.{name}")
    provider: Provider = module.create(context)
    return provider
