"""The checks of `mpc health`: each reads, none spends money.

Provider checks use listing and pricing reads only (FAL's estimate endpoint prices a
hypothetical job; it runs nothing).  Registry checks read `models.json` once.  Each
check returns a `Finding`; the runner times it, bounds it and turns it into a row.
Checks that need what others measured (registry drift needs live counts) are
`DERIVED`: they run after the others, from their rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from ..catalog import CometClient, FalClient
from ..config import Settings
from ..errors import (
    AuthError,
    ConfigError,
    MpcError,
    ProviderError,
    RegistryError,
    ResponseFormatError,
    StorageError,
    TransportError,
)
from ..gateway import GatewayClient, default_config_path, load_gateway_config
from ..http import HttpCore, RetryPolicy
from ..providers import PROVIDERS
from ..registry import RegistryStore
from ..upstreams import Upstream
from .models import HealthRow, Status

__all__ = ["CHECKS", "DERIVED", "Check", "CheckContext", "Finding"]


@dataclass(frozen=True)
class Finding:
    """What a check found: a status, a one-line reason and the numbers behind it."""

    status: Status
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class CheckContext:
    """What every check may use: settings, each provider's upstream, one HTTP pool, the registry."""

    settings: Settings
    upstreams: Mapping[str, Upstream]
    http: httpx.Client
    _registry: dict[str, Any] | None = None
    _registry_error: MpcError | None = None
    _loaded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def registry(self) -> dict[str, Any] | None:
        """models.json, read once for all the registry checks; None when there is none."""
        with self._lock:
            if not self._loaded:
                self._loaded = True
                try:
                    self._registry = RegistryStore(self.settings.outputs_dir).load()
                except (RegistryError, StorageError) as exc:
                    self._registry_error = exc
        if self._registry_error is not None:
            raise self._registry_error
        return self._registry

    def fal(self) -> FalClient:
        """A FAL client on the shared pool (the caller closes it)."""
        up = self.upstreams["fal"]
        return FalClient(
            up.base_url, up.key, settings=self.settings, client=self.http, **up.options
        )

    def comet(self) -> CometClient:
        """A Comet client on the shared pool (the caller closes it)."""
        up = self.upstreams["comet"]
        return CometClient(
            up.base_url, up.key, settings=self.settings, client=self.http, **up.options
        )


@dataclass(frozen=True)
class Check:
    """One named check in a group, and the function that runs it."""

    name: str
    group: str
    run: Callable[[CheckContext], Finding]


def provider_failure(provider: str, exc: Exception) -> Finding:
    """An error from a provider as a row: auth is auth, a dead host is down, and so on."""
    key_vars = {"gateway": "LITELLM_MASTER_KEY", "api": "MPC_API_KEY"}
    key_var = (
        PROVIDERS[provider].key_var if provider in PROVIDERS else key_vars.get(provider, "the key")
    )
    if isinstance(exc, AuthError):
        return Finding("fail", f"auth: {exc.status} refused the key (check {key_var}): {exc}")
    if isinstance(exc, ConfigError):
        return Finding("fail", f"auth: {exc}")
    if isinstance(exc, TransportError):
        return Finding("fail", f"down: {exc}")
    if isinstance(exc, ProviderError):
        return Finding("fail", f"error answer: {exc}")
    if isinstance(exc, ResponseFormatError):
        return Finding("fail", f"malformed answer: {exc}")
    return Finding("fail", f"{type(exc).__name__}: {exc}")


# --- providers ----------------------------------------------------------------------------


def _fal_models(ctx: CheckContext) -> Finding:
    """The whole FAL listing (one round trip when the registry's count sizes the look-ahead)."""
    expected = _registry_count(ctx, "fal")
    with ctx.fal() as client:
        models = client.list_models(expected=expected)
    return Finding("ok", f"{len(models)} models listed", {"live_models": len(models)})


def _fal_pricing(ctx: CheckContext) -> Finding:
    """A price for the first listed endpoint."""
    with ctx.fal() as client:
        first = client.get_page(None, limit=1).models
        if not first:
            return Finding("warn", "the listing is empty: nothing to price")
        prices = client.get_prices([first[0].endpoint_id])
    if not prices:
        return Finding("warn", f"no price for {first[0].endpoint_id}")
    price = prices[0]
    return Finding("ok", f"{price.endpoint_id}: {price.unit_price:g} {price.currency}/{price.unit}")


