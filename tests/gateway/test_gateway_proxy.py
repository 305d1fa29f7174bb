"""A real LiteLLM proxy from a generated config: it starts, serves the registry's models with
their prices, relays chats to the sandbox upstream, and carries the catalog sync."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_runner import mpc
from seam import sync

from mpc_lib import views
from mpc_lib.config import Secret, Settings
from mpc_lib.errors import AuthError, ConfigError, RateLimited, ServerError
from mpc_lib.gateway import GatewayClient
from mpc_lib.registry import load_registry
from mpc_lib.sandbox import Fault, Sandbox
from mpc_lib.upstreams import live_upstream, record_gateway_upstreams

HELLO = [{"role": "user", "content": "hello from the gateway tests"}]


@pytest.fixture
def client(gateway: Any) -> GatewayClient:
    return GatewayClient(settings=gateway.settings)


def test_the_generated_config_is_what_the_gateway_serves(
    gateway: Any, client: GatewayClient
) -> None:
    names = [entry["model_name"] for entry in gateway.config["model_list"]]
    assert sorted(client.models()) == sorted(names)
    assert len(names) > 20  # the default selection plus every alias target
    info = {item["model_name"]: item["model_info"] for item in client.model_info()}
    # the registry link and the registry's price survive LiteLLM's own model info
    assert info["gpt-4o"]["mpc_provider"] == "comet"
    assert info["gpt-4o"]["mpc_model_id"] == "gpt-4o"
    registry = load_registry(Path(gateway.settings.outputs_dir) / "registry" / "models.json")
    gpt4o = next(m for m in registry["models"] if m["model_id"] == "gpt-4o")
    assert info["gpt-4o"]["input_cost_per_token"] == pytest.approx(
        gpt4o["pricing"]["unit_price"] / 1e6
    )
    assert info["gpt-4o"]["output_cost_per_token"] == pytest.approx(
        gpt4o["pricing"]["output_unit_price"] / 1e6
    )
    assert info["gpt-4o"]["mode"] == "chat"


def test_liveliness_and_readiness(client: GatewayClient) -> None:
    assert client.liveliness() is True
    assert client.readiness()["status"] == "healthy"
    assert GatewayClient("http://127.0.0.1:9", Secret("x")).liveliness() is False


def test_a_plain_chat_reaches_the_sandbox_upstream_and_reports_usage(
    sandbox: Sandbox, client: GatewayClient
) -> None:
    answer = client.chat("gpt-4o", HELLO)
    assert answer["choices"][0]["message"]["content"] == (
        "Sandbox reply from gpt-4o: hello from the gateway tests"
    )
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert [r.path for r in sandbox.requests("openai")] == ["/v1/chat/completions"]


def test_a_streamed_chat_comes_chunk_by_chunk_in_order_with_usage_last(
    client: GatewayClient,
) -> None:
    chunks = list(client.chat_stream("gpt-4o-mini", HELLO))
    text = "".join(
        (choice.get("delta") or {}).get("content") or ""
        for chunk in chunks
        for choice in chunk.get("choices", [])
    )
    assert text == "Sandbox reply from gpt-4o-mini: hello from the gateway tests"
    assert len(chunks) >= 8  # one per word, not one blob
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_upstream_errors_come_back_typed(sandbox: Sandbox, client: GatewayClient) -> None:
    sandbox.faults.add(Fault("rate_limit", provider="openai", model="gpt-4o"))
    with pytest.raises(RateLimited) as limited:
        client.chat("gpt-4o", HELLO)
    assert limited.value.provider == "gateway" and limited.value.status == 429
    sandbox.faults.add(Fault("cut_stream", provider="openai", model="gpt-4o"))
    with pytest.raises(ServerError, match="gateway: 500 POST /v1/chat/completions"):
        list(client.chat_stream("gpt-4o", HELLO))


def test_no_key_is_a_401_not_a_500(gateway: Any) -> None:
    keyless = GatewayClient(settings=gateway.settings.with_(gateway_key=None))
    with pytest.raises(AuthError) as refused:
        keyless.models()
    assert refused.value.status == 401


@pytest.mark.parametrize("fal_pricing", ["lenient", "strict"])
def test_a_sync_through_the_gateway_equals_a_direct_sync(
    sandbox: Sandbox, gateway: Any, tmp_path: Path, fal_pricing: str
) -> None:
    """Through the pass-through routes, with the gateway's key only; under both readings of
    FAL's pricing 404 (strict answers 404 for a batch naming an unpriced id)."""
    sandbox.set_modes(fal_pricing=fal_pricing)
    direct = Settings(
        outputs_dir=tmp_path / "direct",
        fal_key=sandbox.key("fal"),
        fal_base_url=sandbox.url("fal"),
        comet_key=sandbox.key("comet"),
        comet_base_url=sandbox.url("comet"),
    )
    through = gateway.settings.with_(outputs_dir=tmp_path / "through")
    assert through.key_for("fal") is None and through.key_for("comet") is None
    sync(direct)
    sandbox.state.log.clear()
    report = sync(through, source="gateway")
    # the session gateway reaches the sandbox, whose mark it relays on every answer
    assert report.sources == {"fal": "sandbox via gateway", "comet": "sandbox via gateway"}
    # the gateway, not us, reached the providers
    assert {r.provider for r in sandbox.requests()} == {"fal", "comet"}
    mine = load_registry(tmp_path / "direct" / "registry" / "models.json")
    theirs = load_registry(tmp_path / "through" / "registry" / "models.json")
    assert theirs["models"] == mine["models"]
    assert theirs["counts"] == mine["counts"]
    assert theirs["sources"]["fal"]["source"] == "gateway"
    assert theirs["sources"]["fal"]["kind"] == "sandbox"
    assert theirs["sources"]["fal"]["priced"] == mine["sources"]["fal"]["priced"] > 0
    assert json.dumps(theirs).count(gateway.url) >= 1  # the registry says where it came from


