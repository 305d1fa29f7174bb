"""The MPC-API app factory: start-up checks, the guard middleware, one error envelope.

`create_app(settings)` checks everything a request would need before it binds
anything: the gateway key, the registry, the generated gateway config, and every
alias (a broken alias raises AliasError naming it).  Then each request passes
`_Guard`, a plain ASGI middleware (no per-request task or body copy): it gives the
request an id (the caller's `x-request-id` when sane, else a new one) echoed on
every answer and passed on to the gateway, checks `Authorization: Bearer
<MPC_API_KEY>` in constant time on everything but `/health/liveliness`, and refuses a
body over `max_body_bytes` with 413.  Every error is the envelope of
`mpc_lib.api.schemas.ErrorEnvelope`.

Every route also answers under `/mpc` (`MOUNT_PREFIX`), as if a proxy had mounted the
service there: that is how the hub spec names MPC-API's operations, since its `/v1/...`
paths would otherwise collide with Comet's.  `service_openapi()` gives the service's
OpenAPI without loading anything, for merging into the hub spec.
"""

from __future__ import annotations

import contextlib
import hmac
import itertools
import logging
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._version import __version__
from ..aliases import AliasCatalog, load_aliases
from ..config import Settings
from ..errors import ConfigError
from ..gateway.config import config_deployments, default_config_path, load_gateway_config
from ..http import AsyncHttpCore
from ..registry import RegistryStore
from .deps import ApiState, api_error, problem_answer, request_id_of
from .routes import chat, fal, health, models, orchestrate, select

__all__ = ["LIVELINESS_PATH", "MOUNT_PREFIX", "create_app", "service_openapi"]

log = logging.getLogger("mpc_lib.api")

LIVELINESS_PATH = "/health/liveliness"
MOUNT_PREFIX = "/mpc"  # every route also answers under this prefix (the hub spec's paths)
BEARER_SCHEME = "MpcBearer"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _TooLarge(Exception):
    """The body grew past the limit while it was being read."""


class _Guard:
    """Request id, bearer auth and the body limit, in one pass over each request."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes
        # Request ids of our own: random per process, then counted (no entropy per request).
        self._id_prefix = f"mpc-{secrets.token_hex(6)}"
        self._ids = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if given and _REQUEST_ID.match(given) else self._new_id()
        scope["mpc.request_id"] = rid
        header = (b"x-request-id", rid.encode())
        started = False

        async def tagged(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        if self.api_key is not None and scope["path"] != LIVELINESS_PATH:
            scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), self.api_key
            ):
                answer = api_error(
                    401, "missing or wrong bearer key (Authorization: Bearer <MPC_API_KEY>)",
                    code="invalid_api_key", request_id=rid,
                )  # fmt: skip
                answer.headers["www-authenticate"] = "Bearer"
                await answer(scope, receive, tagged)
                return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit():
            if int(length) > self.max_body_bytes:
                await self._too_large(scope, receive, tagged, rid)
                return
            # The server delivers exactly the declared length: nothing left to count.
            await self.app(scope, receive, tagged)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, tagged)
        except _TooLarge:
            if started:
                raise
            await self._too_large(scope, receive, tagged, rid)

    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):012x}"

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        answer = api_error(
            413, f"request body over {self.max_body_bytes} bytes", request_id=rid,
        )  # fmt: skip
        answer.headers["connection"] = "close"  # the rest of the body is never read
        await answer(scope, receive, send)


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


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


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
    relay = AsyncHttpCore("gateway", settings.gateway_url, key=settings.gateway_key,
                          timeout_s=max(settings.timeout_s, 600.0))  # fmt: skip
    state = ApiState(settings, store, resolved, config_deployments(config), path, relay)
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

    app = _service(lifespan)
    app.state.mpc = state
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    limit = max_body_bytes or settings.api_max_body_bytes
    key = settings.api_key.reveal() if settings.api_key is not None else None
    app.add_middleware(_Guard, api_key=key, max_body_bytes=limit)
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


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("api: %s %s failed", request.method, request.url.path, exc_info=exc)
    rid = request_id_of(request)
    return api_error(500, f"internal error ({type(exc).__name__})", request_id=rid)
