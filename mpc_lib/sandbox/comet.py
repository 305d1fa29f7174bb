"""An emulator of CometAPI: the Bearer model list `/v1/models` and the public `/api/models`."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._app import emulator_app, request_id
from .modes import odd_comet
from .state import SandboxState

__all__ = ["COMET_DEFAULT_PAGE_SIZE", "COMET_MAX_PAGE_SIZE", "create_app"]

COMET_DEFAULT_PAGE_SIZE = 20
COMET_MAX_PAGE_SIZE = 100
# status -> (OpenAI-style error type, code)
_OPENAI_ERRORS = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def _openai_error(status: int, message: str) -> dict[str, Any]:
    error_type, code = _OPENAI_ERRORS.get(status, ("server_error", "server_error"))
    return {"error": {"message": message, "type": error_type, "code": code}}


def _fault_body(path: str, status: int, message: str, rid: str) -> dict[str, Any]:
    if path.startswith("/api/"):
        return {"success": False, "message": f"{message} (request id: {rid})"}
    return _openai_error(status, f"{message} (request id: {rid})")


def _api_error(status: int, message: str) -> Response:
    return JSONResponse({"success": False, "message": message}, status_code=status)


def _check_bearer(request: Request, state: SandboxState) -> Response | None:
    """None when `Authorization: Bearer <key>` is acceptable, else the 401 answer."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, key = header.partition(" ")
    expected = state.key_for("comet")
    if scheme != "Bearer" or not key.strip():
        message = "Missing or malformed Authorization header; expected 'Bearer <COMETAPI_KEY>'"
    elif expected is not None and key.strip() != expected:
        message = "Invalid API key provided"
    else:
        return None
    return JSONResponse(
        _openai_error(401, f"{message} (request id: {request_id(request)})"), status_code=401
    )


def _non_negative(raw: str | None, name: str) -> int:
    if raw is None or raw == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a non-negative integer, got {raw[:20]!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return value


def create_app(state: SandboxState) -> Starlette:
    """The Comet emulator; `state` is shared with the FAL emulator and the test that drives it."""

    async def v1_models(request: Request) -> Response:
        refusal = _check_bearer(request, state)
        if refusal is not None:
            return refusal
        models = state.data.comet_models
        if state.modes.comet_odd_entries:
            models = odd_comet(state.data.comet_catalog, models)[1]
        return JSONResponse({"object": "list", "data": models, "success": True})

    async def api_models(request: Request) -> Response:
        try:
            page = _non_negative(request.query_params.get("page"), "page")
            page_size = _non_negative(request.query_params.get("page_size"), "page_size")
        except ValueError as exc:
            return _api_error(400, str(exc))
        catalog = state.data.comet_catalog
        if state.modes.comet_odd_entries:
            catalog = odd_comet(catalog, state.data.comet_models)[0]
        if page == 0 and page_size == 0 and state.modes.comet_page_size is not None:
            page, page_size = 1, state.modes.comet_page_size  # an API that pages by default
        if page == 0 and page_size == 0:
            return JSONResponse(
                {"success": True, "page": 0, "page_size": 0, "total": len(catalog), "data": catalog}
            )
        page = page or 1
        page_size = min(page_size or COMET_DEFAULT_PAGE_SIZE, COMET_MAX_PAGE_SIZE)
        chunk = catalog[(page - 1) * page_size : page * page_size]
        body = {
            "success": True,
            "page": page,
            "page_size": page_size,
            "total": len(catalog),
            "data": chunk,
        }
        return JSONResponse(body)

    async def api_model(request: Request) -> Response:
        code = request.path_params["code"]
        for entry in state.data.comet_catalog:
            if code in (entry.get("code"), entry.get("id")):
                return JSONResponse({"success": True, "data": entry})
        return _api_error(404, f"model {code!r} not found")

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = f"No route for {request.method} {request.url.path}"
        if request.url.path.startswith("/api/"):
            return _api_error(status, message)
        return JSONResponse(_openai_error(status, message), status_code=status)

    routes = [
        Route("/v1/models", v1_models, methods=["GET"]),
        Route("/api/models", api_models, methods=["GET"]),
        Route("/api/model/{code:path}", api_model, methods=["GET"]),
    ]
    return emulator_app(state, "comet", routes, error_body=_fault_body, not_found=not_found)