def _fal_estimate(ctx: CheckContext) -> Finding:
    """FAL's cost estimate for one unit of the first listed endpoint (it runs nothing)."""
    with ctx.fal() as client:
        first = client.get_page(None, limit=1).models
        if not first:
            return Finding("warn", "the listing is empty: nothing to estimate")
        endpoint_id = first[0].endpoint_id
        answer = client.estimate_cost("unit_price", {endpoint_id: 1})
    return Finding("ok", f"1 unit of {endpoint_id}: {answer.total_cost:g} {answer.currency}")


def _comet_models(ctx: CheckContext) -> Finding:
    """Comet's OpenAI-compatible model list (needs the key)."""
    with ctx.comet() as client:
        models = client.list_models()
    return Finding("ok", f"{len(models)} models listed", {"live_models": len(models)})


def _comet_catalog(ctx: CheckContext) -> Finding:
    """Comet's public pricing catalog."""
    with ctx.comet() as client:
        catalog = client.list_catalog()
    priced = sum(entry.pricing is not None for entry in catalog)
    if not catalog:
        return Finding("warn", "the pricing catalog is empty")
    return Finding("ok", f"{len(catalog)} entries, {priced} priced", {"entries": len(catalog)})


def _registry_count(ctx: CheckContext, provider: str) -> int | None:
    try:
        registry = ctx.registry()
    except MpcError:
        return None
    return (registry or {}).get("counts", {}).get(provider) or None


# --- gateway and MPC-API ---------------------------------------------------------------------


def _gateway_configured(settings: Settings) -> bool:
    """A gateway is configured when MPC_GATEWAY_URL is set or `mpc gateway config` wrote one."""
    return "gateway_url" in settings.model_fields_set or default_config_path(settings).is_file()


_NOT_CONFIGURED_GATEWAY = Finding(
    "skip", "not configured (set MPC_GATEWAY_URL, or run `mpc gateway config`)"
)


def _gateway_liveliness(ctx: CheckContext) -> Finding:
    """LiteLLM's `/health/liveliness`: is the process up (no key, costs nothing)."""
    if not _gateway_configured(ctx.settings):
        return _NOT_CONFIGURED_GATEWAY
    with GatewayClient(settings=ctx.settings, client=ctx.http) as client:
        client.http.request("GET", "/health/liveliness", auth=False)
    return Finding("ok", f"{ctx.settings.gateway_url} is alive")


def _gateway_readiness(ctx: CheckContext) -> Finding:
    """LiteLLM's `/health/readiness` (never its `/health`, which calls every model)."""
    if not _gateway_configured(ctx.settings):
        return _NOT_CONFIGURED_GATEWAY
    with GatewayClient(settings=ctx.settings, client=ctx.http) as client:
        ready = client.readiness()
    status = str(ready.get("status", "?"))
    detail = f"status {status}, db {ready.get('db', '?')}"
    return Finding("ok" if status == "healthy" else "fail", detail)


def _gateway_models(ctx: CheckContext) -> Finding:
    """The generated config's models, as listed by the gateway's `/v1/models` (key needed)."""
    if not _gateway_configured(ctx.settings):
        return _NOT_CONFIGURED_GATEWAY
    if ctx.settings.gateway_key is None:
        return Finding("fail", "auth: LITELLM_MASTER_KEY is not set: the model list needs it")
    with GatewayClient(settings=ctx.settings, client=ctx.http) as client:
        listed = set(client.models())
    path = default_config_path(ctx.settings)
    if not path.is_file():
        return Finding("ok", f"{len(listed)} models listed (no generated config to compare)")
    configured = {str(m.get("model_name")) for m in load_gateway_config(path)["model_list"]}
    missing = sorted(configured - listed)
    metrics = {"gateway_models": float(len(listed)), "gateway_missing": float(len(missing))}
    if missing:
        more = f" (+{len(missing) - 3} more)" if len(missing) > 3 else ""
        status: Status = "fail" if len(missing) == len(configured) else "warn"
        reason = f"{len(missing)} of {len(configured)} configured models not listed: "
        return Finding(status, reason + ", ".join(missing[:3]) + more, metrics)
    return Finding("ok", f"all {len(configured)} configured models listed", metrics)


