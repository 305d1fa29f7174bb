"""Health: `/health/liveliness` (no key needed) and the deep `/health` (gateway, registry)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..._version import __version__
from ...errors import MpcError
from ..deps import State, request_id_of
from ..schemas import ErrorBody, GatewayHealth, Health, Liveliness, RegistryHealth
from . import COMMON_ERRORS

__all__ = ["router"]

router = APIRouter(tags=["health"])
_SERVICE = "mpc-api"


@router.get("/health/liveliness", response_model=Liveliness)
async def liveliness() -> Liveliness:
    """The process answers; nothing else is checked (no key needed)."""
    return Liveliness(status="alive", service=_SERVICE, version=__version__)


@router.get(
    "/health",
    response_model=Health,
    responses={**COMMON_ERRORS, 503: {"model": Health, "description": "The gateway is down"}},
)
async def deep_health(state: State, request: Request) -> JSONResponse:
    """The gateway (its readiness, with MPC-API's key, over the probe's own connection, so
    busy chats never make it look down) and the registry; 503 when the gateway does not
    answer."""
    gateway = await _gateway(state)
    registry = state.registry()
    sources = registry.get("sources", {})
    report = Health(
        status="ok" if gateway.status == "ok" else "degraded",
        service=_SERVICE,
        version=__version__,
        gateway=gateway,
        registry=RegistryHealth(  # no server path: callers have no business knowing it
            generated_at=registry.get("generated_at"),
            counts=registry.get("counts", {}),
            stale=sorted(name for name, s in sources.items() if s.get("status") == "stale"),
        ),
        aliases=len(state.aliases.by_name),
    )
    if gateway.status != "ok":
        report.error = ErrorBody(
            message=f"the gateway at {gateway.url} is {gateway.status}: {gateway.detail}",
            type="gateway_unavailable", code="gateway_unavailable",
            request_id=request_id_of(request),
        )  # fmt: skip
    return JSONResponse(report.model_dump(), status_code=200 if gateway.status == "ok" else 503)


async def _gateway(state: State) -> GatewayHealth:
    url = state.settings.gateway_url
    started = time.monotonic()
    try:
        upstream = await state.probe.open("GET", "/health/readiness")
        await upstream.read()
        await upstream.aclose()
    except MpcError as exc:
        return GatewayHealth(url=url, status="down", detail=str(exc))
    latency = round((time.monotonic() - started) * 1000, 1)
    if upstream.status != 200:
        detail = f"/health/readiness answered {upstream.status}"
        return GatewayHealth(url=url, status="error", latency_ms=latency, detail=detail)
    return GatewayHealth(url=url, status="ok", latency_ms=latency)
