"""FAL model calls through MPC-API -> the session's real LiteLLM (its /fal-run and /fal-queue
pass-through routes, which add the FAL key) -> the sandbox's FAL model-call emulator.

The session's sandbox also serves the gateway notebook's background run (an image from
fal-ai/flux/dev, a Kling video job), so these tests never reset it: they read only the calls
they made (models the notebook does not call, or inputs only they send)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from mpc_lib.api.deps import COST_HEADER
from mpc_lib.pricing.prices import price_of
from mpc_lib.pricing.usage import read_usage
from mpc_lib.registry import RegistryStore
from mpc_lib.sandbox import Fault, Sandbox

IMAGE_MODEL = "fal-ai/flux/dev"  # the example (the notebook calls it too)
OWN_IMAGE = "fal-ai/flux/schnell"  # models no background run calls
VIDEO_MODEL = "fal-ai/veo3/image-to-video"
DEEP = b"[" * 5000 + b"]" * 5000  # past the JSON parser's depth


@pytest.fixture
def http(mpc_api: Any) -> httpx.Client:
    with httpx.Client(base_url=mpc_api.url, headers=mpc_api.headers(), timeout=30) as client:
        yield client


def _record(mpc_api: Any, model_id: str) -> dict[str, Any]:
    registry = RegistryStore(mpc_api.settings.outputs_dir).load()
    assert registry is not None
    fal = [m for m in registry["models"] if m["provider"] == "fal"]
    return next(m for m in fal if m["model_id"] == model_id)


def _mark(sandbox: Sandbox) -> int:
    """Where the FAL log stands now: `_fal_calls` reads what came after."""
    return len(sandbox.requests("fal"))


def _fal_calls(sandbox: Sandbox, since: int) -> list[tuple[str, str, int]]:
    """The model calls FAL's hosts received since `since`, but the background notebook's."""
    return [(r.method, r.path, r.status) for r in sandbox.requests("fal")[since:]
            if r.path.startswith(("/run/", "/queue/"))
            and "fal-ai/kling-video/" not in r.path
            and not r.path.startswith(f"/run/{IMAGE_MODEL}")]  # fmt: skip


def _inputs(sandbox: Sandbox, image_size: dict[str, int]) -> list[dict[str, Any]]:
    """What the run host received with this `image_size` (no other caller sends it)."""
    return [i for i in sandbox.fal_inputs() if i.get("image_size") == image_size]


def _usage(mpc_api: Any, request_id: str) -> list[Any]:
    lines, problems = read_usage(mpc_api.settings.outputs_dir)
    assert problems == []
    return [line for line in lines if line.request_id == request_id]


def test_an_image_reaches_its_own_endpoint_with_the_gateways_key_and_is_charged(
    sandbox: Sandbox, mpc_api: Any, http: httpx.Client
) -> None:
    since = _mark(sandbox)
    answer = http.post("/v1/images/generations", json={
        "model": IMAGE_MODEL, "prompt": "a lighthouse at dusk", "n": 2, "size": "1536x1024",
        "response_format": "url", "seed": 7,
    })  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["data"]) == 2 and all(item["url"].startswith("http") for item in body["data"])
    assert body["seed"] == 7 and isinstance(body["created"], int)
    # exactly one call, at the endpoint's own path (the emulator answers only exact ids, and
    # refuses a wrong key with 401), with FAL's names for OpenAI's size and n
    (received,) = _inputs(sandbox, {"width": 1536, "height": 1024})
    assert (received["route"], received["endpoint_id"], received["status"]) == (
        "run", IMAGE_MODEL, 200)
    assert received["num_images"] == 2
    calls = [(r.path, r.status) for r in sandbox.requests("fal")[since:]]
    assert (f"/run/{IMAGE_MODEL}", 200) in calls and not [c for c in calls if c[1] != 200]
    assert "size" not in received["fields"] and "n" not in received["fields"]
    # the cost: the registry price times the units FAL bills (per image or per megapixel)
    price = price_of(_record(mpc_api, IMAGE_MODEL), None)
    assert price.unit_price is not None
    units = {"image": 2, "megapixel": 2 * 2}[str(price.unit)]  # 1536x1024 is 1.5 -> 2 MP each
    assert float(answer.headers[COST_HEADER]) == pytest.approx(price.unit_price * units)
    (line,) = _usage(mpc_api, answer.headers["x-request-id"])
    assert (line.model, line.route, line.units, line.served) == (
        f"fal:{IMAGE_MODEL}", "images", units, "sandbox"
    )
    assert line.cost_usd == pytest.approx(price.unit_price * units)
    # the image itself: the URL answers a PNG
    image = httpx.get(body["data"][0]["url"], timeout=10)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_size_becomes_image_size_and_an_alias_resolves(
    sandbox: Sandbox, mpc_api: Any, http: httpx.Client
) -> None:
    answer = http.post("/v1/images/generations", json={
        "model": "image_brand_assets", "prompt": "a logo", "size": "512x512",
    })  # fmt: skip
    assert answer.status_code == 200, answer.text
    (received,) = _inputs(sandbox, {"width": 512, "height": 512})
    assert (received["route"], received["endpoint_id"]) == ("run", IMAGE_MODEL)
    price = price_of(_record(mpc_api, IMAGE_MODEL), None)
    assert price.unit_price is not None
    units = {"image": 1, "megapixel": 1}[str(price.unit)]
    assert float(answer.headers[COST_HEADER]) == pytest.approx(price.unit_price * units)


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"model": OWN_IMAGE}, 400, "prompt"),
        ({"model": OWN_IMAGE, "prompt": "x", "extra_headers": {"a": "b"}}, 400, "extra_headers"),
        ({"model": OWN_IMAGE, "prompt": "x", "n": 9}, 400, "n"),
        ({"model": OWN_IMAGE, "prompt": "x", "size": "big"}, 400, "size"),
        ({"model": OWN_IMAGE, "prompt": "x", "response_format": "b64_json"}, 400,
         "response_format"),
        ({"model": "fal-ai/no-such-model", "prompt": "x"}, 404, "Unknown model"),
        ({"model": VIDEO_MODEL, "prompt": "x"}, 400, "text-to-image"),
        ({"model": "gpt-4o", "prompt": "x"}, 404, "Unknown model"),
    ],
)
def test_an_images_body_gets_only_what_it_documents(
    sandbox: Sandbox, http: httpx.Client, body: dict[str, Any], status: int, fragment: str
) -> None:
    since = _mark(sandbox)
    answer = http.post("/v1/images/generations", json=body)
    assert answer.status_code == status
    assert fragment in answer.json()["error"]["message"]
    assert answer.headers["x-request-id"] and _fal_calls(sandbox, since) == []  # none reached FAL


def test_a_queued_job_through_submit_status_result_and_a_cancel(
    sandbox: Sandbox, mpc_api: Any, http: httpx.Client
) -> None:
    since = _mark(sandbox)
    given = {"prompt": "waves on a rock", "image_url": "https://example.com/in.png",
             "duration": "5"}  # fmt: skip
    submitted = http.post(f"/v1/fal/{VIDEO_MODEL}", json=given)
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    rid = job["request_id"]
    assert job["status_url"] == f"{mpc_api.url}/v1/fal/requests/{rid}"
    assert job["response_url"] == f"{job['status_url']}/result"
    seen = []
    for _ in range(10):  # the emulator's job moves on with each poll
        status = http.get(job["status_url"])
        assert status.status_code == 200, status.text
        seen.append(status.json()["status"])
        if seen[-1] == "COMPLETED":
            break
    assert seen[-1] == "COMPLETED" and set(seen) <= {"IN_QUEUE", "IN_PROGRESS", "COMPLETED"}
    result = http.get(job["response_url"])
    assert result.status_code == 200, result.text
    assert result.json()["video"]["url"]
    price = price_of(_record(mpc_api, VIDEO_MODEL), None)
    assert price.unit == "second" and price.unit_price is not None
    assert float(result.headers[COST_HEADER]) == pytest.approx(price.unit_price * 5)
    again = http.get(job["response_url"])  # fetched twice, charged once
    assert again.headers[COST_HEADER] == result.headers[COST_HEADER]
    lines, _ = read_usage(mpc_api.settings.outputs_dir)
    charged = [line for line in lines if line.model == f"fal:{VIDEO_MODEL}"
               and line.request_id == result.headers["x-request-id"]]  # fmt: skip
    assert [line.route for line in charged] == ["queue"]
    assert len(charged) == 1 and charged[0].units == 5
    # the queue was reached at the endpoint's own path, the status and result at the app's
    paths = [path for _, path, _ in _fal_calls(sandbox, since)]
    app = "/".join(VIDEO_MODEL.split("/")[:2])
    assert paths[0] == f"/queue/{VIDEO_MODEL}"
    assert set(paths[1:]) <= {f"/queue/{app}/requests/{rid}/status", f"/queue/{app}/requests/{rid}"}
    # a second job, cancelled before it completes
    other = http.post(f"/v1/fal/{VIDEO_MODEL}", json=given).json()
    early = http.get(other["response_url"])  # not completed yet: nothing to fetch, no charge
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_completed"
    assert COST_HEADER not in early.headers
    cancelled = http.post(other["cancel_url"])
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["status"] == "CANCELLATION_REQUESTED"
    cancel = f"/queue/{app}/requests/{other['request_id']}/cancel"
    assert ("PUT", cancel, 202) in _fal_calls(sandbox, since)
    finished = http.post(job["cancel_url"])  # the first one is completed: nothing to cancel
    assert finished.status_code == 409


@pytest.mark.parametrize(
    "path",
    [
        "/v1/fal/fal-ai/no-such-model",
        "/v1/fal/fal-ai/flux/dev/../../x",
        "/v1/fal/fal-ai/%2e%2e/flux/dev",
        "/v1/fal/fal-ai",
        "/v1/fal/requests/00000000-0000-0000-0000-000000000000",
        "/v1/fal/requests/..%2f..%2fx/cancel",
    ],
)
def test_an_unknown_endpoint_or_request_is_a_404_and_no_path_trick_gets_through(
    sandbox: Sandbox, http: httpx.Client, path: str
) -> None:
    since = _mark(sandbox)
    method = "GET" if "/requests/" in path and not path.endswith("/cancel") else "POST"
    answer = http.request(method, path, json={"prompt": "x"})
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]
    assert _fal_calls(sandbox, since) == []


def test_a_caller_without_the_key_gets_401_and_fal_is_never_called(
    sandbox: Sandbox, mpc_api: Any
) -> None:
    since = _mark(sandbox)
    for method, path in (("POST", "/v1/images/generations"), ("POST", f"/v1/fal/{VIDEO_MODEL}"),
                         ("GET", "/v1/fal/requests/x")):  # fmt: skip
        answer = httpx.request(method, mpc_api.url + path, json={"model": OWN_IMAGE,
                               "prompt": "x"}, timeout=10)  # fmt: skip
        assert answer.status_code == 401
    assert _fal_calls(sandbox, since) == []


def test_fal_errors_come_back_in_the_envelope(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("rate_limit", provider="fal", path=f"/run/{OWN_IMAGE}"))
    limited = http.post("/v1/images/generations", json={"model": OWN_IMAGE, "prompt": "x"})
    assert limited.status_code == 429, limited.text
    assert limited.headers.get("retry-after")
    assert COST_HEADER not in limited.headers
    refused = http.post(f"/v1/fal/{VIDEO_MODEL}", json={"duration": "5"})  # no prompt
    assert refused.status_code == 400
    assert "prompt" in refused.json()["error"]["message"]


def test_the_fal_key_stays_in_the_gateway(
    sandbox: Sandbox, mpc_api: Any, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    key = sandbox.key("fal")
    assert mpc_api.settings.key_for("fal") is None  # MPC-API is given no FAL key at all
    answer = http.post("/v1/images/generations", json={"model": OWN_IMAGE, "prompt": "x"})
    assert answer.status_code == 200
    assert key not in answer.text and key not in json.dumps(dict(answer.headers))
    assert key not in caplog.text
    for path in Path(mpc_api.settings.outputs_dir).rglob("*"):
        if path.is_file() and "gateway" not in path.parts:  # the gateway's own config is its own
            assert key.encode() not in path.read_bytes(), path


def test_mpc_api_keeps_no_provider_key_whatever_its_environment_holds(gateway: Any) -> None:
    from mpc_lib.api import create_app
    from mpc_lib.stack.core import core_services

    app = create_app(gateway.settings.with_(fal_key="fal-canary-0123456789"))
    kept = app.state.mpc.settings
    assert kept.key_for("fal") is None and kept.key_for("comet") is None
    assert "fal-canary-0123456789" not in repr(kept)
    # the local stack starts MPC-API with every provider key blanked (over the .env's too)
    (api,) = [spec for spec in core_services(gateway.settings) if spec.name == "mpc-api"]
    assert api.env["FAL_KEY"] == "" and api.env["FAL_API_KEY"] == ""
    assert api.env["COMETAPI_KEY"] == ""


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/v1/images/generations", b'{"model": "fal-ai/flux/schnell", "prompt": ' + DEEP + b"}"),
        (f"/v1/fal/{VIDEO_MODEL}", b'{"prompt": ' + DEEP + b"}"),
        (f"/v1/fal/{VIDEO_MODEL}", b'{"prompt": "waves", "duration": NaN}'),
        (f"/v1/fal/{VIDEO_MODEL}", b'{"prompt": "\\ud800"}'),
        ("/v1/images/generations", b'{"model": "fal-ai/flux/schnell", "prompt": "\\ud800"}'),
        (f"/v1/fal/{VIDEO_MODEL}", b'["not", "an", "object"]'),
    ],
)
def test_a_hostile_body_is_a_400_in_the_envelope_and_never_reaches_fal(
    sandbox: Sandbox, http: httpx.Client, path: str, raw: bytes
) -> None:
    since = _mark(sandbox)
    answer = http.post(path, content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]
    assert _fal_calls(sandbox, since) == []
