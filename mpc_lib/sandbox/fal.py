"""An emulator of FAL Platform API v1 (`/v1/models`, `/v1/models/pricing`, `.../estimate`),
with FAL's model-running hosts beside it (`/run`, `/queue`, `/files`: see `fal_run`), whose
errors, faults included, use fal.run's `{"detail": ...}` body instead of the Platform's."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._app import emulator_app, request_id, scope_faults
from .fal_run import RUN_PREFIXES, run_routes
from .modes import odd_fal
from .state import SandboxState

__all__ = ["FAL_DEFAULT_LIMIT", "FAL_MAX_IDS", "FAL_MAX_LIMIT", "create_app", "encode_cursor"]

FAL_DEFAULT_LIMIT = 50
FAL_MAX_LIMIT = 100
FAL_MAX_IDS = 50
_STATUSES = ("active", "deprecated")
_ESTIMATE_TYPES = {"historical_api_price": "call_quantity", "unit_price": "unit_quantity"}
_TYPE_BY_STATUS = {
    400: "validation_error",
    401: "authorization_error",
    403: "authorization_error",
    404: "not_found",
    429: "rate_limited",
    501: "not_implemented",
}


class _FalError(Exception):
    """An answer in FAL's error envelope, raised from inside a route."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def _envelope(error_type: str, message: str, rid: str) -> dict[str, Any]:
    return {"error": {"type": error_type, "message": message, "request_id": rid}}


def _fault_body(path: str, status: int, message: str, rid: str) -> dict[str, Any]:
    if path.startswith(RUN_PREFIXES):
        return {"detail": message}
    error_type = _TYPE_BY_STATUS.get(
        status, "server_error" if status >= 500 else "validation_error"
    )
    return _envelope(error_type, message, rid)


def _error_response(request: Request, exc: _FalError) -> Response:
    body = _envelope(exc.error_type, exc.message, request_id(request))
    return JSONResponse(body, status_code=exc.status)


