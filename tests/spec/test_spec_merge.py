"""Merging MPC-API's own OpenAPI into the hub spec (a function over dicts, ready for the app)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from spec_fixtures import HUB_SPEC

from mpc_lib.errors import SpecError
from mpc_lib.spec import (
    check_upstream,
    lint_spec,
    load_spec,
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
    assert [f.severity for f in upstream.findings] == ["info", "info"]  # comet, localhost


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
