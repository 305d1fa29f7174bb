"""The Apidog emulator speaks the documented contract: auth, version header, 16 counters, errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
import yaml

from mpc_lib.sandbox import Sandbox
from mpc_lib.sandbox.apidog import (
    APIDOG_API_VERSION,
    COUNTERS,
    FAIL_EXTENSION,
    SANDBOX_PROJECT_ID,
)

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "tags": [{"name": "Things"}],
    "paths": {
        "/things": {
            "servers": [{"url": "https://api.example.com"}],
            "get": {"operationId": "listThings", "tags": ["Things"],
                    "responses": {"200": {"description": "ok"}}},
            "post": {"operationId": "addThing", "tags": ["Things"],
                     "responses": {"201": {"description": "made"}}},
        }
    },
    "components": {"schemas": {"Thing": {"type": "object"}},
                   "securitySchemes": {"Key": {"type": "http", "scheme": "bearer"}}},
}  # fmt: skip


def _post(sandbox: Sandbox, verb: str, body: Any, *, project: str = SANDBOX_PROJECT_ID,
          headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
    default = {
        "Authorization": f"Bearer {sandbox.key('apidog')}",
        "X-Apidog-Api-Version": APIDOG_API_VERSION,
    }
    return httpx.post(
        f"{sandbox.url('apidog')}/v1/projects/{project}/{verb}",
        json=body, headers={**default, **(headers or {})}, timeout=10,
    )  # fmt: skip


def _import(sandbox: Sandbox, spec: Any, **options: Any) -> dict[str, Any]:
    text = spec if isinstance(spec, str) else json.dumps(spec)
    answer = _post(sandbox, "import-openapi", {"input": text, "options": options})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_import_reports_all_16_counters_and_an_export_returns_it(sandbox: Sandbox) -> None:
    body = _import(sandbox, SPEC)
    assert body["success"] is True
    counters = body["data"]["counters"]
    assert list(counters) == list(COUNTERS) and len(COUNTERS) == 16
    assert (counters["endpointCreated"], counters["schemaCreated"]) == (2, 1)
    assert counters["endpointFolderCreated"] == 1 and body["data"]["errors"] == []
    exported = _post(sandbox, "export-openapi", {"scope": {"type": "ALL"}, "oasVersion": "3.1"})
    assert exported.status_code == 200
    assert exported.json() == SPEC


def test_overwrite_behaviours_count_what_they_do(sandbox: Sandbox) -> None:
    _import(sandbox, SPEC)
    same = _import(sandbox, SPEC)["data"]["counters"]
    assert (same["endpointIgnored"], same["schemaIgnored"], same["endpointUpdated"]) == (2, 1, 0)
    changed = copy.deepcopy(SPEC)
    changed["paths"]["/things"]["get"]["summary"] = "List things"
    changed["components"]["schemas"]["Thing"]["description"] = "a thing"
    kept = _import(sandbox, changed, endpointOverwriteBehavior="KEEP_EXISTING",
                   schemaOverwriteBehavior="KEEP_EXISTING")["data"]["counters"]  # fmt: skip
    assert (kept["endpointIgnored"], kept["schemaIgnored"]) == (2, 1)
    updated = _import(sandbox, changed)["data"]["counters"]
    assert (updated["endpointUpdated"], updated["endpointIgnored"], updated["schemaUpdated"]) == (
        1, 1, 1,
    )  # fmt: skip
    exported = _post(sandbox, "export-openapi", {}).json()
    assert exported["paths"]["/things"]["get"]["summary"] == "List things"
    merged = copy.deepcopy(SPEC)
    del merged["paths"]["/things"]["get"]["operationId"]
    merged["paths"]["/things"]["get"]["description"] = "merged in"
    _import(sandbox, merged, endpointOverwriteBehavior="AUTO_MERGE")
    op = _post(sandbox, "export-openapi", {}).json()["paths"]["/things"]["get"]
    assert (op["operationId"], op["summary"], op["description"]) == (
        "listThings", "List things", "merged in",
    )  # fmt: skip


def test_delete_unmatched_resources_removes_what_the_input_lacks(sandbox: Sandbox) -> None:
    _import(sandbox, SPEC)
    smaller = copy.deepcopy(SPEC)
    del smaller["paths"]["/things"]["post"]
    smaller["components"]["schemas"] = {"Other": {"type": "string"}}
    _import(sandbox, smaller, deleteUnmatchedResources=True)
    exported = _post(sandbox, "export-openapi", {}).json()
    assert list(exported["paths"]["/things"]) == ["servers", "get"]
    assert list(exported["components"]["schemas"]) == ["Other"]


def test_sandbox_fail_marks_fail_their_counters(sandbox: Sandbox) -> None:
    failing = copy.deepcopy(SPEC)
    failing["paths"]["/things"]["post"][FAIL_EXTENSION] = "duplicate operation"
    failing["components"]["schemas"]["Thing"][FAIL_EXTENSION] = "bad schema"
    data = _import(sandbox, failing)["data"]
    assert data["counters"]["endpointFailed"] == 1 and data["counters"]["schemaFailed"] == 1
    assert data["counters"]["endpointCreated"] == 1
    assert [e["message"] for e in data["errors"]] == [
        "POST /things: duplicate operation",
        "schema Thing: bad schema",
    ]


def test_yaml_input_and_yaml_export(sandbox: Sandbox) -> None:
    _import(sandbox, yaml.safe_dump(SPEC))
    answer = _post(sandbox, "export-openapi", {"exportFormat": "YAML"})
    assert answer.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(answer.text) == SPEC


def test_export_scopes_by_tags(sandbox: Sandbox) -> None:
    spec = copy.deepcopy(SPEC)
    spec["paths"]["/other"] = {
        "get": {"tags": ["Other"], "responses": {"200": {"description": "x"}}}
    }
    _import(sandbox, spec)
    tags = {"scope": {"type": "SELECTED_TAGS", "selectedTags": ["Other"]}}
    only = _post(sandbox, "export-openapi", tags).json()
    assert list(only["paths"]) == ["/other"]
    excluded = {"scope": {"type": "ALL", "excludedByTags": ["Other"]}}
    without = _post(sandbox, "export-openapi", excluded).json()
    assert list(without["paths"]) == ["/things"]


def test_an_empty_project_exports_an_empty_document(sandbox: Sandbox) -> None:
    exported = _post(sandbox, "export-openapi", {}).json()
    assert exported["openapi"] == "3.1.0" and exported["paths"] == {}


def test_the_mcp_servers_header_spelling_is_accepted(sandbox: Sandbox) -> None:
    headers = {"X-Apidog-Api-Version": "", "X-Apidog-Version": APIDOG_API_VERSION}
    assert _post(sandbox, "export-openapi", {}, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("headers", "project", "body", "status", "message"),
    [
        ({"Authorization": ""}, SANDBOX_PROJECT_ID, {"input": "{}"}, 401, "Unauthorized"),
        ({"Authorization": "Bearer wrong"}, SANDBOX_PROJECT_ID, {"input": "{}"}, 401,
         "invalid API access token"),
        ({"X-Apidog-Api-Version": "2023-01-01"}, SANDBOX_PROJECT_ID, {"input": "{}"}, 422,
         "X-Apidog-Api-Version must be 2024-03-28"),
        ({}, "999", {"input": json.dumps(SPEC)}, 403, "No project guest privilege"),
        ({}, SANDBOX_PROJECT_ID, {"options": {}}, 422, "input is required"),
        ({}, SANDBOX_PROJECT_ID, {"input": "{\"hello\": 1}"}, 422, "not an OpenAPI"),
        ({}, SANDBOX_PROJECT_ID, {"input": {"url": "https://x.example/oas.json"}}, 422,
         "fetches nothing"),
        ({}, SANDBOX_PROJECT_ID,
         {"input": json.dumps(SPEC), "options": {"endpointOverwriteBehavior": "REPLACE"}}, 422,
         "endpointOverwriteBehavior must be one of"),
    ],
)  # fmt: skip
def test_errors_come_in_apidogs_envelope(
    sandbox: Sandbox, headers: dict, project: str, body: dict, status: int, message: str
) -> None:
    answer = _post(sandbox, "import-openapi", body, project=project, headers=headers)
    assert answer.status_code == status
    error = answer.json()
    assert error["success"] is False and error["errorCode"].startswith(str(status))
    assert message in error["errorMessage"]
    exported = _post(sandbox, "export-openapi", {}).json()
    assert exported["paths"] == {}  # nothing refused was stored


def test_reset_empties_the_projects(sandbox: Sandbox) -> None:
    _import(sandbox, SPEC)
    sandbox.reset()
    assert _post(sandbox, "export-openapi", {}).json()["paths"] == {}
