"""The MPC-API app factory: start-up checks, the guard middleware, one error envelope.

`create_app(settings)` checks everything a request would need before it binds
anything: the gateway key, the registry, the generated gateway config, and every
alias (a broken alias raises AliasError naming it).  Then each request passes
`mpc_lib.api.guard.Guard` (request id, bearer key, body limit, the envelope for every
failure, the shutdown drain).  Every error is the envelope of
`mpc_lib.api.schemas.ErrorEnvelope`.

Every route also answers under `/mpc` (`MOUNT_PREFIX`), as if a proxy had mounted the
service there: that is how the hub spec names MPC-API's operations, since its `/v1/...`
paths would otherwise collide with Comet's.  `service_openapi()` gives the service's
OpenAPI without loading anything, for merging into the hub spec.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .._version import __version__
from ..aliases import AliasCatalog, load_aliases
from ..config import Settings
from ..errors import ConfigError
from ..gateway.config import config_deployments, default_config_path, load_gateway_config
from ..http import AsyncHttpCore
from ..registry import RegistryStore
from .deps import PROBE_TIMEOUT_S, ApiState, api_error, problem_answer, request_id_of
from .guard import LIVELINESS_PATH, Guard
from .routes import chat, fal, health, models, orchestrate, select

__all__ = ["LIVELINESS_PATH", "MOUNT_PREFIX", "create_app", "service_openapi"]

log = logging.getLogger("mpc_lib.api")

MOUNT_PREFIX = "/mpc"  # every route also answers under this prefix (the hub spec's paths)
BEARER_SCHEME = "MpcBearer"


class _Service(FastAPI):
    """FastAPI that also answers under `MOUNT_PREFIX`, and documents itself as it behaves."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _under_prefix(scope["path"]):
            scope = _unprefixed(scope)
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document as the service behaves: chat as `chat.documented` describes
        it, the bearer scheme the guard enforces (not on liveliness), and no 422 (an invalid
        request is a 400 in the envelope)."""
        if self.openapi_schema is not None:
            return self.openapi_schema
        schema = get_openapi(
            title=self.title, version=self.version, openapi_version=self.openapi_version,
            description=self.description, routes=[*self.routes, *chat.documented.routes],
            tags=self.openapi_tags, servers=self.servers,
        )  # fmt: skip
        for item in schema["paths"].values():
            for operation in item.values():
                operation.get("responses", {}).pop("422", None)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        schema["components"]["securitySchemes"] = {
            BEARER_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "description": "MPC_API_KEY; required unless the service runs without one"
                " (then it binds to loopback only)",
            }
        }
        schema["security"] = [{BEARER_SCHEME: []}]
        schema["paths"][LIVELINESS_PATH]["get"]["security"] = []
        self.openapi_schema = schema
        return schema


def _under_prefix(path: str) -> bool:
    return path == MOUNT_PREFIX or path.startswith(MOUNT_PREFIX + "/")


def _unprefixed(scope: Scope) -> Scope:
    """The request as the routes see it: `/mpc` moved from the path into the root path."""
    size = len(MOUNT_PREFIX)
    raw = scope.get("raw_path")
    return {
        **scope,
        "path": scope["path"][size:] or "/",
        "raw_path": (raw[size:] or b"/") if isinstance(raw, bytes) else raw,
        "root_path": scope.get("root_path", "") + MOUNT_PREFIX,
    }


def _load_state(
    settings: Settings, catalog: AliasCatalog | None, config_path: Path | None
) -> ApiState:
    """Everything checked before binding: gateway key, registry, gateway config, aliases."""
    if settings.gateway_key is None:
        raise ConfigError(
            "LITELLM_MASTER_KEY is not set: MPC-API needs the gateway's key "
            "(`mpc gateway serve` generates one into the workbook's .env)"
        )
    store = RegistryStore(settings.outputs_dir)
    registry = store.require()
    path = config_path or default_config_path(settings)
    config = load_gateway_config(path)
    resolved = (catalog or load_aliases()).resolve(registry["models"], config)
    # Chats get MPC_API_MAX_UPSTREAM connections and never queue for one (a full relay is a
    # 503 at once); the health probe has a connection of its own, so a full relay never
    # reads as a gateway down.
    relay = AsyncHttpCore("gateway", settings.gateway_url, key=settings.gateway_key,
                          timeout_s=settings.api_relay_timeout_s,
                          connections=settings.api_max_upstream, pool_timeout_s=0)  # fmt: skip
    probe = AsyncHttpCore("gateway", settings.gateway_url, key=settings.gateway_key,
                          timeout_s=PROBE_TIMEOUT_S, connections=2)  # fmt: skip
    state = ApiState(settings, store, resolved, config_deployments(config), path, relay, probe)
    state.registry()
    return state


def create_app(
    settings: Settings,
    *,
    aliases: AliasCatalog | None = None,
    config_path: Path | None = None,
    max_body_bytes: int | None = None,
) -> FastAPI:
    """The MPC-API app; raises ConfigError/AliasError at once when it could not serve.

    It keeps no provider key, whatever the environment holds: the gateway adds them.
    """
    settings = settings.with_(keys={})
    state = _load_state(settings, aliases, config_path)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await state.relay.aclose()
        await state.probe.aclose()

    app = _service(lifespan)
    app.state.mpc = state
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # No handler for Exception: the guard answers whatever escapes a route, with its id.
    limit = max_body_bytes or settings.api_max_body_bytes
    key = settings.api_key.reveal() if settings.api_key is not None else None
    app.add_middleware(Guard, api_key=key, max_body_bytes=limit, drain=state.drain)
    return app


def _service(lifespan: Any = None) -> _Service:
    """The app with its routes (state and middleware are `create_app`'s)."""
    app = _Service(
        title="MPC-API",
        version=__version__,
        description="Registry models, task aliases, chat and FAL model calls through the "
        "LiteLLM gateway.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    for path in chat.CHAT_PATHS:  # first: every chat is matched at once
        app.router.add_route(path, chat.chat_completions, methods=["POST"])
    for module in (health, models, select, orchestrate, fal):
        app.include_router(module.router)
    return app


def service_openapi() -> dict[str, Any]:
    """MPC-API's OpenAPI document, from its routes alone (no registry or gateway needed)."""
    return _service().openapi()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return problem_answer(exc, request_id_of(request))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:5]
    )
    return api_error(400, f"invalid request: {problems}", code="invalid_request",
                     request_id=request_id_of(request))  # fmt: skip
