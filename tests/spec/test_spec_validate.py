"""Stage 1: $refs, cycles, version features and openapi-spec-validator, each placed in the file."""

from __future__ import annotations

import copy

from spec_fixtures import HUB_SPEC, SpecWriter, minimal

from mpc_lib.spec import load_spec, validate_spec

RESPONSE_SCHEMA = "/paths/~1models~1pricing/get/responses/200/content/application~1json/schema"


def _findings(write_spec: SpecWriter, spec: dict) -> list:
    return validate_spec(load_spec(write_spec(spec))).findings


def test_the_hub_spec_is_structurally_valid() -> None:
    result = validate_spec(load_spec(HUB_SPEC))
    assert result.findings == []
    assert result.details["validator"] == "openapi-spec-validator"


def test_an_unresolvable_ref_is_named_where_it_is_and_the_validator_is_not_run(
    write_spec: SpecWriter,
) -> None:
    spec = minimal()
    del spec["components"]["schemas"]["Price"]
    path = write_spec(spec)
    result = validate_spec(load_spec(path))
    [finding] = result.findings
    assert finding.rule == "ref-unresolvable" and finding.severity == "error"
    assert "'#/components/schemas/Price' does not resolve" in finding.message
    line = path.read_text().splitlines()[finding.line - 1]
    assert '"$ref": "#/components/schemas/Price"' in line
    assert result.details["validator"].startswith("not run")


def test_ref_cycles_through_refs_and_compositions_are_errors(write_spec: SpecWriter) -> None:
    spec = minimal()
    schemas = spec["components"]["schemas"]
    schemas["A"] = {"$ref": "#/components/schemas/B"}
    schemas["B"] = {"$ref": "#/components/schemas/A"}
    schemas["C"] = {"allOf": [{"$ref": "#/components/schemas/C"}, {"type": "object"}]}
    schemas["Tree"] = {  # recursion through a property is a legal recursive type
        "type": "object",
        "properties": {
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}}
        },
    }
    cycles = [f for f in _findings(write_spec, spec) if f.rule == "ref-cycle"]
    messages = sorted(f.message for f in cycles)
    assert len(cycles) == 2
    assert (
        "#/components/schemas/A -> #/components/schemas/B -> #/components/schemas/A"
        in (messages[0])
    )
    assert "#/components/schemas/C/allOf/0 -> #/components/schemas/C" in messages[1]
    assert all(f.line is not None for f in cycles)


def test_remote_and_external_refs_are_refused_and_never_fetched(write_spec: SpecWriter) -> None:
    spec = minimal()
    op = spec["paths"]["/models/pricing"]["get"]
    op["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "https://schemas.example.invalid/page.json"
    }
    op["responses"]["404"] = {"$ref": "common.yaml#/responses/NotFound"}
    result = validate_spec(load_spec(write_spec(spec)))
    rules = sorted(f.rule for f in result.findings)
    assert rules == ["ref-external", "ref-remote"]
    assert result.details["validator"].startswith("not run")


def test_31_features_in_a_30_document_say_what_to_write_instead(write_spec: SpecWriter) -> None:
    spec = minimal()
    spec["openapi"] = "3.0.3"
    spec["webhooks"] = {}
    price = spec["components"]["schemas"]["Price"]["properties"]
    price["unit_price"] = {"type": "number", "exclusiveMinimum": 0}
    price["currency"] = {"const": "USD"}
    page = spec["components"]["schemas"]["PricePage"]["properties"]
    page["next_cursor"] = {"type": ["string", "null"]}
    findings = _findings(write_spec, spec)
    by_pointer = {f.pointer: f for f in findings}
    nullable = by_pointer["/components/schemas/PricePage/properties/next_cursor/type"]
    assert nullable.rule == "oas31-in-30" and nullable.severity == "error"
    assert "write type: 'string' with nullable: true" in nullable.message
    assert by_pointer["/webhooks"].rule == "oas31-in-30"
    assert (
        "numeric exclusiveMinimum"
        in by_pointer["/components/schemas/Price/properties/unit_price/exclusiveMinimum"].message
    )
    assert (
        "'const' is an OAS 3.1 feature"
        in by_pointer["/components/schemas/Price/properties/currency/const"].message
    )
    # the validator's own complaint about the same schema is not repeated
    assert not any(f.rule == "oas-structure" and "next_cursor" in f.pointer for f in findings)


def test_nullable_in_a_31_document_is_a_warning(write_spec: SpecWriter) -> None:
    spec = minimal()
    spec["components"]["schemas"]["Price"]["properties"]["unit"]["nullable"] = True
    [finding] = _findings(write_spec, spec)
    assert (finding.rule, finding.severity) == ("oas30-in-31", "warning")


def test_validator_errors_carry_a_pointer_and_a_line(write_spec: SpecWriter) -> None:
    spec = minimal()
    spec["paths"]["/models/pricing"]["get"]["parameters"][0]["in"] = "body"
    spec["paths"]["/other"] = copy.deepcopy(spec["paths"]["/models/pricing"])
    spec["paths"]["/other"]["get"]["parameters"][0]["in"] = "query"
    path = write_spec(spec)
    findings = validate_spec(load_spec(path)).findings
    bad_in = next(f for f in findings if f.pointer.endswith("/parameters/0/in"))
    assert bad_in.rule == "oas-structure" and "body" in bad_in.message
    assert '"in": "body"' in path.read_text().splitlines()[bad_in.line - 1]
    duplicate = next(f for f in findings if "not unique" in f.message)
    assert duplicate.pointer in ("/paths/~1other/get", "/paths/~1models~1pricing/get")
    assert duplicate.line is not None


def test_the_gate_reports_what_openapi_spec_validator_reports(write_spec: SpecWriter) -> None:
    """Each of the validator's errors becomes one finding: none lost, none invented."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    spec = minimal()
    schemas = spec["components"]["schemas"]
    # two clean copies of Price, then a copy with one bad keyword value
    for name in ("Twin", "Triplet"):
        schemas[name] = copy.deepcopy(schemas["Price"])
    schemas["Broken"] = copy.deepcopy(schemas["Price"])
    schemas["Broken"]["properties"]["unit_price"]["minimum"] = "zero"
    schemas["Defaulted"] = {
        "type": "object",
        "properties": {"n": {"type": "integer", "default": "many"}},  # a bad default, nested
    }
    schemas["Composed"] = {  # required names that no part declares
        "allOf": [{"$ref": "#/components/schemas/Price"}],
        "required": ["nowhere"],
    }
    for name in ("Twin", "Triplet", "Broken", "Defaulted", "Composed"):
        spec["paths"]["/models/pricing"]["get"]["responses"][f"2{len(name):02d}"] = {
            "description": name,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    ours = {f.message for f in validate_spec(load_spec(write_spec(spec))).findings}
    theirs = {
        str(error.message).strip().split("\n", 1)[0].strip()
        for error in OpenAPIV31SpecValidator(spec).iter_errors()
    }
    assert ours == theirs
    assert len(ours) == 3  # minimum 'zero', default 'many', required 'nowhere'
