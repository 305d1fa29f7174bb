"""Stage 3: operations against FAL's published spec: paths, auth, parameters, schemas."""

from __future__ import annotations

import json
from pathlib import Path

from spec_fixtures import HUB_SPEC, SpecWriter, minimal

from mpc_lib.spec import check_upstream, load_spec, load_upstream
from mpc_lib.spec.published import FAL_USED_PATHS, extract_subset

OP = "/paths/~1models~1pricing/get"


def _upstream(write_spec: SpecWriter, spec: dict) -> list:
    return check_upstream(load_spec(write_spec(spec))).findings


def test_the_shipped_subset_equals_the_published_spec(fal_full_spec: Path) -> None:
    full = json.loads(fal_full_spec.read_text(encoding="utf-8"))
    shipped = load_upstream("fal").document.data
    assert shipped["x-mpc-provenance"]["source_url"].startswith("https://fal.ai/")
    assert "badf521" in shipped["x-mpc-provenance"]["taken_from"]
    # what the check compares is FAL's own text, operation by operation
    for path in FAL_USED_PATHS:
        assert shipped["paths"][path] == full["paths"][path], path
    assert shipped["components"]["securitySchemes"] == full["components"]["securitySchemes"]
    assert shipped["servers"] == full["servers"]
    # and the index lists every other published operation with its security
    rebuilt = extract_subset(full, FAL_USED_PATHS, shipped["x-mpc-provenance"])
    assert shipped == rebuilt
    assert len(shipped["x-mpc-index"]) + len(FAL_USED_PATHS) == len(full["paths"])


def test_the_hub_spec_matches_fal_upstream() -> None:
    result = check_upstream(load_spec(HUB_SPEC))
    assert [f for f in result.findings if f.severity != "info"] == []
    assert sorted(result.details["checked"]) == [
        "GET /models -> FAL GET /v1/models",
        "GET /models/pricing -> FAL GET /v1/models/pricing",
        "POST /models/pricing/estimate -> FAL POST /v1/models/pricing/estimate",
    ]
    [unpublished] = result.findings
    assert "api.cometapi.com publishes no OpenAPI spec" in unpublished.message
    # MPC-API's merged operations are our own: no upstream to compare, and no finding
    assert result.details["own"] == {"mpc-api": 13}


def test_fal_against_its_own_spec_finds_nothing_to_fix(fal_full_spec: Path) -> None:
    findings = check_upstream(load_spec(fal_full_spec)).findings
    assert {f.severity for f in findings} == {"info"}


def test_the_old_hub_spec_misses_every_fal_path_and_conflates_its_keys(seed_spec: Path) -> None:
    findings = check_upstream(load_spec(seed_spec)).findings
    missing = sorted(f.message for f in findings if f.rule == "upstream-path")
    assert len(missing) == 5
    assert (
        "GET https://api.fal.ai/v1/fal/models does not exist in FAL's published spec;"
        " did you mean GET /v1/models?"
    ) in missing
    [auth] = [f for f in findings if f.rule == "upstream-auth"]
    assert auth.pointer == "/components/securitySchemes/FalAuth"
    assert "adminApiKey for GET /fal/models/usage" in auth.message
    assert "apiKey for GET /fal/models" in auth.message
    assert auth.line is not None
    # pricing without its required endpoint_id, with paging parameters FAL does not have
    params = [f.message for f in findings if f.rule == "upstream-parameters"]
    assert any("requires query parameter 'endpoint_id'" in m for m in params)
    assert any("'cursor' does not exist on FAL GET /v1/models/pricing" in m for m in params)


def test_a_path_unknown_upstream_is_an_error_with_a_suggestion(write_spec: SpecWriter) -> None:
    spec = minimal()
    spec["paths"]["/fal/models/pricing"] = spec["paths"].pop("/models/pricing")
    findings = _upstream(write_spec, spec)
    path_error = next(f for f in findings if f.rule == "upstream-path")
    assert "did you mean GET /v1/models/pricing?" in path_error.message
    assert path_error.pointer == "/paths/~1fal~1models~1pricing/get"


def test_a_bearer_scheme_does_not_match_fals_key_scheme(write_spec: SpecWriter) -> None:
    spec = minimal()
    spec["components"]["securitySchemes"]["FalKey"] = {"type": "http", "scheme": "bearer"}
    [finding] = _upstream(write_spec, spec)
    assert finding.rule == "upstream-auth" and finding.severity == "error"
    assert "sends FalKey (header Authorization: Bearer …)" in finding.message
    assert "FAL expects apiKey (header Authorization: Key …)" in finding.message


def test_no_security_where_fal_requires_a_key_is_an_error(write_spec: SpecWriter) -> None:
    spec = minimal()
    spec["paths"]["/models/pricing"]["get"]["security"] = []
    findings = [f for f in _upstream(write_spec, spec) if f.rule == "upstream-auth"]
    assert len(findings) == 1 and "declares no security" in findings[0].message


def test_parameters_must_be_what_fal_takes(write_spec: SpecWriter) -> None:
    spec = minimal()
    params = spec["paths"]["/models/pricing"]["get"]["parameters"]
    params[0]["required"] = False
    params[0]["schema"] = {"type": "integer"}
    params.append({"name": "limit", "in": "query", "schema": {"type": "integer"}})
    messages = [f.message for f in _upstream(write_spec, spec) if f.rule == "upstream-parameters"]
    assert "query parameter 'endpoint_id' is required by FAL; here it is optional" in messages
    assert any("'endpoint_id': this spec may have integer here" in m for m in messages)
    assert any("'limit' does not exist on FAL GET /v1/models/pricing" in m for m in messages)


def test_the_response_schema_must_accept_what_fal_sends(write_spec: SpecWriter) -> None:
    spec = minimal()
    price = spec["components"]["schemas"]["Price"]
    price["properties"]["unit"] = {"type": "string", "enum": ["image", "video"]}
    price["properties"]["discount"] = {"type": "number"}
    price["required"].append("discount")
    spec["paths"]["/models/pricing"]["get"]["responses"]["200"]["content"]["application/json"][
        "example"
    ]["prices"][0]["discount"] = 0
    findings = [f for f in _upstream(write_spec, spec) if f.rule == "upstream-response"]
    messages = [f.message for f in findings]
    assert any(
        "prices[].discount: this spec requires 'discount'; FAL does not have it" in m
        for m in messages
    )
    enum = next(f for f in findings if "prices[].unit" in f.message)
    assert enum.severity == "warning" and "FAL allows any value" in enum.message


def test_an_index_only_upstream_operation_is_found_but_not_compared(
    write_spec: SpecWriter,
) -> None:
    spec = minimal()
    spec["paths"]["/models/usage"] = spec["paths"].pop("/models/pricing")
    findings = _upstream(write_spec, spec)
    rules = sorted(f.rule for f in findings)
    # /models/usage exists upstream (in the index): not missing, only not compared in detail
    assert "upstream-path" not in rules
    assert rules == ["upstream-detail"]
