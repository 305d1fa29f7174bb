"""MPC-API on a real uvicorn, in front of a real LiteLLM, in front of the sandbox upstream."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from plug import Plug

from mpc_lib.aliases import AliasCatalog, load_aliases
from mpc_lib.api import create_app
from mpc_lib.errors import AliasError, ConfigError
from mpc_lib.sandbox import Fault, Sandbox
from mpc_lib.sandbox.server import SandboxServer

HELLO = [{"role": "user", "content": "hello from the api tests"}]


@pytest.fixture
def http(mpc_api: Any) -> httpx.Client:
    with httpx.Client(base_url=mpc_api.url, headers=mpc_api.headers(), timeout=30) as client:
        yield client


def _chat(
    http: httpx.Client, model: str, path: str = "/v1/chat/completions", **extra: Any
) -> httpx.Response:
    return http.post(path, json={"model": model, "messages": HELLO, **extra})


def _sse(lines: list[str]) -> list[Any]:
    return [
        json.loads(line[6:]) if line != "data: [DONE]" else "[DONE]"
        for line in lines
        if line.startswith("data: ")
    ]


# --- auth, request ids, limits ------------------------------------------------------------


def test_liveliness_needs_no_key_and_everything_else_does(mpc_api: Any) -> None:
    alive = httpx.get(f"{mpc_api.url}/health/liveliness")
    assert alive.status_code == 200 and alive.json()["status"] == "alive"
    for path in ("/health", "/v1/models", "/openapi.json"):
        refused = httpx.get(f"{mpc_api.url}{path}")
        assert refused.status_code == 401, path
        error = refused.json()["error"]
        assert error["type"] == "authentication_error"
        assert error["request_id"] == refused.headers["x-request-id"]
        assert refused.headers["www-authenticate"] == "Bearer"
    wrong = httpx.get(f"{mpc_api.url}/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    sent = httpx.post(
        f"{mpc_api.url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": HELLO},
        headers={"Authorization": "Basic " + mpc_api.key},
    )
    assert sent.status_code == 401


def test_a_request_id_is_kept_or_made_and_reaches_the_gateway(http: httpx.Client) -> None:
    mine = http.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": HELLO},
        headers={"x-request-id": "caller-id-123"},
    )
    assert mine.status_code == 200
    assert mine.headers["x-request-id"] == "caller-id-123"
    assert not [name for name in mine.headers if name.startswith("x-litellm-")]  # never relayed
    made = http.get("/v1/models", headers={"x-request-id": "bad id with spaces"})
    assert made.headers["x-request-id"].startswith("mpc-")


def test_an_oversized_body_is_a_413(mpc_api: Any, http: httpx.Client) -> None:
    limit = mpc_api.settings.api_max_body_bytes
    big = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * (limit + 10)}]}
    declared = http.post("/v1/chat/completions", json=big)
    assert declared.status_code == 413
    assert declared.json()["error"]["type"] == "request_too_large"

    def chunks() -> Any:  # no content-length: the limit is counted as the body arrives
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 65536):
            yield payload[start : start + 65536]

    streamed = http.post(
        "/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


# --- chat ---------------------------------------------------------------------------------


def test_a_plain_chat_through_mpc_api_and_litellm(sandbox: Sandbox, http: httpx.Client) -> None:
    answer = _chat(http, "text_general_flagship")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (
        body["choices"][0]["message"]["content"]
        == "Sandbox reply from gpt-4o: hello from the api tests"
    )
    assert body["usage"]["completion_tokens"] > 0
    assert float(answer.headers["x-mpc-cost-usd"]) > 0  # priced from the registry
    assert [r.path for r in sandbox.requests("openai")] == ["/v1/chat/completions"]


def test_every_route_answers_under_mpc_as_the_hub_spec_names_it(
    mpc_api: Any, http: httpx.Client
) -> None:
    alive = httpx.get(f"{mpc_api.url}/mpc/health/liveliness")  # no key, as at the bare path
    assert alive.status_code == 200 and alive.json()["status"] == "alive"
    assert httpx.get(f"{mpc_api.url}/mpc/v1/models").status_code == 401  # the guard still holds
    listed = http.get("/mpc/v1/models", params={"q": "gpt-4o-mini"})
    assert listed.status_code == 200 and "gpt-4o-mini" in [m["id"] for m in listed.json()["data"]]
    chat = _chat(http, "gpt-4o-mini", path="/mpc/v1/chat/completions")
    assert chat.status_code == 200, chat.text
    assert chat.json()["choices"][0]["message"]["content"].startswith("Sandbox reply from")
    spec = http.get("/mpc/openapi.json").json()
    assert spec["servers"] == [{"url": "/mpc"}] and "/v1/models" in spec["paths"]
    for near_miss in ("/mpcv1/models", "/mpc-api/v1/models"):  # only the whole segment counts
        assert http.get(near_miss).status_code == 404, near_miss


@pytest.mark.parametrize(
    ("model", "path", "served"),
    [
        ("openai-gpt-4o-main", "/api/chat/completions", "gpt-4o"),  # a legacy name, old path
        ("gpt-4o-mini", "/v1/chat/completions", "gpt-4o-mini"),  # a gateway model name
        ("comet:deepseek-chat", "/v1/chat/completions", "deepseek-chat"),  # a registry key
    ],
)
def test_every_kind_of_model_name_resolves(
    http: httpx.Client, model: str, path: str, served: str
) -> None:
    answer = _chat(http, model, path)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == served


def test_a_streamed_chat_keeps_chunk_order_and_reports_usage(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    sandbox.set_modes(openai_chunk_delay_ms=40)
    arrivals: list[float] = []
    lines: list[str] = []
    body = {
        "model": "text_general_draft",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.monotonic()
    with http.stream("POST", "/v1/chat/completions", json=body) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic() - started)
                lines.append(line)
    events = _sse(lines)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    text = "".join(
        (c.get("delta") or {}).get("content") or "" for e in chunks for c in e["choices"]
    )
    assert text == "Sandbox reply from gpt-4o-mini: hello from the api tests"
    assert chunks[-1]["usage"]["total_tokens"] > 0
    # relayed as they came, not buffered: the first chunk arrived long before the last
    assert arrivals[-1] - arrivals[0] >= 0.2


def test_model_errors_are_400s_in_the_envelope(http: httpx.Client) -> None:
    unknown = _chat(http, "text_general_flagshipp")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == "Unknown model alias: text_general_flagshipp"
    assert unknown.json()["error"]["code"] == "unknown_model"
    video = _chat(http, "video_overlay_flagship")
    assert video.status_code == 400 and video.json()["error"]["code"] == "not_a_chat_model"
    missing = http.post("/v1/chat/completions", json={"messages": HELLO})
    assert missing.json()["error"]["message"] == "Missing model alias"
    broken = http.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"


def test_upstream_failures_pass_through_as_errors(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.add(Fault("rate_limit", provider="openai", model="gpt-4o"))
    limited = _chat(http, "gpt-4o")
    assert limited.status_code == 429
    assert "Rate limit exceeded" in limited.json()["error"]["message"]
    sandbox.faults.add(Fault("cut_stream", provider="openai", model="gpt-4o"))
    with http.stream(
        "POST", "/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO, "stream": True}
    ) as answer:
        events = _sse([line for line in answer.iter_lines()])
    assert "[DONE]" not in events
    assert "error" in events[-1]  # the caller is told, rather than left with a clean-looking end


def test_a_caller_who_hangs_up_closes_the_call_upstream(
    sandbox: Sandbox, mpc_api: Any, gateway: Any
) -> None:
    """MPC-API aimed straight at the OpenAI-compatible upstream: it sees our hang-up."""
    settings = mpc_api.settings.with_(
        gateway_url=sandbox.url("openai"), gateway_key=sandbox.key("openai")
    )
    sandbox.set_modes(openai_chunk_delay_ms=100)
    streams = f"{sandbox.url('openai')}/_sandbox/streams"
    before = len(httpx.get(streams).json()["streams"])
    with SandboxServer(create_app(settings), name="mpc-api-direct") as server:
        body = {"model": "gpt-4o", "messages": HELLO, "stream": True}
        with httpx.stream(
            "POST",
            f"{server.url}/v1/chat/completions",
            json=body,
            headers=mpc_api.headers(),
            timeout=30,
        ) as answer:
            lines = answer.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            assert "chat.completion.chunk" in first
        outcome: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while not outcome and time.monotonic() < deadline:
            outcome = httpx.get(streams).json()["streams"][before:]
            time.sleep(0.05)
    assert outcome and outcome[-1]["outcome"] == "cancelled"
    assert outcome[-1]["chunks"] < 8  # the stream stopped early, not at its end


def test_the_gateway_down_then_back_up_without_restarting_mpc_api(
    gateway: Any, mpc_api: Any
) -> None:
    """MPC-API reaches the session's LiteLLM through a plug: pulled out, the gateway is gone
    for MPC-API (connections cut, nothing listening), as when LiteLLM dies; put back, MPC-API
    must reach it again on its own (LiteLLM itself is never restarted: ~9 s of start-up)."""
    plug = Plug(int(gateway.url.rsplit(":", 1)[1]))
    plug.plug_in()
    settings = mpc_api.settings.with_(gateway_url=plug.url)
    headers = mpc_api.headers()
    try:
        with (
            SandboxServer(create_app(settings), name="mpc-api-plugged") as server,
            httpx.Client(base_url=server.url, headers=headers, timeout=30) as http,
        ):
            assert _chat(http, "gpt-4o").status_code == 200  # up, with a kept connection
            plug.pull_out()
            down = _chat(http, "gpt-4o")
            assert down.status_code == 503
            assert "is not reachable" in down.json()["error"]["message"]
            assert "mpc gateway serve" in down.json()["error"]["message"]
            health = http.get("/health")
            assert health.status_code == 503
            assert health.json()["gateway"]["status"] == "down"
            assert health.json()["error"]["type"] == "gateway_unavailable"
            plug.plug_in()
            back = _chat(http, "gpt-4o")
            assert back.status_code == 200, back.text
            assert http.get("/health").json()["status"] == "ok"
    finally:
        plug.pull_out()


# --- registry models, select-model, orchestrate --------------------------------------------


def test_models_filtered_and_paged(gateway: Any, http: httpx.Client) -> None:
    page = http.get(
        "/v1/models", params={"provider": "fal", "category": "text-to-image", "limit": 5}
    )
    body = page.json()
    assert page.status_code == 200 and len(body["data"]) == 5 and body["has_more"] is True
    assert all(m["provider"] == "fal" and m["category"] == "text-to-image" for m in body["data"])
    rest = http.get(
        "/v1/models",
        params={"provider": "fal", "category": "text-to-image", "offset": 5, "limit": 500},
    ).json()
    assert rest["total"] == body["total"] == 5 + len(rest["data"]) and rest["has_more"] is False
    found = http.get("/v1/models", params={"q": "gpt-4o-mini"}).json()["data"]
    assert "gpt-4o-mini" in [m["id"] for m in found]
    one = http.get("/v1/models/fal-ai/veo3/image-to-video").json()
    assert one["key"] == "fal:fal-ai/veo3/image-to-video"
    assert one["gateway_model"] == "fal-ai/veo3/image-to-video"  # an alias names it
    assert http.get("/v1/models/comet:gpt-4o").json()["gateway_model"] == "gpt-4o"
    missing = http.get("/v1/models/nobody/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    assert http.get("/v1/models", params={"provider": "openrouter"}).status_code == 400


def test_select_model_ranks_flagships_first(http: httpx.Client) -> None:
    everything = http.post("/api/select-model", json={}).json()
    assert everything["selected_model"]["quality_tier"] == "flagship"
    assert len(everything["candidates"]) == len(load_aliases().aliases)
    legal = http.post(
        "/api/select-model", json={"task_type": "reasoning", "domain": "legal"}
    ).json()
    assert legal["selected_model"]["alias"] in ("text_reasoning_flagship", "text_tariff_precision")
    assert {c["model"].split(":")[0] for c in legal["candidates"]} == {"comet"}
    none = http.post("/api/select-model", json={"modality": "audio"})
    assert none.status_code == 404


def test_orchestrate_plans_every_job_with_gateway_models(http: httpx.Client) -> None:
    for job in load_aliases().jobs:
        plan = http.post("/api/orchestrate", json={"job_type": job})
        assert plan.status_code == 200, plan.text
        for step in plan.json()["plan"]["steps"]:
            assert step["gateway_model"] and step["registry_model"].split(":")[0] in (
                "fal",
                "comet",
            )
    unknown = http.post("/api/orchestrate", json={"job_type": "podcast"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"].startswith("Unsupported job_type: podcast; known:")


def test_deep_health_reports_gateway_and_registry(http: httpx.Client) -> None:
    health = http.get("/health").json()
    assert health["status"] == "ok" and health["gateway"]["status"] == "ok"
    assert health["registry"]["counts"]["fal"] > 800 and health["aliases"] == len(
        load_aliases().aliases
    )


# --- start-up checks ------------------------------------------------------------------------


def test_a_broken_alias_stops_the_service_naming_it(gateway: Any) -> None:
    raw = load_aliases().model_dump()
    raw["aliases"]["text_general_flagship"]["models"] = ["comet:gpt-9-imaginary"]
    with pytest.raises(
        AliasError,
        match="alias 'text_general_flagship': comet:gpt-9-imaginary is not in the registry",
    ):
        create_app(gateway.settings, aliases=AliasCatalog.model_validate(raw))
    raw = load_aliases().model_dump()
    raw["jobs"]["tariff_video_overlay"][0]["alias"] = "text_nowhere"
    with pytest.raises(AliasError, match="unknown alias 'text_nowhere'"):
        create_app(gateway.settings, aliases=AliasCatalog.model_validate(raw))


def test_an_alias_on_a_model_the_gateway_left_out_stops_the_service_saying_why(
    gateway: Any,
) -> None:
    video = gateway.config["mpc"]["left_out"]["unsupported type"][0]  # a Comet video or audio
    raw = load_aliases().model_dump()
    raw["aliases"]["text_general_flagship"]["models"] = [video]
    with pytest.raises(AliasError) as broken:
        create_app(gateway.settings, aliases=AliasCatalog.model_validate(raw))
    assert (
        f"alias 'text_general_flagship': {video} has no gateway deployment: "
        "`mpc gateway config` left it out (unsupported type)"
    ) in str(broken.value)


def test_start_up_needs_the_gateway_key_and_config(gateway: Any, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="LITELLM_MASTER_KEY is not set"):
        create_app(gateway.settings.with_(gateway_key=None))
    with pytest.raises(ConfigError, match="no gateway config"):
        create_app(gateway.settings, config_path=tmp_path / "missing.yaml")