def _api_health(ctx: CheckContext) -> Finding:
    """MPC-API's deep `/health` (it reports the gateway and the registry) at MPC_API_URL, or
    at its default; with MPC_API_URL unset, nothing listening there is a skip, not a failure."""
    key = ctx.settings.api_key
    with HttpCore.for_settings(
        "mpc-api", ctx.settings, base_url=ctx.settings.api_url, key=key, scheme="Bearer",
        client=ctx.http,
    ) as core:  # fmt: skip
        if "api_url" not in ctx.settings.model_fields_set and _refused(core):
            return Finding(
                "skip", f"nothing listens at {ctx.settings.api_url} (the default; set MPC_API_URL"
                " to require MPC-API)",
            )  # fmt: skip
        body = core.get_json("/health", auth=key is not None)
    gateway = (body.get("gateway") or {}) if isinstance(body, dict) else {}
    return Finding("ok", f"{ctx.settings.api_url}: ok; gateway {gateway.get('status', '?')}")


def _refused(core: HttpCore) -> bool:
    """Whether the connection to `core`'s service is refused: one try of the keyless
    `/health/liveliness` (a transient error answer is not "nothing there": the check goes on)."""
    once = RetryPolicy(max_retries=0, deadline_s=core.retry.deadline_s)
    try:
        core.request("GET", "/health/liveliness", auth=False, retry=once)
    except TransportError as exc:
        return isinstance(exc.__cause__, httpx.ConnectError)
    except MpcError:
        return False
    return False


# --- registry -------------------------------------------------------------------------------


def _registry_file(ctx: CheckContext) -> Finding:
    """models.json exists, parses, and its counts match its models."""
    try:
        registry = ctx.registry()
    except MpcError as exc:
        return Finding("fail", str(exc))
    if registry is None:
        return Finding("fail", "no registry yet: run `mpc sync`")
    counted: dict[str, int] = {}
    for record in registry["models"]:
        counted[record["provider"]] = counted.get(record["provider"], 0) + 1
    stated = {name: n for name, n in registry.get("counts", {}).items() if n}
    if counted != stated:
        return Finding("fail", f"counts {stated} do not match the models {counted}")
    stale = sorted(
        name
        for name, entry in registry.get("sources", {}).items()
        if isinstance(entry, dict) and entry.get("status") == "stale"
    )
    metrics = {f"models_{name}": float(n) for name, n in counted.items()}
    if stale:
        return Finding("warn", f"stale providers kept from an earlier sync: {stale}", metrics)
    total = sum(counted.values())
    return Finding(
        "ok", f"{total} models ({', '.join(f'{k} {v}' for k, v in counted.items())})", metrics
    )


def _registry_duplicates(ctx: CheckContext) -> Finding:
    """No provider:model_id twice."""
    registry = _registry_or_none(ctx)
    if registry is None:
        return Finding("skip", "no readable registry")
    seen: set[str] = set()
    repeated: set[str] = set()
    for record in registry["models"]:
        key = f"{record['provider']}:{record['model_id']}"
        (repeated if key in seen else seen).add(key)
    twice = sorted(repeated)
    if twice:
        more = f" (+{len(twice) - 3} more)" if len(twice) > 3 else ""
        return Finding("fail", f"{len(twice)} duplicate ids: {', '.join(twice[:3])}{more}")
    return Finding("ok", f"{len(seen)} unique ids", {"duplicates": 0.0})


def _registry_unpriced(ctx: CheckContext) -> Finding:
    """The share of models without a price, per provider; warns above the limit."""
    registry = _registry_or_none(ctx)
    if registry is None:
        return Finding("skip", "no readable registry")
    limit = ctx.settings.health_max_unpriced
    totals: dict[str, list[int]] = {}
    for record in registry["models"]:
        pair = totals.setdefault(record["provider"], [0, 0])
        pair[0] += 1
        pair[1] += record.get("pricing") is None
    shares = {name: unpriced / total for name, (total, unpriced) in totals.items() if total}
    metrics = {f"unpriced_{name}": round(share, 4) for name, share in shares.items()}
    text = ", ".join(f"{name} {share:.1%}" for name, share in shares.items())
    over = [name for name, share in shares.items() if share > limit]
    if over:
        return Finding("warn", f"unpriced above {limit:.0%}: {text}", metrics)
    return Finding("ok", f"unpriced: {text}", metrics)


