"""Stage 2: each lint rule fires on what it guards, at the severity openapi/lint.toml sets."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from spec_fixtures import HUB_SPEC, REPO_ROOT, SpecWriter, minimal

from mpc_lib.errors import ConfigError
from mpc_lib.spec import LINT_RULES, LintConfig, lint_spec, load_spec

OP = "/paths/~1models~1pricing/get"


def _lint(write_spec: SpecWriter, spec: dict, config: LintConfig | None = None) -> list:
    return lint_spec(load_spec(write_spec(spec)), config).findings


def _rules(findings: list) -> list[str]:
    return sorted(f.rule for f in findings)


def test_the_hub_spec_lints_clean_with_the_shipped_config() -> None:
    config = LintConfig.load(REPO_ROOT / "openapi" / "lint.toml")
    assert lint_spec(load_spec(HUB_SPEC), config).findings == []


def test_the_shipped_config_lists_every_rule_at_its_default() -> None:
    shipped = tomllib.loads((REPO_ROOT / "openapi" / "lint.toml").read_text())["rules"]
    assert shipped == {rule.id: rule.severity for rule in LINT_RULES.values()}


def test_a_clean_small_spec_has_no_findings(write_spec: SpecWriter) -> None:
    assert _lint(write_spec, minimal()) == []


def test_operation_rules(write_spec: SpecWriter) -> None:
    spec = minimal()
    item = spec["paths"]["/models/pricing"]
    spec["paths"]["/models/pricing/copy"] = {
        "servers": item["servers"],
        "get": {**item["get"], "summary": " ", "tags": []},
    }
    del item["get"]["responses"]
    findings = _lint(write_spec, spec)
    assert _rules(findings) == [
        "operation-id-unique",
        "operation-responses",
        "operation-summary",
        "operation-tags",
    ]
    duplicate = next(f for f in findings if f.rule == "operation-id-unique")
    assert duplicate.pointer == "/paths/~1models~1pricing~1copy/get/operationId"
    assert "also used by GET /models/pricing" in duplicate.message


def test_servers_and_doubled_segments(write_spec: SpecWriter) -> None:
    spec = minimal()
    spec["paths"]["/v1/models/pricing"] = spec["paths"].pop("/models/pricing")
    spec["paths"]["/nowhere"] = {"get": {**spec["paths"]["/v1/models/pricing"]["get"],
                                         "operationId": "nowhere"}}  # fmt: skip
    findings = _lint(write_spec, spec)
    doubled = next(f for f in findings if f.rule == "server-path-doubled-segment")
    assert "https://api.fal.ai/v1 + /v1/models/pricing joins into /v1/v1/models/pricing" in (
        doubled.message
    )
    assert (
        next(f for f in findings if f.rule == "servers-defined").pointer == "/paths/~1nowhere/get"
    )


def test_security_schemes_declared_and_used(write_spec: SpecWriter) -> None:
    spec = minimal()
    spec["paths"]["/models/pricing"]["get"]["security"] = [{"FalAuth": []}]
    findings = _lint(write_spec, spec)
    assert _rules(findings) == ["security-schemes-declared", "security-schemes-used"]
    declared = next(f for f in findings if f.rule == "security-schemes-declared")
    assert declared.pointer == f"{OP}/security/0/FalAuth"
    assert "known: FalKey" in declared.message


def test_unused_components_are_found_through_references(write_spec: SpecWriter) -> None:
    spec = minimal()
    schemas = spec["components"]["schemas"]
    schemas["Orphan"] = {
        "type": "object",
        "properties": {"x": {"$ref": "#/components/schemas/Leaf"}},
    }
    schemas["Leaf"] = {"type": "string"}
    findings = _lint(write_spec, spec)
    # Leaf is referenced, but only from Orphan, which nothing uses: both are unused
    assert sorted(f.pointer for f in findings) == [
        "/components/schemas/Leaf",
        "/components/schemas/Orphan",
    ]
    assert {f.rule for f in findings} == {"no-unused-components"}


def test_path_parameters_declared_required_and_in_the_path(write_spec: SpecWriter) -> None:
    spec = minimal()
    item = spec["paths"].pop("/models/pricing")
    item["get"]["parameters"] += [
        {"name": "ghost", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "owner", "in": "path", "schema": {"type": "string"}},
    ]
    spec["paths"]["/models/{owner}/{name}/pricing"] = item
    messages = sorted(
        f.message for f in _lint(write_spec, spec) if f.rule == "path-params-declared"
    )
    assert len(messages) == 3
    assert any("{name} is not declared" in m for m in messages)
    assert any("'ghost' is not in the path" in m for m in messages)
    assert any("'owner' must be required: true" in m for m in messages)


def test_examples_must_match_their_schemas(write_spec: SpecWriter) -> None:
    spec = minimal()
    media = spec["paths"]["/models/pricing"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]
    media["example"]["prices"][0]["unit_price"] = "cheap"
    spec["components"]["schemas"]["Price"]["properties"]["currency"]["example"] = "EURO"
    path = write_spec(spec)
    findings = lint_spec(load_spec(path)).findings
    assert _rules(findings) == ["examples-valid", "examples-valid"]
    by_pointer = {f.pointer: f for f in findings}
    body = by_pointer[f"{OP}/responses/200/content/application~1json/example"]
    assert "at prices/0/unit_price: 'cheap' is not of type 'number'" in body.message
    currency = by_pointer["/components/schemas/Price/properties/currency/example"]
    assert "'EURO' is too long" in currency.message
    assert '"example": "EURO"' in path.read_text().splitlines()[currency.line - 1]


def test_severities_come_from_the_config(tmp_path: Path, write_spec: SpecWriter) -> None:
    spec = minimal()
    spec["paths"]["/models/pricing"]["get"]["summary"] = ""
    del spec["paths"]["/models/pricing"]["get"]["tags"]
    config_path = tmp_path / "lint.toml"
    config_path.write_text('[rules]\noperation-summary = "error"\noperation-tags = "off"\n')
    findings = _lint(write_spec, spec, LintConfig.load(config_path))
    assert [(f.rule, f.severity) for f in findings] == [("operation-summary", "error")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[rules]\nno-such-rule = "error"\n', "unknown lint rule 'no-such-rule'"),
        ('[rules]\noperation-tags = "fatal"\n', "expected error, warning, info or off"),
        ("[rules\n", "not valid TOML"),
        ("[style]\nx = 1\n", "unknown table(s) style; expected [rules]"),
    ],
)
def test_a_bad_config_is_a_config_error_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "lint.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"lint\.toml") as caught:
        LintConfig.load(path)
    assert message in str(caught.value)
