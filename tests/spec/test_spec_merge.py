"""Merging MPC-API's own OpenAPI into the hub spec: the function over dicts, the committed hub
spec kept current with the service, and `mpc spec merge-api`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cli_runner import Ran, mpc
from spec_fixtures import HUB_SPEC

from mpc_lib.errors import SpecError
from mpc_lib.spec import (
    check_upstream,
    lint_spec,
    load_spec,
    merge_mpc_api,
    merge_openapi,
    spec_from_dict,
    validate_spec,
)

# What a FastAPI app's .openapi() looks like for a small service.
SERVICE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "MPC-API", "version": "0.2.0"},
    "paths": {
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness",
                "security": [],
                "responses": {"200": {"description": "ok", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Health"}}}}},
            }
        },
        "/mpc/select-model": {
            "post": {
                "operationId": "selectModel",
                "summary": "Pick a model for a job",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/SelectRequest"}}}},
                "responses": {
                    "200": {"description": "the choice", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ModelCard"}}}},
                    "422": {"description": "bad body", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}},
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
            "SelectRequest": {"type": "object", "required": ["job_type"],
                              "properties": {"job_type": {"type": "string"}}},
            "ModelCard": {"type": "object", "properties": {"model": {"type": "string"}}},
            "HTTPValidationError": {"type": "object", "properties": {"detail": {
                "type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}}},
            "ValidationError": {"type": "object", "properties": {"msg": {"type": "string"}}},
        },
        "securitySchemes": {
            "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        },
    },
    "security": [{"APIKeyHeader": []}],
}  # fmt: skip


def _hub() -> dict[str, Any]:
    return copy.deepcopy(load_spec(HUB_SPEC).data)


def test_the_service_lands_under_its_server_tag_and_prefixed_names() -> None:
    merged = merge_openapi(_hub(), SERVICE, server_url="http://localhost:3000")
    item = merged["paths"]["/mpc/select-model"]
    assert item["servers"] == [{"url": "http://localhost:3000", "description": "mpc-api"}]
    op = item["post"]
    assert op["tags"] == ["MPC-API"] and op["x-mpc-source"] == "mpc-api"
    assert op["security"] == [{"MpcApiAPIKeyHeader": []}]  # the service-wide default, renamed
    assert merged["paths"]["/health"]["get"]["security"] == []  # its own choice is kept
    schemas = merged["components"]["schemas"]
    assert schemas["MpcApiHTTPValidationError"]["properties"]["detail"]["items"] == {
        "$ref": "#/components/schemas/MpcApiValidationError"
    }
    assert "FalModel" in schemas and "ModelCard" not in schemas
    assert {"name": "MPC-API", "description": "MPC-API"} in merged["tags"]
    assert merged["x-mpc-merged"]["mpc-api"]["version"] == "0.2.0"
    assert SERVICE["paths"]["/health"]["get"].get("tags") is None  # inputs are not changed


def test_the_merged_spec_passes_validation_lint_and_upstream() -> None:
    document = spec_from_dict(merge_openapi(_hub(), SERVICE, server_url="http://localhost:3000"))
    assert validate_spec(document).findings == []
    assert lint_spec(document).findings == []
    upstream = check_upstream(document)
    assert [f.severity for f in upstream.findings] == ["info"]  # comet publishes no spec
    assert upstream.details["own"] == {"mpc-api": 2}  # ours: nothing upstream to compare


def test_merging_again_replaces_the_previous_merge() -> None:
    once = merge_openapi(_hub(), SERVICE, server_url="http://localhost:3000")
    smaller = copy.deepcopy(SERVICE)
    del smaller["paths"]["/health"]
    del smaller["components"]["schemas"]["Health"]
    twice = merge_openapi(once, smaller, server_url="http://mpc-api:3000")
    assert "/health" not in twice["paths"]
    assert "MpcApiHealth" not in twice["components"]["schemas"]
    assert twice["paths"]["/mpc/select-model"]["servers"][0]["url"] == "http://mpc-api:3000"
    assert sum(t["name"] == "MPC-API" for t in twice["tags"]) == 1


def test_a_path_the_hub_serves_elsewhere_is_refused_unless_prefixed() -> None:
    clashing = copy.deepcopy(SERVICE)
    clashing["paths"]["/v1/models"] = clashing["paths"].pop("/health")
    with pytest.raises(SpecError, match=r"/v1/models already served by another server"):
        merge_openapi(_hub(), clashing, server_url="http://localhost:3000")
    merged = merge_openapi(_hub(), clashing, server_url="http://localhost:3000", path_prefix="/mpc")
    assert "/mpc/v1/models" in merged["paths"]


# --- the hub's own merge ------------------------------------------------------------------


def test_the_committed_hub_spec_is_the_current_merge_of_mpc_api() -> None:
    """A route, parameter or schema changed in MPC-API without `mpc spec merge-api` fails here."""
    committed = load_spec(HUB_SPEC).data
    assert merge_mpc_api(committed) == committed
    record = committed["x-mpc-merged"]["mpc-api"]
    assert record["server"] == "http://127.0.0.1:3000"
    assert "/mpc/v1/chat/completions" in record["paths"]
    chat = committed["paths"]["/mpc/v1/chat/completions"]["post"]
    assert chat["security"] == [{"MpcApiMpcBearer": []}]
    assert "422" not in chat["responses"]  # an invalid request is a 400 in the envelope
    liveliness = committed["paths"]["/mpc/health/liveliness"]["get"]
    assert liveliness["security"] == []
    # Comet's own paths are untouched by the merge
    assert committed["paths"]["/v1/models"]["servers"][0]["url"] == "https://api.cometapi.com"


def _merge_cli(*args: str, cwd: Path) -> Ran:
    return mpc("spec", "merge-api", *args, cwd=cwd)


def test_merge_api_cli_writes_checks_and_names_a_stale_spec(tmp_path: Path) -> None:
    stale = copy.deepcopy(load_spec(HUB_SPEC).data)
    del stale["paths"]["/mpc/health"]
    path = tmp_path / "hub.json"
    path.write_text(json.dumps(stale))
    checked = _merge_cli(str(path), "--check", cwd=tmp_path)
    assert checked.returncode == 1
    assert f"{path}: not the current merge of MPC-API" in checked.stderr
    assert json.loads(path.read_text()) == stale  # --check writes nothing
    out = tmp_path / "merged.yaml"
    written = _merge_cli(str(path), "--out", str(out), "--server-url", "http://mpc-api:3000",
                         cwd=tmp_path)  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert "13 paths under /mpc, served by http://mpc-api:3000" in written.stdout
    merged = load_spec(out).data
    assert merged["paths"]["/mpc/health"]["servers"][0]["url"] == "http://mpc-api:3000"
    assert _merge_cli(str(path), cwd=tmp_path).returncode == 0  # in place
    assert _merge_cli(str(path), "--check", cwd=tmp_path).returncode == 0
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    refused = _merge_cli(str(broken), cwd=tmp_path)
    assert refused.returncode == 2 and "broken.json" in refused.stderr
    assert "Traceback" not in refused.stderr