def _registry_age(ctx: CheckContext) -> Finding:
    """How long ago the last successful sync wrote the registry; warns past the limit."""
    registry = _registry_or_none(ctx)
    if registry is None:
        return Finding("skip", "no readable registry")
    stamp = registry.get("generated_at")
    try:
        written = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return Finding("fail", f"generated_at {stamp!r} is not a time")
    if written.tzinfo is None:
        written = written.replace(tzinfo=UTC)
    age_s = max((datetime.now(UTC) - written).total_seconds(), 0.0)
    limit_h = ctx.settings.health_max_age_h
    metrics = {"registry_age_seconds": round(age_s, 1)}
    hours = age_s / 3600
    if hours > limit_h:
        return Finding("warn", f"last sync {hours:.1f} h ago, more than {limit_h:g} h", metrics)
    return Finding("ok", f"last sync {_ago(age_s)} ago", metrics)


def _registry_or_none(ctx: CheckContext) -> dict[str, Any] | None:
    try:
        return ctx.registry()
    except MpcError:
        return None


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def registry_drift(
    settings: Settings, registry: dict[str, Any] | None, rows: Mapping[str, HealthRow]
) -> Finding:
    """Live model counts (from the provider rows) against the registry's; warns past the limit."""
    if registry is None:
        return Finding("skip", "no readable registry")
    limit = settings.health_max_drift
    parts, drifted, metrics = [], [], {}
    for name in PROVIDERS:
        row = rows.get(f"{name}.models")
        live = row.metrics.get("live_models") if row is not None else None
        stored = registry.get("counts", {}).get(name, 0)
        if live is None:
            parts.append(f"{name}: no live count")
            continue
        share = abs(live - stored) / stored if stored else (1.0 if live else 0.0)
        metrics[f"drift_{name}"] = round(share, 4)
        parts.append(f"{name} {int(live)} live / {stored} stored")
        if share > limit:
            drifted.append(name)
    if len(metrics) < len(PROVIDERS):
        return Finding("warn", "; ".join(parts), metrics)
    if drifted:
        return Finding(
            "warn", f"drift above {limit:.0%} ({', '.join(drifted)}): " + "; ".join(parts), metrics
        )
    return Finding("ok", "; ".join(parts), metrics)


# --- stack ----------------------------------------------------------------------------------


def _stack_services(ctx: CheckContext) -> Finding:
    """The stack's services (local processes or containers) when one is up; skip when none is."""
    from ..stack import stack_status  # the stack package loads only for this row

    status = stack_status(ctx.settings)
    if not status.up:
        return Finding("skip", "no stack is up" + (f" ({status.note})" if status.note else ""))
    healthy = [row.service for row in status.rows if row.healthy]
    metrics = {"services": float(len(status.rows)), "services_healthy": float(len(healthy))}
    bad = [f"{row.service} {row.state} ({row.detail})" for row in status.rows if not row.healthy]
    if bad:
        return Finding("fail", f"{status.mode}: " + "; ".join(bad), metrics)
    return Finding("ok", f"{status.mode}: {len(healthy)} healthy: {', '.join(healthy)}", metrics)


CHECKS: tuple[Check, ...] = (
    Check("fal.models", "providers", _fal_models),
    Check("fal.pricing", "providers", _fal_pricing),
    Check("fal.estimate", "providers", _fal_estimate),
    Check("comet.models", "providers", _comet_models),
    Check("comet.catalog", "providers", _comet_catalog),
    Check("registry.file", "registry", _registry_file),
    Check("registry.duplicates", "registry", _registry_duplicates),
    Check("registry.unpriced", "registry", _registry_unpriced),
    Check("registry.age", "registry", _registry_age),
    Check("gateway.liveliness", "gateway", _gateway_liveliness),
    Check("gateway.readiness", "gateway", _gateway_readiness),
    Check("gateway.models", "gateway", _gateway_models),
    Check("api.health", "api", _api_health),
    Check("stack.services", "stack", _stack_services),
)
# Rows computed from the other rows once they are in: (name, group).
DERIVED: tuple[tuple[str, str], ...] = (("registry.drift", "registry"),)
