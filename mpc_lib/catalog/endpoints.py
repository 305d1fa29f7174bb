"""Where each provider is reached: its live API with the configured key, or the sandbox.

`provider_endpoints()` is shared by everything that talks to the providers (the sync,
the health check): with no key for a provider (or `source="sandbox"`), it starts the
emulators on loopback for the duration of the block, so the same client code runs.
With `source="gateway"` the provider is reached through LiteLLM's pass-through route,
the gateway's key presented as a Bearer token and the provider key added by the gateway.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..config import Secret, Settings
from ..providers import PROVIDERS

__all__ = ["EndpointSource", "ProviderEndpoint", "provider_endpoints"]

EndpointSource = Literal["live", "sandbox", "gateway"]
# Client options for a gateway hop: its key as a Bearer token on every call (public
# endpoints too), lists comma-joined (its pass-through keeps only the last repeated key).
_GATEWAY_HOP: dict[str, Any] = {"scheme": "Bearer", "query_lists": "comma", "key_on_public": True}


@dataclass(frozen=True)
class ProviderEndpoint:
    """One provider's base URL and key, and what stands behind them."""

    source: EndpointSource
    base_url: str
    key: Secret | None
    # What the data is: "live", "generated" (the sandbox's own), "snapshot <path>",
    # or "gateway <url>".
    data: str
    # Where prices come from: "live API", "generated", "snapshot <path>",
    # "synthetic prices over snapshot <path>" or "provider API via gateway <url>".
    prices: str = "live API"
    # Client options (see _GATEWAY_HOP) for whatever stands between us and the provider.
    options: Mapping[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def provider_endpoints(
    settings: Settings, sources: Mapping[str, EndpointSource]
) -> Iterator[dict[str, ProviderEndpoint]]:
    """Where each provider is reached; starts the sandbox on loopback when one needs it."""
    via = f"gateway {settings.gateway_url}"
    reached: dict[str, ProviderEndpoint] = {}
    for name, source in sources.items():
        if source == "live":
            reached[name] = ProviderEndpoint(
                "live", settings.base_url_for(name), settings.key_for(name), "live"
            )
        elif source == "gateway":
            reached[name] = ProviderEndpoint(
                "gateway",
                settings.gateway_url + PROVIDERS[name].passthrough,
                settings.gateway_key,
                via,
                f"provider API via {via}",
                _GATEWAY_HOP,
            )
    if len(reached) == len(sources):
        yield reached
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
            name: reached.get(name)
            or ProviderEndpoint(
                "sandbox",
                sandbox.url(name),
                Secret(sandbox.key(name)),
                label,
                prices.get(data.price_origin.get(name, ""), "unknown"),
            )
            for name in sources
        }
