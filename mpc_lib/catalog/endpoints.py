"""Where each provider is reached: its live API with the configured key, or the sandbox.

`provider_endpoints()` is shared by everything that talks to the providers (the sync,
the health check): with no key for a provider (or `source="sandbox"`), it starts the
emulators on loopback for the duration of the block, so the same client code runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from ..config import Secret, Settings

__all__ = ["ProviderEndpoint", "provider_endpoints"]


@dataclass(frozen=True)
class ProviderEndpoint:
    """One provider's base URL and key, and what stands behind them."""

    source: Literal["live", "sandbox"]
    base_url: str
    key: Secret | None
    # What the data is: "live", "generated" (the sandbox's own), or "snapshot <path>".
    data: str
    # Where prices come from: "live API", "generated", "snapshot <path>",
    # or "synthetic prices over snapshot <path>".
    prices: str = "live API"


@contextlib.contextmanager
def provider_endpoints(
    settings: Settings, sources: Mapping[str, Literal["live", "sandbox"]]
) -> Iterator[dict[str, ProviderEndpoint]]:
    """Where each provider is reached; starts the sandbox on loopback when one needs it."""
    live = {
        name: ProviderEndpoint("live", settings.base_url_for(name), settings.key_for(name), "live")
        for name, source in sources.items()
        if source == "live"
    }
    if len(live) == len(sources):
        yield live
        return
    from ..sandbox import Sandbox, SandboxData  # only when a provider needs the emulator

    snapshot = settings.sandbox_snapshot
    if snapshot is not None:
        data, label = SandboxData.from_snapshot(snapshot), f"snapshot {snapshot}"
    else:
        data, label = SandboxData.generate(), "generated"
    # Prices the sandbox made up over a snapshot must never pass for the snapshot's own.
    prices = {
        "generated": "generated",
        "snapshot": f"snapshot {snapshot}",
        "synthetic": f"synthetic prices over snapshot {snapshot}",
    }
    with Sandbox(data=data, latency_ms=settings.sandbox_latency_ms) as sandbox:
        yield {
            name: live.get(name)
            or ProviderEndpoint(
                "sandbox",
                sandbox.url(name),
                Secret(sandbox.key(name)),
                label,
                prices.get(data.price_origin.get(name, ""), "unknown"),
            )
            for name in sources
        }
