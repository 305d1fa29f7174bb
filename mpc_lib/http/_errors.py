"""httpx's failures and providers' error answers as the typed errors of `mpc_lib.errors`.

`map_httpx_errors` is the one place where `httpx` exceptions become ours, for the sync
core and the async relay alike: a body that will not decode is a `ResponseFormatError`,
every other request error (timeouts, network, protocol, proxy, unsupported URL) a
`TransportError` naming provider, method and path, its text redacted, the httpx
exception kept as the cause.  An error answer (4xx/5xx) becomes a `ProviderError`
subclass chosen by status, with the provider's own error type, message and request id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from ..errors import (
    AuthError,
    NotFound,
    ProviderError,
    RateLimited,
    Redirected,
    ResponseFormatError,
    ServerError,
    TransportError,
)

__all__ = ["map_httpx_errors", "provider_error", "redact", "redirected", "request_id"]

_STATUS_ERRORS: dict[int, type[ProviderError]] = {
    401: AuthError,
    403: AuthError,
    404: NotFound,
    429: RateLimited,
}
_REQUEST_ID_HEADERS = ("x-request-id", "x-fal-request-id", "request-id", "x-litellm-call-id")


def redact(text: str, secret: str | None) -> str:
    """`text` with the secret replaced by `***`."""
    return text.replace(secret, "***") if secret else text


@contextlib.contextmanager
def map_httpx_errors(
    provider: str, method: str, path: str, secret: str | None = None
) -> Iterator[None]:
    """Raise httpx's request errors inside the block as ours, `secret` redacted."""
    try:
        yield
    except httpx.DecodingError as exc:
        raise ResponseFormatError(provider, path, f"undecodable body ({exc})") from exc
    except httpx.RequestError as exc:
        detail = redact(f"{type(exc).__name__}: {exc}", secret)
        raise TransportError(provider, method, path, detail) from exc


def request_id(response: httpx.Response) -> str | None:
    """The answer's request id, from whichever header the provider uses."""
    headers = response.headers
    for name in _REQUEST_ID_HEADERS:
        if name in headers:
            return headers[name]
    return None


def provider_error(
    provider: str,
    method: str,
    path: str,
    response: httpx.Response,
    *,
    secret: str | None = None,
    note: str | None = None,
    retry_after_s: float | None = None,
) -> ProviderError:
    """The typed error for a 4xx/5xx answer; `note` says why retrying stopped."""
    error_type, message, body_request_id = _error_fields(response)
    if message is not None:
        message = redact(message, secret)
    detail = "; ".join(part for part in (message, note) if part) or None
    cls = _error_class(response.status_code)
    extra: dict[str, Any] = {"retry_after_s": retry_after_s} if cls is RateLimited else {}
    return cls(
        provider,
        response.status_code,
        method,
        path,
        error_type=error_type,
        detail=detail,
        request_id=request_id(response) or body_request_id,
        **extra,
    )


def redirected(
    provider: str, method: str, path: str, response: httpx.Response, secret: str | None = None
) -> Redirected:
    """A 3xx as an error naming where it pointed (a relative Location named in full)."""
    location = response.headers.get("location")
    if location is not None:
        # A relative Location is named in full, so the operator sees which host it means.
        with contextlib.suppress(httpx.InvalidURL):
            location = str(response.request.url.join(location))
        location = redact(location, secret)
    return Redirected(
        provider,
        response.status_code,
        method,
        path,
        location=location,
        request_id=request_id(response),
    )


def _error_class(status: int) -> type[ProviderError]:
    if status >= 500:
        return ServerError
    return _STATUS_ERRORS.get(status, ProviderError)


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """(error type, message, request id) from FAL, OpenAI-style, Comet or Apidog error bodies."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        text = response.text.strip()
        return None, (text[:200] or response.reason_phrase or None), None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = error.get("type") or error.get("code")
            return (
                str(code) if code is not None else None,
                str(error.get("message")) if error.get("message") is not None else None,
                str(error["request_id"]) if error.get("request_id") else None,
            )
        if isinstance(error, str):
            return None, error, None
        if "errorCode" in body or "errorMessage" in body:  # Apidog's envelope
            code, message = body.get("errorCode"), body.get("errorMessage")
            return (
                str(code) if code is not None else None,
                str(message) if message is not None else None,
                None,
            )
        if body.get("success") is False or "message" in body:
            return None, str(body.get("message") or "success=false"), None
    return None, response.reason_phrase or None, None
