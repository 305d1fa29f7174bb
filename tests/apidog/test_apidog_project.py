"""Pull and the guarded push: nothing broken or unintended is ever sent; backups come first."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from seam import pull, push

from mpc_lib.apidog import ImportOptions, raise_for_result
from mpc_lib.config import Settings
from mpc_lib.errors import ApidogImportFailed, ConfigError, SpecError, SpecRejected
from mpc_lib.sandbox import Sandbox
from mpc_lib.sandbox.apidog import FAIL_EXTENSION, SANDBOX_PROJECT_ID

HUB_SPEC = Path(__file__).resolve().parents[2] / "openapi" / "api-hub.oas.json"
IMPORT = f"/v1/projects/{SANDBOX_PROJECT_ID}/import-openapi"


def _imports(sandbox: Sandbox) -> list[str]:
    return [r.path for r in sandbox.requests("apidog") if r.path == IMPORT]


def test_a_dry_run_shows_the_diff_and_sends_nothing(
    sandbox: Sandbox, apidog_settings: Settings
) -> None:
    outcome = push(apidog_settings, HUB_SPEC)
    assert outcome.report.passed and outcome.refusal is None and not outcome.applied
    assert outcome.source == "live" and outcome.remote_paths == 0
    assert {f.rule for f in outcome.changes.findings} == {"path-added"}
    assert _imports(sandbox) == []
    assert not (apidog_settings.outputs_dir / "apidog" / "backups").exists()


def test_apply_backs_up_then_imports_and_a_push_after_pull_round_trips(
    sandbox: Sandbox, apidog_settings: Settings, tmp_path: Path
) -> None:
    first = push(apidog_settings, HUB_SPEC, apply=True)
    assert first.applied and first.result is not None and first.result.ok
    assert first.result.counters["endpointCreated"] == 19  # 6 provider + 13 MPC-API
    assert json.loads(first.backup.read_text()) == {
        "openapi": "3.1.0",
        "info": {"title": f"Sandbox project {SANDBOX_PROJECT_ID}", "version": "1.0.0"},
        "paths": {},
    }  # the project as it was before the import
    pulled = pull(apidog_settings, tmp_path / "pulled.json")
    assert pulled.document == json.loads(HUB_SPEC.read_text())  # what was pushed comes back
    again = push(apidog_settings, pulled.path, apply=True)
    assert again.changes.findings == []  # nothing to change
    assert again.result.counters["endpointIgnored"] == 19
    assert again.result.counters["endpointCreated"] == again.result.counters["endpointUpdated"] == 0
    assert json.loads(again.backup.read_text()) == pulled.document
    assert pull(apidog_settings, tmp_path / "again.json").document == pulled.document
    backups = sorted((apidog_settings.outputs_dir / "apidog" / "backups").iterdir())
    assert len(backups) == 2 and all(p.name.startswith(SANDBOX_PROJECT_ID) for p in backups)


def test_a_spec_that_fails_the_gate_is_never_sent(
    sandbox: Sandbox, apidog_settings: Settings, tmp_path: Path
) -> None:
    broken = json.loads(HUB_SPEC.read_text())
    broken["paths"]["/fal/models"] = broken["paths"].pop("/models")  # not a FAL path
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    dry = push(apidog_settings, path)
    assert dry.refusal is not None and "fails the gate" in dry.refusal
    with pytest.raises(SpecRejected, match="nothing was pushed") as caught:
        push(apidog_settings, path, apply=True)
    assert caught.value.exit_code == 1
    assert caught.value.outcome.report.blocking[0].rule == "upstream-path"
    assert _imports(sandbox) == []
    assert not (apidog_settings.outputs_dir / "apidog" / "backups").exists()
    unreadable = tmp_path / "empty.json"
    unreadable.write_text("")
    with pytest.raises(SpecError):
        push(apidog_settings, unreadable, apply=True)
    assert _imports(sandbox) == []


def _unresolvable(spec: dict) -> None:
    spec["paths"]["/models"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/Nowhere"
    }


def _cycle(spec: dict) -> None:
    spec["components"]["schemas"]["FalModel"] = {"$ref": "#/components/schemas/FalModelPage"}
    spec["components"]["schemas"]["FalModelPage"] = {"$ref": "#/components/schemas/FalModel"}


def _features_31_in_30(spec: dict) -> None:
    spec["openapi"] = "3.0.3"  # the hub spec uses type lists and info.summary


@pytest.mark.parametrize("damage", [_unresolvable, _cycle, _features_31_in_30])
def test_bad_input_is_refused_before_anything_is_sent(
    sandbox: Sandbox, apidog_settings: Settings, tmp_path: Path, damage: object
) -> None:
    spec = json.loads(HUB_SPEC.read_text())
    damage(spec)  # type: ignore[operator]
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(spec, indent=2))
    with pytest.raises(SpecRejected) as caught:
        push(apidog_settings, path, apply=True)
    first = caught.value.outcome.report.blocking[0]
    assert first.stage == "validate" and first.line is not None
    assert _imports(sandbox) == []


def test_breaking_the_project_needs_allow_breaking(
    sandbox: Sandbox, apidog_settings: Settings, tmp_path: Path
) -> None:
    push(apidog_settings, HUB_SPEC, apply=True)
    smaller = json.loads(HUB_SPEC.read_text())
    del smaller["paths"]["/models/pricing/estimate"]
    for name in ("FalEstimateRequest", "FalHistoricalEstimateRequest", "FalUnitEstimateRequest",
                 "FalCallQuantity", "FalUnitQuantity", "FalEstimate"):  # fmt: skip
        del smaller["components"]["schemas"][name]
    path = tmp_path / "smaller.json"
    path.write_text(json.dumps(smaller))
    with pytest.raises(SpecRejected, match="breaking change"):
        push(apidog_settings, path, apply=True)
    assert len(_imports(sandbox)) == 1
    allowed = push(apidog_settings, path, apply=True, allow_breaking=True,
                        options=ImportOptions(delete_unmatched_resources=True))  # fmt: skip
    assert allowed.applied and [f.rule for f in allowed.breaking] == ["path-removed"]
    assert "/models/pricing/estimate" not in pull(apidog_settings).document["paths"]


def test_failed_counters_make_the_push_fail(
    sandbox: Sandbox, apidog_settings: Settings, tmp_path: Path
) -> None:
    spec = json.loads(HUB_SPEC.read_text())
    spec["paths"]["/v1/chat/completions"]["post"][FAIL_EXTENSION] = "refused by the sandbox"
    path = tmp_path / "failing.json"
    path.write_text(json.dumps(spec))
    outcome = push(apidog_settings, path, apply=True)
    assert outcome.result.failed == {"endpointFailed": 1}
    with pytest.raises(ApidogImportFailed, match="endpointFailed=1") as caught:
        raise_for_result(outcome)
    assert caught.value.exit_code == 3
    assert "POST /v1/chat/completions: refused by the sandbox" in str(caught.value)


def test_without_a_token_the_built_in_sandbox_keeps_its_project(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path / "outputs")
    pushed = push(settings, HUB_SPEC, apply=True)
    assert pushed.source == "sandbox" and "no APIDOG_ACCESS_TOKEN" in pushed.note
    pulled = pull(settings)  # another emulator, another "process": the project is kept
    assert pulled.source == "sandbox"
    assert pulled.document == json.loads(HUB_SPEC.read_text())
    assert pulled.path == tmp_path / "outputs" / "apidog" / "remote.oas.json"


def test_live_needs_a_token_and_a_project(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="APIDOG_ACCESS_TOKEN is not set"):
        pull(Settings(outputs_dir=tmp_path, source="live"))
    with pytest.raises(ConfigError, match="APIDOG_PROJECT_ID is not set"):
        pull(Settings(outputs_dir=tmp_path, apidog_token="t"))


def test_the_gate_runs_on_data_before_a_push(sandbox: Sandbox, apidog_settings: Settings) -> None:
    outcome = push(apidog_settings, HUB_SPEC, data="auto")  # the sandbox's records
    conform = outcome.report.stage("conform")
    assert conform.status == "pass"
    assert conform.details["sources"] == {"fal": "sandbox", "comet": "sandbox"}
    assert copy.deepcopy(outcome.model_dump(mode="json"))["gate"]["passed"] is True


def test_a_dry_run_on_the_built_in_sandbox_leaves_no_file(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path / "outputs")
    push(settings, HUB_SPEC)
    pull(settings, tmp_path / "pulled.json")
    assert not (tmp_path / "outputs" / "apidog" / "sandbox-projects.json").exists()
