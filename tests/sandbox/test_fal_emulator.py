"""The FAL emulator against FAL Platform API v1's wire contract, over real loopback sockets."""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mpc_lib.sandbox import Fault, Sandbox
from mpc_lib.sandbox.fal import FAL_MAX_LIMIT, encode_cursor

REQUIRED_METADATA = {
    "display_name",
    "category",
    "description",
    "status",
    "tags",
    "updated_at",
    "is_favorited",
    "thumbnail_url",
    "model_url",
    "date",
    "highlighted",
    "pinned",
}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def _auth(sandbox: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Key {sandbox.fal_key}"}


def _assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == error_type
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return dict(error)


def _walk(http: httpx.Client, sandbox: Sandbox, **params: Any) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = http.get(f"{sandbox.fal_url}/models", params=query).json()
        pages += 1
        ids += [m["endpoint_id"] for m in body["models"]]
        assert body["has_more"] == (body["next_cursor"] is not None)
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages


def test_first_page_without_auth(sandbox: Sandbox, http: httpx.Client) -> None:
    response = http.get(f"{sandbox.fal_url}/models")
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("sbx-fal-")
    body = response.json()
    assert set(body) == {"models", "next_cursor", "has_more"}
    assert len(body["models"]) == 50
    assert body["next_cursor"] == "Mg==" and body["has_more"] is True
    first = body["models"][0]
    assert first == sandbox.data.fal_models[0]
    assert set(first["metadata"]) >= REQUIRED_METADATA
    assert first["metadata"]["is_favorited"] is None


def test_pagination_walk_covers_every_model_once(sandbox: Sandbox, http: httpx.Client) -> None:
    ids, pages = _walk(http, sandbox, limit=FAL_MAX_LIMIT)
    expected = [m["endpoint_id"] for m in sandbox.data.fal_models]
    assert ids == expected
    assert len(set(ids)) == len(ids)
    assert pages == math.ceil(len(expected) / FAL_MAX_LIMIT)


def test_limit_is_clamped_to_the_cap(sandbox: Sandbox, http: httpx.Client) -> None:
    body = http.get(f"{sandbox.fal_url}/models", params={"limit": 1000}).json()
    assert len(body["models"]) == FAL_MAX_LIMIT == 100
    assert body["next_cursor"] == encode_cursor(2) == "Mg=="


@pytest.mark.parametrize("limit", ["0", "-3", "abc", "2.5"])
def test_bad_limit_is_a_validation_error(sandbox: Sandbox, http: httpx.Client, limit: str) -> None:
    response = http.get(f"{sandbox.fal_url}/models", params={"limit": limit})
    assert "limit" in _assert_error(response, 400, "validation_error")["message"]


def test_cursor_past_the_end_is_an_empty_last_page(sandbox: Sandbox, http: httpx.Client) -> None:
    response = http.get(f"{sandbox.fal_url}/models", params={"cursor": encode_cursor(999)})
    assert response.json() == {"models": [], "next_cursor": None, "has_more": False}


@pytest.mark.parametrize("cursor", ["not base64!", base64.b64encode(b"two").decode(), "MA=="])
def test_bad_cursor_is_a_validation_error(
    sandbox: Sandbox, http: httpx.Client, cursor: str
) -> None:
    response = http.get(f"{sandbox.fal_url}/models", params={"cursor": cursor})
    _assert_error(response, 400, "validation_error")


def test_search_filters(sandbox: Sandbox, http: httpx.Client) -> None:
    models = sandbox.data.fal_models
    ids, _ = _walk(http, sandbox, category="text-to-video", limit=100)
    assert ids == [m["endpoint_id"] for m in models if m["metadata"]["category"] == "text-to-video"]
    ids, _ = _walk(http, sandbox, status="deprecated", limit=100)
    assert 0 < len(ids) == sum(m["metadata"]["status"] == "deprecated" for m in models)
    ids, _ = _walk(http, sandbox, q="SPEECH", limit=100)

    def searchable(meta: dict[str, Any]) -> str:
        return f"{meta['display_name']} {meta['description']} {meta['category']}".lower()

    assert ids == [m["endpoint_id"] for m in models if "speech" in searchable(m["metadata"])]
    assert {"text-to-speech", "speech-to-text"} <= {
        m["metadata"]["category"] for m in models if m["endpoint_id"] in ids
    }
    bad = http.get(f"{sandbox.fal_url}/models", params={"status": "retired"})
    assert "active, deprecated" in _assert_error(bad, 400, "validation_error")["message"]


def test_find_by_repeated_endpoint_ids(sandbox: Sandbox, http: httpx.Client) -> None:
    wanted = [m["endpoint_id"] for m in sandbox.data.fal_models[10:13]]
    body = http.get(f"{sandbox.fal_url}/models", params={"endpoint_id": wanted}).json()
    assert [m["endpoint_id"] for m in body["models"]] == wanted
    too_many = [m["endpoint_id"] for m in sandbox.data.fal_models[:51]]
    response = http.get(f"{sandbox.fal_url}/models", params={"endpoint_id": too_many})
    assert "50" in _assert_error(response, 400, "validation_error")["message"]


@pytest.mark.parametrize(
    ("path", "header"),
    [
        ("/models", "Bearer {key}"),
        ("/models", "Key wrong-key"),
        ("/models/pricing?endpoint_id=x", "Bearer {key}"),
        ("/models/pricing?endpoint_id=x", None),
        ("/models/pricing?endpoint_id=x", "Key"),
    ],
)
def test_auth_is_key_scheme(
    sandbox: Sandbox, http: httpx.Client, path: str, header: str | None
) -> None:
    headers = {"Authorization": header.format(key=sandbox.fal_key)} if header else {}
    response = http.get(f"{sandbox.fal_url}{path}", headers=headers)
    error = _assert_error(response, 401, "authorization_error")
    assert sandbox.fal_key not in response.text and "wrong-key" not in error["message"]


def test_pricing_accepts_comma_and_repeated_ids(sandbox: Sandbox, http: httpx.Client) -> None:
    ids = list(sandbox.data.fal_prices)[:3]
    params = [
        ("endpoint_id", f"{ids[0]},{ids[1]}"),
        ("endpoint_id", ids[2]),
        ("endpoint_id", "nope/x"),
    ]
    response = http.get(f"{sandbox.fal_url}/models/pricing", params=params, headers=_auth(sandbox))
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None and body["has_more"] is False
    assert body["prices"] == [sandbox.data.fal_prices[i] for i in ids]
    assert all(p["currency"] == "USD" and p["unit_price"] > 0 for p in body["prices"])


def test_pricing_caps_at_50_ids(sandbox: Sandbox, http: httpx.Client) -> None:
    ids = list(sandbox.data.fal_prices)[:51]
    url = f"{sandbox.fal_url}/models/pricing"
    ok = http.get(url, params={"endpoint_id": ",".join(ids[:50])}, headers=_auth(sandbox))
    assert ok.status_code == 200 and len(ok.json()["prices"]) == 50
    response = http.get(url, params={"endpoint_id": ",".join(ids)}, headers=_auth(sandbox))
    message = _assert_error(response, 400, "validation_error")["message"]
    assert "at most 50" in message and "51" in message


def test_pricing_missing_unknown_and_unpriced(sandbox: Sandbox, http: httpx.Client) -> None:
    url = f"{sandbox.fal_url}/models/pricing"
    _assert_error(http.get(url, headers=_auth(sandbox)), 400, "validation_error")
    unpriced = [
        m["endpoint_id"]
        for m in sandbox.data.fal_models
        if m["endpoint_id"] not in sandbox.data.fal_prices
    ]
    assert unpriced
    response = http.get(
        url, params={"endpoint_id": [unpriced[0], "fal-ai/none"]}, headers=_auth(sandbox)
    )
    _assert_error(response, 404, "not_found")


def test_pricing_follows_live_data_and_reset_restores_it(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    endpoint_id = next(iter(sandbox.data.fal_prices))
    original = sandbox.data.fal_prices[endpoint_id]["unit_price"]
    sandbox.data.fal_prices[endpoint_id]["unit_price"] = 9.99
    url = f"{sandbox.fal_url}/models/pricing"
    served = http.get(url, params={"endpoint_id": endpoint_id}, headers=_auth(sandbox)).json()
    assert served["prices"][0]["unit_price"] == 9.99
    sandbox.reset()
    assert sandbox.data.fal_prices[endpoint_id]["unit_price"] == original


def test_estimate_both_types(sandbox: Sandbox, http: httpx.Client) -> None:
    a, b = list(sandbox.data.fal_prices)[:2]
    pa, pb = (sandbox.data.fal_prices[i]["unit_price"] for i in (a, b))
    url = f"{sandbox.fal_url}/models/pricing/estimate"
    body = {
        "estimate_type": "unit_price",
        "endpoints": {a: {"unit_quantity": 50}, b: {"unit_quantity": 2.5}},
    }
    answer = http.post(url, json=body, headers=_auth(sandbox)).json()
    assert answer == {
        "estimate_type": "unit_price",
        "total_cost": round(pa * 50 + pb * 2.5, 6),
        "currency": "USD",
    }
    body = {"estimate_type": "historical_api_price", "endpoints": {a: {"call_quantity": 100}}}
    answer = http.post(url, json=body, headers=_auth(sandbox)).json()
    assert answer["estimate_type"] == "historical_api_price"
    assert answer["total_cost"] == pytest.approx(pa * 100)


@pytest.mark.parametrize(
    "body",
    [
        {"estimate_type": "guess", "endpoints": {"x": {"unit_quantity": 1}}},
        {"estimate_type": "unit_price", "endpoints": {}},
        {"estimate_type": "unit_price", "endpoints": {"{id}": {"unit_quantity": 0}}},
        {"estimate_type": "historical_api_price", "endpoints": {"{id}": {"call_quantity": 1.5}}},
        {"estimate_type": "historical_api_price", "endpoints": {"{id}": {"call_quantity": True}}},
        {"estimate_type": "historical_api_price", "endpoints": {"{id}": {"unit_quantity": 3}}},
        ["not", "an", "object"],
    ],
)
def test_estimate_validation(sandbox: Sandbox, http: httpx.Client, body: Any) -> None:
    priced = next(iter(sandbox.data.fal_prices))
    payload = json.loads(json.dumps(body).replace("{id}", priced))
    url = f"{sandbox.fal_url}/models/pricing/estimate"
    _assert_error(http.post(url, json=payload, headers=_auth(sandbox)), 400, "validation_error")


def test_estimate_unknown_endpoint_and_auth(sandbox: Sandbox, http: httpx.Client) -> None:
    url = f"{sandbox.fal_url}/models/pricing/estimate"
    body = {"estimate_type": "unit_price", "endpoints": {"fal-ai/none": {"unit_quantity": 1}}}
    _assert_error(http.post(url, json=body, headers=_auth(sandbox)), 404, "not_found")
    _assert_error(http.post(url, json=body), 401, "authorization_error")


def test_unknown_route_uses_the_envelope(sandbox: Sandbox, http: httpx.Client) -> None:
    _assert_error(http.get(f"{sandbox.fal_url}/nothing"), 404, "not_found")
    _assert_error(http.post(f"{sandbox.fal_url}/models"), 405, "validation_error")


def test_rate_limit_fault(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("rate_limit", provider="fal", retry_after=1))
    sandbox.faults.add(Fault("rate_limit", provider="fal", retry_after=2.5))
    first = http.get(f"{sandbox.fal_url}/models")
    _assert_error(first, 429, "rate_limited")
    assert first.headers["Retry-After"] == "1"
    second = http.get(f"{sandbox.fal_url}/models")
    assert second.status_code == 429 and second.headers["Retry-After"] == "2.5"
    assert http.get(f"{sandbox.fal_url}/models").status_code == 200


def test_server_error_fault_counts_after_and_times(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(
        Fault("server_error", provider="fal", path="/v1/models", status=503, after=1, times=2)
    )
    statuses = [
        http.get(f"{sandbox.fal_url}/models", params={"limit": 1}).status_code for _ in range(4)
    ]
    assert statuses == [200, 503, 503, 200]
    error = http.get(f"{sandbox.fal_url}/models")  # a fifth request: the fault is spent
    assert error.status_code == 200
    (described,) = sandbox.faults.describe()
    assert (described["seen"], described["fired"]) == (5, 2)


def test_server_error_envelope(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("server_error", provider="fal"))
    _assert_error(http.get(f"{sandbox.fal_url}/models"), 500, "server_error")


def test_fault_path_prefix_and_exact(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("server_error", path="/v1/models/pricing", times=None))
    sandbox.faults.add(Fault("server_error", path="/v1/models$", status=502, times=None))
    url = f"{sandbox.fal_url}/models/pricing"
    assert http.get(url, params={"endpoint_id": "x"}, headers=_auth(sandbox)).status_code == 500
    assert http.get(f"{url}/estimate", headers=_auth(sandbox)).status_code == 500
    assert http.get(f"{sandbox.fal_url}/models").status_code == 502


def test_fault_for_comet_leaves_fal_alone(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("server_error", provider="comet", times=None))
    assert http.get(f"{sandbox.fal_url}/models").status_code == 200


def test_drop_fault_breaks_the_response(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("drop", provider="fal", path="/v1/models"))
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(f"{sandbox.fal_url}/models")
    assert http.get(f"{sandbox.fal_url}/models").status_code == 200
    assert [r.status for r in sandbox.requests("fal")] == [0, 200]


def test_malformed_fault_is_invalid_json(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("malformed", provider="fal"))
    response = http.get(f"{sandbox.fal_url}/models")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text.startswith('{"models":[')
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_repeat_cursor_fault(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("repeat_cursor", provider="fal", times=None))
    url = f"{sandbox.fal_url}/models"
    first = http.get(url).json()
    assert first["next_cursor"] == "Mg==" and first["has_more"] is True
    for _ in range(3):
        again = http.get(url, params={"cursor": "Mg=="}).json()
        assert again["next_cursor"] == "Mg==" and again["has_more"] is True
        assert [m["endpoint_id"] for m in again["models"]] == [
            m["endpoint_id"] for m in sandbox.data.fal_models[50:100]
        ]
    # it never fires on pricing, so it is not counted there
    http.get(f"{url}/pricing", params={"endpoint_id": "x"}, headers=_auth(sandbox))
    assert sandbox.faults.describe()[0]["seen"] == 4


def test_latency_fault_and_base_latency(sandbox: Sandbox, http: httpx.Client) -> None:
    url = f"{sandbox.fal_url}/models"
    sandbox.faults.add(Fault("latency", provider="fal", latency_ms=200))
    started = time.perf_counter()
    assert http.get(url, params={"limit": 1}).status_code == 200
    assert time.perf_counter() - started >= 0.2
    sandbox.latency_ms = 150
    started = time.perf_counter()
    http.get(url, params={"limit": 1})
    assert time.perf_counter() - started >= 0.15
    started = time.perf_counter()
    http.get(sandbox.fal_url.removesuffix("/v1") + "/_sandbox/health")
    assert time.perf_counter() - started < 0.15  # control routes skip the latency
    sandbox.reset()
    assert sandbox.latency_ms == 0


def test_request_ids_are_unique(sandbox: Sandbox, http: httpx.Client) -> None:
    ids = {
        http.get(f"{sandbox.fal_url}/models", params={"limit": 1}).headers["x-request-id"]
        for _ in range(5)
    }
    assert len(ids) == 5


def test_control_routes(sandbox: Sandbox, http: httpx.Client) -> None:
    root = sandbox.fal_url.removesuffix("/v1") + "/_sandbox"
    health = http.get(f"{root}/health").json()
    assert health["status"] == "ok" and health["fal_models"] == len(sandbox.data.fal_models)
    created = http.post(
        f"{root}/faults", json={"kind": "server_error", "provider": "fal", "status": 502}
    )
    assert created.status_code == 201 and created.json()["fault"]["status"] == 502
    assert http.get(f"{sandbox.fal_url}/models", params={"limit": 2}).status_code == 502
    listed = http.get(f"{root}/faults").json()["faults"]
    assert [(f["kind"], f["seen"], f["fired"]) for f in listed] == [("server_error", 1, 1)]
    bad = http.post(f"{root}/faults", json={"kind": "explode"})
    assert bad.status_code == 400 and "repeat_cursor" in bad.json()["error"]
    assert http.delete(f"{root}/faults").json() == {"cleared": 1}
    assert len(sandbox.faults) == 0
    log = http.get(f"{root}/requests", params={"provider": "fal"}).json()["requests"]
    assert [(r["method"], r["path"], r["query"], r["status"]) for r in log] == [
        ("GET", "/v1/models", "limit=2", 502)
    ]


def _priced_and_unpriced(sandbox: Sandbox) -> tuple[list[str], str]:
    prices = sandbox.data.fal_prices
    unpriced = next(
        m["endpoint_id"] for m in sandbox.data.fal_models if m["endpoint_id"] not in prices
    )
    return list(prices)[:3], unpriced


def test_lenient_pricing_answers_the_priced_ids(sandbox: Sandbox, http: httpx.Client) -> None:
    priced, unpriced = _priced_and_unpriced(sandbox)
    url = f"{sandbox.fal_url}/models/pricing"
    response = http.get(url, params={"endpoint_id": [*priced, unpriced]}, headers=_auth(sandbox))
    assert response.status_code == 200
    assert [p["endpoint_id"] for p in response.json()["prices"]] == priced


def test_strict_pricing_404s_a_batch_naming_an_unpriced_id(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    priced, unpriced = _priced_and_unpriced(sandbox)
    assert sandbox.set_modes(fal_pricing="strict").fal_pricing == "strict"
    url = f"{sandbox.fal_url}/models/pricing"
    mixed = http.get(url, params={"endpoint_id": [*priced, unpriced]}, headers=_auth(sandbox))
    _assert_error(mixed, 404, "not_found")
    unknown = http.get(url, params={"endpoint_id": [priced[0], "nope/x"]}, headers=_auth(sandbox))
    _assert_error(unknown, 404, "not_found")
    clean = http.get(url, params={"endpoint_id": priced}, headers=_auth(sandbox))
    assert [p["endpoint_id"] for p in clean.json()["prices"]] == priced
    sandbox.reset()
    assert sandbox.modes.fal_pricing == "lenient"


def test_pricing_page_size_says_has_more(sandbox: Sandbox, http: httpx.Client) -> None:
    ids = list(sandbox.data.fal_prices)[:5]
    sandbox.set_modes(fal_pricing_page_size=2)
    url = f"{sandbox.fal_url}/models/pricing"
    body = http.get(url, params={"endpoint_id": ids}, headers=_auth(sandbox)).json()
    assert [p["endpoint_id"] for p in body["prices"]] == ids[:2]
    assert body["has_more"] is True and body["next_cursor"] == encode_cursor(2)
    small = http.get(url, params={"endpoint_id": ids[:2]}, headers=_auth(sandbox)).json()
    assert small["has_more"] is False and small["next_cursor"] is None


def test_odd_entries_mode_serves_fields_that_break_their_types(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    clean_models = json.loads(json.dumps(sandbox.data.fal_models))
    clean_prices = json.loads(json.dumps(sandbox.data.fal_prices))
    sandbox.set_modes(fal_odd_entries=True)
    served: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        body = http.get(f"{sandbox.fal_url}/models", params=query).json()
        served += body["models"]
        if (cursor := body["next_cursor"]) is None:
            break
    assert len(served) == len(clean_models) + 1
    changed = [(old, new) for old, new in zip(clean_models, served, strict=False) if old != new]
    assert [new["metadata"]["tags"] for _, new in changed] == [None, "fast"]
    assert all(old["endpoint_id"] in clean_prices for old, _ in changed)
    assert "endpoint_id" not in served[-1]
    assert served[-1]["metadata"]["display_name"] == "No Id Model"

    ids = [m["endpoint_id"] for m in clean_models if m["endpoint_id"] in clean_prices][:5]
    url = f"{sandbox.fal_url}/models/pricing"
    prices = http.get(url, params={"endpoint_id": ids}, headers=_auth(sandbox)).json()["prices"]
    assert prices[:2] == [clean_prices[i] for i in ids[:2]]  # odd in /models, not in pricing
    assert prices[2] == {**clean_prices[ids[2]], "unit_price": "$0.05"}
    assert prices[3] == {**clean_prices[ids[3]], "unit_price": None}
    assert prices[4] == {k: v for k, v in clean_prices[ids[4]].items() if k != "endpoint_id"}
    # the mode never touches the data
    assert (sandbox.data.fal_models, sandbox.data.fal_prices) == (clean_models, clean_prices)


def test_wrong_shape_fault_answers_200_with_the_error_envelope(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    sandbox.faults.add(Fault("wrong_shape", provider="fal", path="/v1/models$"))
    answer = http.get(f"{sandbox.fal_url}/models")
    assert answer.status_code == 200
    assert set(answer.json()) == {"error"}  # valid JSON, no `models`, no `has_more`
    assert answer.json()["error"]["type"] == "server_error"
    assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]
    assert "models" in http.get(f"{sandbox.fal_url}/models").json()  # once, by default


def test_redirect_fault_answers_3xx_with_location_and_no_body(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    sandbox.faults.add(Fault("redirect", provider="fal", path="/v1/models$"))
    sandbox.faults.add(
        Fault("redirect", provider="fal", status=307, location="https://api.example.invalid/v2")
    )
    moved = http.get(f"{sandbox.fal_url}/models", params={"limit": 3})
    assert moved.status_code == 301 and moved.content == b""
    assert moved.headers["location"] == "https://moved.example.invalid/v1/models?limit=3"
    assert moved.headers["x-request-id"].startswith("sbx-fal-")
    temporary = http.get(f"{sandbox.fal_url}/models")
    assert temporary.status_code == 307
    assert temporary.headers["location"] == "https://api.example.invalid/v2"
    assert http.get(f"{sandbox.fal_url}/models").status_code == 200
    assert [r.status for r in sandbox.requests("fal")] == [301, 307, 200]


def test_modes_over_the_control_routes(sandbox: Sandbox, http: httpx.Client) -> None:
    root = sandbox.fal_url.removesuffix("/v1") + "/_sandbox"
    defaults = http.get(f"{root}/modes").json()["modes"]
    assert defaults == {
        "fal_pricing": "lenient",
        "fal_pricing_page_size": None,
        "fal_odd_entries": False,
        "comet_odd_entries": False,
        "comet_page_size": None,
        "fal_queue_polls": 1,
        "openai_chunk_delay_ms": 0.0,
    }
    changed = http.post(f"{root}/modes", json={"fal_pricing": "strict"})
    assert changed.status_code == 200 and changed.json()["modes"]["fal_pricing"] == "strict"
    more = http.post(f"{root}/modes", json={"comet_page_size": 50}).json()["modes"]
    assert (more["fal_pricing"], more["comet_page_size"]) == ("strict", 50)  # merged
    assert sandbox.modes.fal_pricing == "strict"
    assert http.get(f"{root}/health").json()["modes"]["comet_page_size"] == 50
    for bad, needle in [
        ({"fal_pricing": "picky"}, "lenient, strict"),
        ({"fal_pricing_page_size": 0}, ">= 1"),
        ({"comet_odd_entries": "yes"}, "true or false"),
        ({"fal_odd_entries": 1}, "fal_odd_entries must be true or false"),
        ({"fal_queue_polls": -1}, "fal_queue_polls must be an integer from 0 to 1000"),
        ({"colour": "red"}, "unknown mode"),
        (["fal_pricing"], "JSON object"),
    ]:
        refused = http.post(f"{root}/modes", json=bad)
        assert refused.status_code == 400 and needle in refused.json()["error"], bad
    assert sandbox.modes.comet_page_size == 50  # a refused change changes nothing
    assert http.delete(f"{root}/modes").json()["modes"] == defaults


def test_estimate_takes_more_than_fifty_endpoints(sandbox: Sandbox, http: httpx.Client) -> None:
    """The spec caps the estimate body's `endpoints` nowhere (no maxProperties)."""
    ids = list(sandbox.data.fal_prices)[:120]
    body = {"estimate_type": "unit_price", "endpoints": {i: {"unit_quantity": 2} for i in ids}}
    url = f"{sandbox.fal_url}/models/pricing/estimate"
    answer = http.post(url, json=body, headers=_auth(sandbox))
    assert answer.status_code == 200, answer.text
    expected = sum(sandbox.data.fal_prices[i]["unit_price"] * 2 for i in ids)
    assert answer.json()["total_cost"] == pytest.approx(expected, abs=1e-6)
