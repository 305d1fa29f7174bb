"""The Apidog client on the shared HTTP core: headers, exports, imports, typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mpc_lib.apidog import COUNTER_NAMES, ApidogClient, ImportOptions
from mpc_lib.apidog.client import _import_result
from mpc_lib.config import Secret, Settings
from mpc_lib.errors import AuthError, ProviderError, ResponseFormatError, ServerError
from mpc_lib.sandbox import Fault, Sandbox
from mpc_lib.sandbox.apidog import SANDBOX_PROJECT_ID

HUB_SPEC = Path(__file__).resolve().parents[2] / "openapi" / "api-hub.oas.json"


def _client(sandbox: Sandbox, tmp_path: Path, *, token: str | None = None,
            project: str = SANDBOX_PROJECT_ID) -> ApidogClient:  # fmt: skip
    settings = Settings(outputs_dir=tmp_path, max_retries=1, retry_backoff_s=0)
    return ApidogClient(
        sandbox.url("apidog"), Secret(token or sandbox.key("apidog")), project, settings=settings
    )


def test_import_then_export_through_the_core(sandbox: Sandbox, tmp_path: Path) -> None:
    text = HUB_SPEC.read_text(encoding="utf-8")
    with _client(sandbox, tmp_path) as client:
        result = client.import_openapi(text, ImportOptions())
        exported = client.export_openapi()
    assert result.ok and result.missing == []
    assert result.counters["endpointCreated"] == 19  # 6 provider + 13 MPC-API
    assert set(result.counters) == set(COUNTER_NAMES)
    assert exported == json.loads(text)
    # the emulator refuses calls without the version header, so these went out with it
    assert [(r.method, r.path, r.status) for r in sandbox.requests("apidog")] == [
        ("POST", f"/v1/projects/{SANDBOX_PROJECT_ID}/import-openapi", 200),
        ("POST", f"/v1/projects/{SANDBOX_PROJECT_ID}/export-openapi", 200),
    ]


def test_refusals_are_typed_errors_naming_apidogs_message(sandbox: Sandbox, tmp_path: Path) -> None:
    client = _client(sandbox, tmp_path, token="canary-apidog-token-x1")
    with client, pytest.raises(AuthError) as caught:
        client.export_openapi()
    error = caught.value
    assert (error.provider, error.status, error.error_type) == ("apidog", 401, "401000")
    assert "invalid API access token" in str(error)
    assert "canary-apidog-token-x1" not in str(error)
    with _client(sandbox, tmp_path, project="42") as client, pytest.raises(AuthError) as denied:
        client.export_openapi()
    assert denied.value.status == 403 and "No project guest privilege" in str(denied.value)
    with _client(sandbox, tmp_path) as client, pytest.raises(ProviderError) as invalid:
        client.import_openapi("not a spec", ImportOptions())
    assert (invalid.value.status, invalid.value.error_type) == (422, "422001")


def test_server_errors_are_retried_then_reported(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.faults.add(Fault("server_error", provider="apidog", times=1))
    with _client(sandbox, tmp_path) as client:
        assert client.export_openapi()["paths"] == {}  # the second try got through
    sandbox.faults.add(Fault("server_error", provider="apidog", times=5))
    with _client(sandbox, tmp_path) as client, pytest.raises(ServerError):
        client.export_openapi()


def test_options_are_sent_as_apidog_spells_them() -> None:
    options = ImportOptions(endpoint_overwrite_behavior="AUTO_MERGE", target_branch_id=7)
    assert options.model_dump(mode="json") == {
        "endpointOverwriteBehavior": "AUTO_MERGE",
        "schemaOverwriteBehavior": "OVERWRITE_EXISTING",
        "updateFolderOfChangedEndpoint": False,
        "prependBasePath": False,
        "deleteUnmatchedResources": False,
        "targetBranchId": 7,
    }
    with pytest.raises(ValueError, match="endpoint-overwrite-behavior 'MERGE'"):
        ImportOptions(endpoint_overwrite_behavior="MERGE")


def test_import_answers_are_read_strictly_but_survive_missing_counters() -> None:
    path = "/v1/projects/1/import-openapi"
    partial = _import_result({"data": {"counters": {"endpointCreated": 2, "endpointFailed": 1},
                                       "errors": [{"message": "GET /x: bad"}]}}, path)  # fmt: skip
    assert partial.counters["endpointCreated"] == 2 and partial.counters["schemaCreated"] is None
    assert len(partial.missing) == 14 and partial.failed == {"endpointFailed": 1}
    assert not partial.ok and partial.errors == ["GET /x: bad"]
    with pytest.raises(ProviderError, match="422001"):
        _import_result({"success": False, "errorCode": "422001", "errorMessage": "no"}, path)
    with pytest.raises(ResponseFormatError, match="no data object"):
        _import_result({"success": True}, path)
    with pytest.raises(ResponseFormatError, match="not a count"):
        _import_result({"data": {"counters": {"schemaFailed": "two"}}}, path)
