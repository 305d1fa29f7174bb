"""Stage 5: breaking changes between two versions, each with a severity."""

from __future__ import annotations

import copy
from pathlib import Path

from spec_fixtures import HUB_SPEC, SpecWriter

from mpc_lib.spec import diff_specs, load_spec


def _hub() -> dict:
    return copy.deepcopy(load_spec(HUB_SPEC).data)


def _diff(write_spec: SpecWriter, new: dict) -> list:
    return diff_specs(load_spec(HUB_SPEC), load_spec(write_spec(new, "new.json"))).findings


def test_a_spec_against_itself_has_no_changes() -> None:
    document = load_spec(HUB_SPEC)
    assert diff_specs(document, document).findings == []


def test_each_breaking_change_is_an_error(write_spec: SpecWriter) -> None:
    new = _hub()
    models = new["paths"]["/models"]["get"]
    status = next(p for p in models["parameters"] if p["name"] == "status")
    status["schema"]["enum"] = ["active"]  # narrowed: 'deprecated' was accepted
    models["parameters"] = [p for p in models["parameters"] if p["name"] != "q"]
    models["parameters"].append(
        {"name": "region", "in": "query", "required": True, "schema": {"type": "string"}}
    )
    next(p for p in models["parameters"] if p["name"] == "cursor")["required"] = True
    new["components"]["schemas"]["FalPrice"]["properties"]["unit_price"]["type"] = "string"
    del new["paths"]["/models/pricing/estimate"]
    del new["paths"]["/api/models"]["get"]
    new["paths"]["/api/models"]["post"] = copy.deepcopy(new["paths"]["/v1/models"]["get"])
    new["paths"]["/api/models"]["post"]["operationId"] = "cometPostCatalog"
    new["paths"]["/v1/models"]["get"]["security"] = []
    new["components"]["securitySchemes"]["FalKey"]["name"] = "X-Fal-Key"
    new["paths"]["/v1/chat/completions"]["servers"] = [{"url": "https://api.comet.example"}]
    findings = _diff(write_spec, new)
    breaking = {f.rule for f in findings if f.severity == "error"}
    assert breaking == {
        "enum-narrowed", "parameter-removed", "parameter-required-added",
        "parameter-became-required", "type-changed", "path-removed", "operation-removed",
        "auth-changed", "server-changed",
    }  # fmt: skip
    removed = next(f for f in findings if f.rule == "path-removed")
    assert removed.file == str(HUB_SPEC) and removed.line is not None  # placed in the old file
    narrowed = next(f for f in findings if f.rule == "enum-narrowed")
    assert narrowed.file.endswith("new.json")
    assert "the old spec allows ['deprecated']" in narrowed.message
    assert next(f for f in findings if f.rule == "operation-added").severity == "info"


def test_additive_changes_are_not_breaking(write_spec: SpecWriter) -> None:
    new = _hub()
    new["paths"]["/models/pricing"]["get"]["parameters"].append(
        {"name": "currency", "in": "query", "schema": {"type": "string"}}
    )
    metadata = new["components"]["schemas"]["FalModelMetadata"]
    metadata["properties"]["rank"] = {"type": "integer"}
    metadata["properties"]["status"]["enum"].append("beta")
    findings = _diff(write_spec, new)
    assert {(f.rule, f.severity) for f in findings} == {
        ("parameter-added", "info"),
        ("response-property-changed", "info"),
        ("enum-widened", "warning"),
    }


def test_the_old_hub_spec_to_ours_removes_every_old_path(seed_spec: Path) -> None:
    result = diff_specs(load_spec(seed_spec), load_spec(HUB_SPEC))
    removed = sorted(f.message for f in result.findings if f.rule == "path-removed")
    assert removed == [
        f"path {p} was removed"
        for p in sorted([
            "/comet/models", "/fal/models", "/fal/models/pricing", "/fal/models/pricing/estimate",
            "/fal/models/usage", "/fal/models/analytics",
        ])
    ]  # fmt: skip
    assert result.details["breaking"] == 6
