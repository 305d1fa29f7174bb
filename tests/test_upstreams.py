"""The seam: one place decides live, gateway or sandbox per service, and starts the sandbox."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx
import pytest

from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError
from mpc_lib.upstreams import (
    GATEWAY_RECORD,
    as_served,
    live_upstream,
    open_upstreams,
    record_gateway_upstreams,
    recorded_kind,
    resolve_source,
)


def test_live_where_a_key_is_set_and_the_sandbox_elsewhere(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path, comet_key="k-comet")
    with open_upstreams(settings) as upstreams:
        assert upstreams.sources() == {"fal": "sandbox", "comet": "live"}
        comet = upstreams["comet"]
        assert (comet.source, comet.base_url, comet.chat_url) == (
            "live", "https://api.cometapi.com", "https://api.cometapi.com",
        )  # fmt: skip
        assert comet.key is not None and comet.key.reveal() == "k-comet"
        assert (comet.data, comet.prices) == ("live", "live API")
        fal = upstreams["fal"]
        assert fal.source == "sandbox" and fal.base_url.startswith("http://127.0.0.1:")
        assert (fal.data, fal.prices) == ("generated", "generated")
        answer = httpx.get(f"{fal.base_url}/models", params={"limit": 1},
                           headers={"Authorization": f"Key {fal.key.reveal()}"})  # fmt: skip
        assert answer.status_code == 200 and len(answer.json()["models"]) == 1
    with pytest.raises(httpx.ConnectError):  # closing stopped the emulators
        httpx.get(f"{fal.base_url}/models")


def test_comets_chat_on_the_sandbox_is_the_openai_compatible_emulator(tmp_path: Path) -> None:
    with open_upstreams(Settings(outputs_dir=tmp_path)) as upstreams:
        comet = upstreams["comet"]
        assert comet.chat_url is not None and comet.chat_url != comet.base_url
        key = comet.key.reveal() if comet.key else ""
        models = httpx.get(f"{comet.chat_url}/v1/models",
                           headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        assert models.status_code == 200 and models.json()["data"]


def test_the_sandbox_starts_on_first_use_and_only_then(tmp_path: Path) -> None:
    upstreams = open_upstreams(Settings(outputs_dir=tmp_path))
    assert upstreams.sources() == {"fal": "sandbox", "comet": "sandbox"}
    assert upstreams._sandbox is None  # decided, but nothing started yet
    url = upstreams["fal"].base_url
    assert upstreams._sandbox is not None and upstreams["comet"].base_url != url
    upstreams.close()
    assert upstreams._sandbox is None


def test_a_command_on_the_sandbox_cannot_be_steered(tmp_path: Path) -> None:
    """Faults, modes and the request log answer only in tests and `mpc sandbox serve`."""
    with open_upstreams(Settings(outputs_dir=tmp_path)) as upstreams:
        root = upstreams["fal"].base_url.removesuffix("/v1")
        fault = {"kind": "server_error", "provider": "fal"}
        assert httpx.post(f"{root}/_sandbox/faults", json=fault).status_code == 404
        assert httpx.post(f"{root}/_sandbox/modes", json={}).status_code == 404
        assert httpx.get(f"{root}/_sandbox/requests").status_code == 404
        assert httpx.get(f"{root}/_sandbox/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("settings", "source", "expected"),
    [
        (Settings(), None, "sandbox"),
        (Settings(fal_key="k"), None, "live"),
        (Settings(fal_key="k"), "sandbox", "sandbox"),
        (Settings(fal_key="k", source="sandbox"), None, "sandbox"),
        (Settings(gateway_key="g"), "gateway", "gateway"),
        (Settings(fal_key="k", source="sandbox"), "live", "live"),
    ],
)
def test_the_decision_for_a_provider(settings: Settings, source: str | None, expected: str) -> None:
    assert resolve_source(settings, "fal", source) == expected


def test_what_cannot_be_reached_is_named_when_used(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path, source="live", comet_key="k")
    upstreams = open_upstreams(settings)
    assert upstreams.sources() == {"comet": "live", "fal": "unreachable"}
    with pytest.raises(ConfigError, match="source is live but FAL_KEY is not set for fal"):
        upstreams["fal"]
    with pytest.raises(ConfigError, match="LITELLM_MASTER_KEY is not set"):
        open_upstreams(Settings(), source="gateway")["fal"]
    with pytest.raises(ConfigError, match="source 'sanbox': expected one of"):
        open_upstreams(Settings(), source="sanbox")
    with pytest.raises(ValueError, match="unknown service 'openai'"):
        open_upstreams(Settings(), ("openai",))


def test_through_the_gateway_the_gateway_key_is_presented(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path, gateway_key="g-key", gateway_url="http://gw:4000")
    with open_upstreams(settings, source="gateway") as upstreams:
        fal = upstreams["fal"]
    assert (fal.source, fal.base_url, fal.data) == ("gateway", "http://gw:4000/fal", "gateway http://gw:4000")
    assert fal.key is not None and fal.key.reveal() == "g-key"
    assert fal.options["scheme"] == "Bearer"
    # nothing recorded about what that gateway reaches: unknown, never live
    assert (fal.kind, fal.label, fal.prices) == ("unknown", "unknown via gateway", "unknown")


def test_what_the_gateway_reaches_is_read_from_its_record(tmp_path: Path) -> None:
    """`mpc gateway serve` records its upstreams for its URL; a sync through it reads them."""
    settings = Settings(outputs_dir=tmp_path, gateway_key="g", gateway_url="http://127.0.0.1:4000")
    with open_upstreams(settings) as served:  # no keys: what `mpc gateway serve` reaches
        reached = {"fal": served["fal"], "comet": live_upstream(settings, "comet")}
        record = record_gateway_upstreams(settings, "http://127.0.0.1:4000", reached)
    assert record == tmp_path / GATEWAY_RECORD
    with open_upstreams(settings, source="gateway") as upstreams:
        fal, comet = upstreams["fal"], upstreams["comet"]
        assert upstreams.sources() == {"fal": "sandbox via gateway", "comet": "live via gateway"}
    assert (fal.kind, fal.prices, fal.data) == ("sandbox", "generated", "gateway http://127.0.0.1:4000")
    assert (comet.kind, comet.prices) == ("live", "live API")
    # the record is for another gateway's URL, or unreadable: unknown
    other = settings.with_(gateway_url="http://127.0.0.1:4001")
    with open_upstreams(other, source="gateway") as upstreams:
        assert upstreams["fal"].kind == upstreams["comet"].kind == "unknown"
    record.write_text("{not json")
    with open_upstreams(settings, source="gateway") as upstreams:
        assert upstreams["fal"].kind == "unknown"


def test_answers_marked_by_the_sandbox_make_a_gateway_source_the_sandbox(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path, gateway_key="g", gateway_url="http://gw:4000")
    with open_upstreams(settings, source="gateway") as upstreams:
        unknown = upstreams["fal"]
    marked = as_served(unknown, {"generated"})
    assert (marked.kind, marked.label, marked.prices) == (
        "sandbox", "sandbox via gateway", "generated",
    )  # fmt: skip
    assert as_served(unknown, set()) is unknown  # no mark: still unknown, not live
    said_live = as_served(dataclasses.replace(unknown, served="live"), {"synthetic"})
    assert (said_live.kind, said_live.prices) == ("sandbox", "synthetic prices over a snapshot")
    # a direct upstream is what its key decided: a key and a base URL are live
    direct = live_upstream(Settings(fal_key="k"), "fal")
    assert as_served(direct, {"generated"}) is direct


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ({"source": "live"}, "live"),
        ({"source": "sandbox"}, "sandbox"),
        ({"source": "gateway"}, "unknown"),  # a registry from before kinds were recorded
        ({"source": "gateway", "kind": "sandbox"}, "sandbox"),
        ({"source": "gateway", "kind": "nonsense"}, "unknown"),
        ({}, "unknown"),
    ],
)
def test_the_kind_a_registry_entry_records(entry: dict[str, str], kind: str) -> None:
    assert recorded_kind(entry) == kind


def test_a_snapshot_is_labelled_and_its_missing_prices_called_synthetic(
    seed_registry: Path, tmp_path: Path
) -> None:
    settings = Settings(outputs_dir=tmp_path)
    with open_upstreams(settings, snapshot=seed_registry) as upstreams:
        fal = upstreams["fal"]
    assert fal.data == f"snapshot {seed_registry}"
    assert fal.prices == f"synthetic prices over snapshot {seed_registry}"


def test_apidog_without_a_token_is_the_sandbox_and_keeps_its_project(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path)
    store = tmp_path / "apidog" / "sandbox-projects.json"
    spec = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}}  # fmt: skip
    with open_upstreams(settings, ("apidog",)) as upstreams:
        apidog = upstreams["apidog"]
        assert apidog.source == "sandbox" and str(store) in apidog.note
        headers = {"Authorization": f"Bearer {apidog.key.reveal() if apidog.key else ''}",
                   "X-Apidog-Api-Version": "2024-03-28"}  # fmt: skip
        url = f"{apidog.base_url}/v1/projects/{apidog.project_id}"
        httpx.post(f"{url}/export-openapi", json={}, headers=headers).raise_for_status()
        assert not store.exists()  # an export changes nothing: no file
        body = {"input": json.dumps(spec)}
        httpx.post(f"{url}/import-openapi", json=body, headers=headers).raise_for_status()
        assert store.is_file()  # kept as soon as an import changed it
    with open_upstreams(settings, ("apidog",)) as upstreams:  # another command
        apidog = upstreams["apidog"]
        url = f"{apidog.base_url}/v1/projects/{apidog.project_id}"
        headers["Authorization"] = f"Bearer {apidog.key.reveal() if apidog.key else ''}"
        exported = httpx.post(f"{url}/export-openapi", json={}, headers=headers).json()
    assert list(exported["paths"]) == ["/a"]


def test_apidog_live_needs_its_token_and_project() -> None:
    assert resolve_source(Settings(apidog_token="t", apidog_project_id="1"), "apidog") == "live"
    with pytest.raises(ConfigError, match="APIDOG_PROJECT_ID is not set"):
        resolve_source(Settings(apidog_token="t"), "apidog")
    with pytest.raises(ConfigError, match="APIDOG_ACCESS_TOKEN is not set"):
        resolve_source(Settings(), "apidog", "live")
    # MPC_SOURCE=gateway is about the model providers; Apidog goes by its token
    assert resolve_source(Settings(source="gateway"), "apidog") == "sandbox"
    with pytest.raises(ConfigError, match="Apidog is reached live or on the sandbox"):
        resolve_source(Settings(), "apidog", "gateway")