def encode_cursor(page: int) -> str:
    """FAL's cursor: base64 of the page number as text (page 2 is "Mg==")."""
    return base64.b64encode(str(page).encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        page = int(base64.b64decode(cursor, validate=True).decode("ascii"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _FalError(400, "validation_error", f"Invalid cursor {cursor[:40]!r}") from None
    if page < 1:
        raise _FalError(400, "validation_error", f"Invalid cursor {cursor[:40]!r}")
    return page


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return FAL_DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise _FalError(
            400, "validation_error", f"limit must be an integer >= 1, got {raw[:20]!r}"
        ) from None
    if limit < 1:
        raise _FalError(400, "validation_error", f"limit must be an integer >= 1, got {limit}")
    return min(limit, FAL_MAX_LIMIT)


def _authorize(request: Request, state: SandboxState, *, required: bool) -> bool:
    """Check `Authorization: Key <key>`: True for a valid key, False for none (when optional)."""
    header = request.headers.get("authorization")
    if header is None:
        if required:
            raise _FalError(401, "authorization_error", "Authentication required")
        return False
    scheme, _, key = header.strip().partition(" ")
    if scheme != "Key" or not key.strip():
        raise _FalError(401, "authorization_error", 'API key must be prefixed with "Key "')
    expected = state.key_for("fal")
    if expected is not None and key.strip() != expected:
        raise _FalError(401, "authorization_error", "Invalid API key")
    return True


def _ids(request: Request, *, comma: bool) -> list[str]:
    values = request.query_params.getlist("endpoint_id")
    if comma:
        values = [part for value in values for part in value.split(",")]
    ids = [value.strip() for value in values if value.strip()]
    if len(ids) > FAL_MAX_IDS:
        raise _FalError(
            400,
            "validation_error",
            f"Too many endpoint_id values: {len(ids)} (at most {FAL_MAX_IDS} per request)",
        )
    return ids


def _matches(model: dict[str, Any], category: str | None, status: str | None, query: str) -> bool:
    metadata = model.get("metadata") or {}
    if category and metadata.get("category") != category:
        return False
    if status and metadata.get("status") != status:
        return False
    if query:
        text = " ".join(
            str(metadata.get(k) or "") for k in ("display_name", "description", "category")
        )
        return query in text.lower()
    return True


def create_app(state: SandboxState) -> Starlette:
    """The FAL emulator; `state` is shared with the Comet emulator and the test that drives it."""

    async def list_models(request: Request) -> Response:
        try:
            _authorize(request, state, required=False)
            params = request.query_params
            limit = _limit(params.get("limit"))
            cursor = params.get("cursor") or None
            page = _decode_cursor(cursor) if cursor else 1
            status = params.get("status") or None
            if status is not None and status not in _STATUSES:
                raise _FalError(
                    400, "validation_error", f"status must be one of: {', '.join(_STATUSES)}"
                )
            ids = set(_ids(request, comma=False))
        except _FalError as exc:
            return _error_response(request, exc)
        query = (params.get("q") or "").strip().lower()
        listed = state.data.fal_models
        if state.modes.fal_odd_entries:
            listed = odd_fal(listed, state.data.fal_prices)[0]
        models = [
            m
            for m in listed
            if (not ids or m.get("endpoint_id") in ids)
            and _matches(m, params.get("category"), status, query)
        ]
        start = (page - 1) * limit
        next_cursor = encode_cursor(page + 1) if start + limit < len(models) else None
        if any(f.kind == "repeat_cursor" for f in scope_faults(request)):
            next_cursor = cursor or encode_cursor(page + 1)
        body = {
            "models": models[start : start + limit],
            "next_cursor": next_cursor,
            "has_more": next_cursor is not None,
        }
        return JSONResponse(body)

    async def pricing(request: Request) -> Response:
        try:
            _authorize(request, state, required=True)
            ids = _ids(request, comma=True)
            if not ids:
                raise _FalError(
                    400, "validation_error", f"endpoint_id is required (1 to {FAL_MAX_IDS} ids)"
                )
            asked = list(dict.fromkeys(ids))
            modes = state.modes
            known = state.data.fal_prices
            if modes.fal_odd_entries:
                known = odd_fal(state.data.fal_models, known)[1]
            prices = [known[i] for i in asked if i in known]
            # The spec's 404 either means "none of these is priced" (lenient) or
            # "one of these is not" (strict); the sandbox speaks either.
            if not prices or (modes.fal_pricing == "strict" and len(prices) < len(asked)):
                raise _FalError(
                    404, "not_found", "No pricing found for the requested endpoint_id values"
                )
        except _FalError as exc:
            return _error_response(request, exc)
        next_cursor = None
        size = modes.fal_pricing_page_size
        if size is not None and len(prices) > size:
            prices, next_cursor = prices[:size], encode_cursor(2)
        body = {"prices": prices, "next_cursor": next_cursor, "has_more": next_cursor is not None}
        return JSONResponse(body)

    async def estimate(request: Request) -> Response:
        try:
            _authorize(request, state, required=True)
            estimate_type, total = _estimate(state, await request.body())
        except _FalError as exc:
            return _error_response(request, exc)
        return JSONResponse(
            {"estimate_type": estimate_type, "total_cost": total, "currency": "USD"}
        )

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if request.url.path.startswith(RUN_PREFIXES):
            detail = f"No route for {request.method} {request.url.path}"
            return JSONResponse({"detail": detail}, status_code=status)
        error_type = "not_found" if status == 404 else "validation_error"
        return _error_response(
            request,
            _FalError(status, error_type, f"No route for {request.method} {request.url.path}"),
        )

    routes = [
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/pricing", pricing, methods=["GET"]),
        Route("/v1/models/pricing/estimate", estimate, methods=["POST"]),
        *run_routes(state),
    ]
    return emulator_app(state, "fal", routes, error_body=_fault_body, not_found=not_found)


def _estimate(state: SandboxState, raw: bytes) -> tuple[str, float]:
    """Validate an estimate body and price it: unit_price x quantity, summed over endpoints.

    `historical_api_price` prices each call as one billing unit: the sandbox has no
    call history, so its "historical" price per call is the unit price.
    """
    try:
        body = json.loads(raw)
    except ValueError:
        raise _FalError(400, "validation_error", "Request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _FalError(400, "validation_error", "Request body must be a JSON object")
    estimate_type = body.get("estimate_type")
    if estimate_type not in _ESTIMATE_TYPES:
        known = ", ".join(_ESTIMATE_TYPES)
        raise _FalError(400, "validation_error", f"estimate_type must be one of: {known}")
    endpoints = body.get("endpoints")
    if not isinstance(endpoints, dict) or not endpoints:
        raise _FalError(400, "validation_error", "endpoints must be a non-empty object")
    # No cap on the number of endpoints: the spec sets no maxProperties on `endpoints`.
    field = _ESTIMATE_TYPES[estimate_type]
    total = 0.0
    for endpoint_id, spec in endpoints.items():
        quantity = _quantity(spec, field, endpoint_id)
        price = state.data.fal_prices.get(endpoint_id)
        if price is None:
            raise _FalError(404, "not_found", f"No pricing found for endpoint {endpoint_id!r}")
        total += float(price["unit_price"]) * quantity
    return estimate_type, round(total, 6)


def _quantity(spec: Any, field: str, endpoint_id: str) -> float:
    """call_quantity must be an integer >= 1, unit_quantity a number >= 1e-6."""
    value = spec.get(field) if isinstance(spec, dict) else None
    integral = field == "call_quantity"
    wanted_type = int if integral else (int, float)
    if (
        not isinstance(value, bool)
        and isinstance(value, wanted_type)
        and value >= (1 if integral else 1e-6)
    ):
        return float(value)
    need = "an integer >= 1" if integral else "a number >= 0.000001"
    raise _FalError(400, "validation_error", f"endpoints[{endpoint_id!r}].{field} must be {need}")
