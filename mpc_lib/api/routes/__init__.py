"""MPC-API routes, one module per resource; `mpc_lib.api.app` only includes them."""

from __future__ import annotations

from typing import Any

from ..schemas import ErrorEnvelope

__all__ = ["COMMON_ERRORS"]

# Answers any route may give: no or wrong key, a body over the limit, a malformed request.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "Malformed request"},
    401: {"model": ErrorEnvelope, "description": "Missing or wrong bearer key"},
    413: {"model": ErrorEnvelope, "description": "Request body too large"},
}
