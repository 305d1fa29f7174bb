"""The Comet emulator: Bearer `/v1/models`, public `/api/models`, faults and control routes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from mpc_lib.sandbox import Fault, Sandbox, SandboxData


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def _bearer(sandbox: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.comet_key}"}


def test_v1_models_lists_everything_with_bearer(sandbox: Sandbox, http: httpx.Client) -> None:
    response = http.get(f"{sandbox.comet_url}/v1/models", headers=_bearer(sandbox))
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("sbx-comet-")
    body = response.json()
    assert body["object"] == "list" and body["success"] is True
    assert body["data"] == sandbox.data.comet_models
    item = body["data"][0]
    assert set(item) == {"id", "object", "created", "owned_by", "supported_endpoint_types"}
    assert item["object"] == "model" and isinstance(item["created"], int)


@pytest.mark.parametrize("header", [None, "Key {key}", "Bearer wrong", "Bearer", "{key}"])
def test_v1_models_refuses_other_schemes(
    sandbox: Sandbox, http: httpx.Client, header: str | None
) -> None:
    headers = {"Authorization": header.format(key=sandbox.comet_key)} if header else {}
    response = http.get(f"{sandbox.comet_url}/v1/models", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")
    assert error["message"] and sandbox.comet_key not in response.text


def test_api_models_is_public_and_whole(sandbox: Sandbox, http: httpx.Client) -> None:
    body = http.get(f"{sandbox.comet_url}/api/models").json()
    catalog = sandbox.data.comet_catalog
    assert (body["success"], body["page"], body["page_size"]) == (True, 0, 0)
    assert body["total"] == len(catalog) and body["data"] == catalog
    entry = body["data"][0]
    assert {"id", "code", "name", "provider", "model_type", "features", "pricing"} <= set(entry)
    assert entry["pricing"]["currency"] == "USD / M Tokens"


def test_api_models_pagination(sandbox: Sandbox, http: httpx.Client) -> None:
    catalog = sandbox.data.comet_catalog
    url = f"{sandbox.comet_url}/api/models"
    page = http.get(url, params={"page": 2, "page_size": 10}).json()
    assert (page["page"], page["page_size"], page["total"]) == (2, 10, len(catalog))
    assert page["data"] == catalog[10:20]
    clamped = http.get(url, params={"page": 1, "page_size": 500}).json()
    assert clamped["page_size"] == 100 and len(clamped["data"]) == 100
    seen: list[str] = []
    number = 1
    while True:
        chunk = http.get(url, params={"page": number, "page_size": 100}).json()["data"]
        if not chunk:
            break
        seen += [e["id"] for e in chunk]
        number += 1
    assert seen == [e["id"] for e in catalog]


@pytest.mark.parametrize("params", [{"page": "-1"}, {"page_size": "ten"}])
def test_api_models_bad_paging(
    sandbox: Sandbox, http: httpx.Client, params: dict[str, str]
) -> None:
    response = http.get(f"{sandbox.comet_url}/api/models", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and next(iter(params)) in body["message"]


def test_api_model_detail(sandbox: Sandbox, http: httpx.Client) -> None:
    entry = sandbox.data.comet_catalog[3]
    body = http.get(f"{sandbox.comet_url}/api/model/{entry['code']}").json()
    assert body == {"success": True, "data": entry}
    missing = http.get(f"{sandbox.comet_url}/api/model/no-such-model")
    assert missing.status_code == 404 and missing.json()["success"] is False


def test_some_listed_models_have_no_catalog_price(sandbox: Sandbox) -> None:
    listed = {m["id"] for m in sandbox.data.comet_models}
    priced = {e["id"] for e in sandbox.data.comet_catalog}
    assert 0.01 <= len(listed - priced) / len(listed) <= 0.06
    assert 1 <= len(priced - listed) <= 10


def test_rate_limit_on_v1_uses_openai_envelope(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("rate_limit", provider="comet", path="/v1/models", retry_after=3))
    response = http.get(f"{sandbox.comet_url}/v1/models", headers=_bearer(sandbox))
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert http.get(f"{sandbox.comet_url}/v1/models", headers=_bearer(sandbox)).status_code == 200


def test_server_error_on_api_uses_success_false(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("server_error", provider="comet", path="/api/models", status=502))
    response = http.get(f"{sandbox.comet_url}/api/models")
    assert response.status_code == 502
    body = response.json()
    assert body["success"] is False and body["message"]
    assert response.headers["x-request-id"] in body["message"]


def test_rate_limit_without_retry_after(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("rate_limit", provider="comet", retry_after=None))
    response = http.get(f"{sandbox.comet_url}/api/models")
    assert response.status_code == 429 and "retry-after" not in response.headers
    assert response.json()["success"] is False


def test_drop_and_malformed_on_comet(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("drop", provider="comet", path="/api/models"))
    sandbox.faults.add(Fault("malformed", provider="comet", path="/api/models"))
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(f"{sandbox.comet_url}/api/models")
    malformed = http.get(f"{sandbox.comet_url}/api/models")
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.content)
    assert http.get(f"{sandbox.comet_url}/api/models").json()["success"] is True
    assert [r.status for r in sandbox.requests("comet")] == [0, 200, 200]
    assert sandbox.requests("fal") == []


def test_fal_faults_leave_comet_alone(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("server_error", provider="fal", times=None))
    sandbox.faults.add(Fault("repeat_cursor", times=None))
    assert http.get(f"{sandbox.comet_url}/api/models").status_code == 200
    assert [f["seen"] for f in sandbox.faults.describe()] == [0, 0]


def test_control_routes_share_state_with_fal(sandbox: Sandbox, http: httpx.Client) -> None:
    root = f"{sandbox.comet_url}/_sandbox"
    assert http.get(f"{root}/health").json()["comet_models"] == len(sandbox.data.comet_models)
    posted = http.post(f"{root}/faults", json={"kind": "server_error", "provider": "comet"})
    assert posted.status_code == 201
    fal_root = sandbox.fal_url.removesuffix("/v1")
    assert http.get(f"{fal_root}/_sandbox/faults").json()["faults"][0]["provider"] == "comet"
    assert http.get(f"{sandbox.comet_url}/api/models").status_code == 500
    assert http.post(f"{root}/faults", content=b"{nope").status_code == 400
    assert http.post(f"{root}/faults", json={"kind": "drop", "colour": "red"}).status_code == 400
    log = http.get(f"{root}/requests").json()["requests"]
    assert [(r["provider"], r["path"], r["status"]) for r in log] == [("comet", "/api/models", 500)]


def test_unknown_routes(sandbox: Sandbox, http: httpx.Client) -> None:
    v1 = http.get(f"{sandbox.comet_url}/v1/chat")
    assert v1.status_code == 404 and v1.json()["error"]["code"] == "not_found"
    api = http.get(f"{sandbox.comet_url}/api/nothing")
    assert api.status_code == 404 and api.json()["success"] is False


def test_accept_any_key_and_lifecycle() -> None:
    small = SandboxData(
        comet_models=[
            {
                "id": "m1",
                "object": "model",
                "created": 1,
                "owned_by": "x",
                "supported_endpoint_types": [],
            }
        ]
    )
    sb = Sandbox(data=small, accept_any_key=True, comet_key="given-key").start()
    try:
        assert sb.comet_key == "given-key" and sb.fal_key.startswith("sbx-fal-")
        with httpx.Client(timeout=5.0) as http:
            ok = http.get(f"{sb.comet_url}/v1/models", headers={"Authorization": "Bearer anything"})
            assert [m["id"] for m in ok.json()["data"]] == ["m1"]
            fal = http.get(
                f"{sb.fal_url}/models/pricing?endpoint_id=a", headers={"Authorization": "Key x"}
            )
            assert fal.status_code == 404  # the key was accepted; there is just no price
            bearer = http.get(
                f"{sb.comet_url}/v1/models", headers={"Authorization": "Key anything"}
            )
            assert bearer.status_code == 401
    finally:
        sb.stop()
    assert not sb.running
    with pytest.raises(httpx.TransportError), httpx.Client(timeout=1.0) as http:
        http.get(f"{sb.comet_url}/v1/models")


def test_odd_entries_mode_serves_what_real_catalogs_show(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    clean = json.loads(json.dumps(sandbox.data.comet_catalog))
    sandbox.set_modes(comet_odd_entries=True)
    catalog = http.get(f"{sandbox.comet_url}/api/models").json()
    entries = catalog["data"]
    assert catalog["total"] == len(entries) == len(clean) + 1
    changed = [(old, new) for old, new in zip(clean, entries, strict=False) if old != new]
    diffs = [
        {key: new.get(key) for key in old | new if old.get(key) != new.get(key)}
        for old, new in changed
    ]
    assert [set(diff) for diff in diffs] == [
        {"features"},
        {"context_length"},
        {"pricing"},
        {"pricing"},
        {"pricing"},
    ]
    assert (diffs[0]["features"], diffs[1]["context_length"]) == (None, "128k")
    assert diffs[2]["pricing"] == {**changed[2][0]["pricing"], "input": "free"}
    assert diffs[3]["pricing"] == {**changed[3][0]["pricing"], "input": None}
    assert diffs[3]["pricing"]["output"] > 0  # only an output price
    assert diffs[4]["pricing"] is None
    listed = {m["id"] for m in sandbox.data.comet_models}
    assert all(new["id"] in listed and new["model_type"] == "text" for _, new in changed)
    assert "id" not in entries[-1] and entries[-1]["code"] == "no-id-model"
    models = http.get(f"{sandbox.comet_url}/v1/models", headers=_bearer(sandbox)).json()["data"]
    assert models[:-1] == sandbox.data.comet_models and "id" not in models[-1]
    assert sandbox.data.comet_catalog == clean  # the mode never touches the data


def test_wrong_shape_fault_answers_200_with_comets_error_bodies(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    sandbox.faults.add(Fault("wrong_shape", provider="comet", times=2))
    catalog = http.get(f"{sandbox.comet_url}/api/models")
    assert catalog.status_code == 200 and catalog.json()["success"] is False
    assert "data" not in catalog.json()
    listing = http.get(f"{sandbox.comet_url}/v1/models", headers=_bearer(sandbox))
    assert listing.status_code == 200 and set(listing.json()) == {"error"}


def test_page_size_mode_pages_the_unparameterised_catalog(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    catalog = sandbox.data.comet_catalog
    sandbox.set_modes(comet_page_size=40)
    first = http.get(f"{sandbox.comet_url}/api/models").json()
    assert (first["page"], first["page_size"], first["total"]) == (1, 40, len(catalog))
    assert first["data"] == catalog[:40]
    second = http.get(f"{sandbox.comet_url}/api/models", params={"page": 2, "page_size": 40})
    assert second.json()["data"] == catalog[40:80]


def test_unknown_or_bad_modes_are_refused_from_python(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        sandbox.set_modes(comet_odd=True)
    with pytest.raises(ValueError, match="comet_page_size"):
        sandbox.set_modes(comet_page_size=-1)
    assert sandbox.modes.comet_page_size is None
