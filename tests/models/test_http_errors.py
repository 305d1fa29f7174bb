"""The HTTP cores' error mapping, at the transport seam (httpx.MockTransport)."""

import asyncio

import httpx
import pytest

from mpc_lib.config import Secret
from mpc_lib.errors import (
    AuthError,
    NotFound,
    ProviderError,
    RateLimited,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from mpc_lib.http import AsyncHttpCore, HttpCore, RetryPolicy


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def _core(handler, *, key: str | None = "secret-key-123", retries: int = 0) -> HttpCore:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return HttpCore(
        "fal",
        "http://provider.test/v1",
        key=Secret(key) if key else None,
        scheme="Key",
        client=client,
        retry=RetryPolicy(max_retries=retries, backoff_base_s=0),  # retried at once
    )


REQUEST_ERRORS = [t for t in _all_subclasses(httpx.RequestError) if t is not httpx.DecodingError]


@pytest.mark.parametrize("exc_type", REQUEST_ERRORS)
def test_every_httpx_request_error_becomes_transport_error(
    exc_type: type[httpx.RequestError],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom secret-key-123", request=request)

    with pytest.raises(TransportError) as info:
        _core(handler).get_json("/models")
    assert isinstance(info.value.__cause__, exc_type)
    assert info.value.provider == "fal"
    assert "GET /models" in str(info.value)
    assert "secret-key-123" not in str(info.value)


@pytest.mark.parametrize("exc_type", REQUEST_ERRORS)
def test_the_relay_maps_every_httpx_request_error_alike(
    exc_type: type[httpx.RequestError],
) -> None:
    """MPC-API's relay goes through the same mapping as the sync core."""

    async def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom secret-key-123", request=request)

    async def call() -> None:
        relay = AsyncHttpCore("gateway", "http://gateway.test", key=Secret("secret-key-123"),
                              transport=httpx.MockTransport(handler))  # fmt: skip
        try:
            await relay.open("POST", "/v1/chat/completions", content=b"{}")
        finally:
            await relay.aclose()

    with pytest.raises(TransportError) as info:
        asyncio.run(call())
    assert isinstance(info.value.__cause__, exc_type)
    assert str(info.value).startswith(
        f"gateway: no answer for POST /v1/chat/completions: {exc_type.__name__}: boom ***"
    )


def test_decoding_error_is_a_format_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip")

    with pytest.raises(ResponseFormatError, match="undecodable body"):
        _core(handler).get_json("/models")


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, ProviderError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFound),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_status_maps_to_error_class_with_fields(
    status: int, error_class: type[ProviderError]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "error": {
                "type": "some_type",
                "message": "bad key secret-key-123",
                "request_id": "req-body",
            }
        }
        return httpx.Response(status, json=body)

    with pytest.raises(error_class) as info:
        _core(handler).get_json("/models/pricing")
    err = info.value
    assert type(err) is error_class
    assert (err.provider, err.status, err.error_type, err.request_id) == (
        "fal",
        status,
        "some_type",
        "req-body",
    )
    assert (
        str(err)
        == f"fal: {status} GET /models/pricing: some_type: bad key *** (request_id=req-body)"
    )


def test_header_request_id_and_openai_and_comet_envelopes() -> None:
    bodies = iter(
        [
            httpx.Response(
                401,
                json={
                    "error": {
                        "message": "Invalid token",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                headers={"x-request-id": "hdr-1"},
            ),
            httpx.Response(400, json={"success": False, "message": "page out of range"}),
            httpx.Response(502, text="<html>Bad Gateway</html>"),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return next(bodies)

    core = _core(handler)
    with pytest.raises(
        AuthError, match=r"401 GET /a: invalid_request_error: Invalid token \(request_id=hdr-1\)"
    ):
        core.get_json("/a")
    with pytest.raises(ProviderError, match="400 GET /b: page out of range"):
        core.get_json("/b")
    with pytest.raises(ServerError, match="502 GET /c: <html>Bad Gateway</html>"):
        core.get_json("/c")


def test_auth_header_scheme_and_repeated_query_params() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    core = _core(handler)
    assert core.get_json(
        "/models/pricing", {"endpoint_id": ["a", "b"], "cursor": None, "flag": True}
    ) == {"ok": True}
    core.get_json("/public", auth=False)
    assert seen[0].headers["Authorization"] == "Key secret-key-123"
    assert seen[0].url.query == b"endpoint_id=a&endpoint_id=b&flag=true"
    assert "Authorization" not in seen[1].headers


def test_retries_then_succeeds_and_gives_up_after_the_budget() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503 if len(calls) < 3 else 200, json={"n": len(calls)})

    assert _core(handler, retries=2).get_json("/x") == {"n": 3}
    calls.clear()
    with pytest.raises(ServerError):
        _core(handler, retries=1).get_json("/x")
    assert len(calls) == 2  # one try plus one retry