def test_sandbox_data_through_the_gateway_is_labelled_sandbox_everywhere(
    sandbox: Sandbox, gateway: Any, tmp_path: Path
) -> None:
    """Even where the workbook's record says the gateway reaches the live APIs, the sandbox's
    mark on the answers LiteLLM relays makes the records sandbox: registry, banner, pricing;
    and a live sync over them is refused."""
    through = gateway.settings.with_(outputs_dir=tmp_path / "out")
    wrong = {name: live_upstream(through, name) for name in ("fal", "comet")}
    record_gateway_upstreams(through, gateway.url, wrong)
    report = sync(through, source="gateway")
    assert report.sources == {"fal": "sandbox via gateway", "comet": "sandbox via gateway"}
    assert "(the gateway reaches the sandbox's emulator, not the provider)" in report.summary()
    assert views.sources_banner(report).sources == report.sources  # what a run's manifest gets
    registry = load_registry(tmp_path / "out" / "registry" / "models.json")
    fal = registry["sources"]["fal"]
    assert (fal["source"], fal["kind"], fal["prices"]) == ("gateway", "sandbox", "generated")
    banner = views.sources_banner(registry)
    assert banner.startswith("fal: sandbox via gateway (the gateway reaches the emulator)")
    assert banner.sources == {"fal": "sandbox via gateway", "comet": "sandbox via gateway"}

    env = {"MPC_OUTPUTS_DIR": str(tmp_path / "out")}
    estimate = mpc("pricing", "estimate", "--no-check", env=env, cwd=tmp_path)
    assert estimate.returncode == 0, estimate.stderr
    assert (
        f"fal: sandbox via gateway {gateway.url}: SYNTHETIC prices (generated), not the provider's"
        in estimate.stdout
    )
    assert "provider API" not in estimate.stdout and "live API" not in estimate.stdout

    direct = through.with_(
        fal_key=sandbox.key("fal"), fal_base_url=sandbox.url("fal"), gateway_key=None
    )
    with pytest.raises(ConfigError, match="fal: the registry holds sandbox records, this sync "
                                          "fetched live ones"):  # fmt: skip
        sync(direct, providers=["fal"])
