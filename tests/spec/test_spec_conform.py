"""Stage 4: records against the response schemas: enum drift, missing fields, --fix-enums."""

from __future__ import annotations

from pathlib import Path

import pytest
from seam import records as load_records
from spec_fixtures import HUB_SPEC, SpecWriter, minimal

from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError, RegistryError
from mpc_lib.spec import RecordSet, check_conformance, fix_enums, load_spec

# The 11 FAL categories the 2025 snapshot has and the old hub's enum lacks, with their counts.
DRIFT_2025 = {
    "training": 17, "audio-to-audio": 10, "speech-to-text": 8, "audio-to-video": 5,
    "3d-to-3d": 3, "video-to-audio": 3, "json": 3, "speech-to-speech": 2, "text-to-json": 1,
    "text-to-3d": 1, "image-to-json": 1,
}  # fmt: skip


def test_the_old_spec_drifts_from_the_2025_snapshot(
    seed_spec: Path, seed_registry: Path, tmp_path: Path
) -> None:
    records = load_records(Settings(home=tmp_path), seed_registry)
    assert records.counts() == {"fal.models": 866, "comet.models": 568}
    result = check_conformance(load_spec(seed_spec), records)
    drift = [f for f in result.findings if f.rule == "conform-enum-drift"]
    assert len(drift) == 2  # the FalModel schema's enum and the listing's category parameter
    schema, parameter = sorted(drift, key=lambda f: "parameter" in f.message)
    assert schema.details["field"] == "metadata.category"
    assert schema.details["missing"] == DRIFT_2025
    assert "54 records" in schema.message
    assert (
        schema.pointer
        == "/components/schemas/FalModel/properties/metadata/properties/category/enum"
    )
    assert parameter.pointer.startswith("/paths/~1fal~1models/get/parameters/")
    assert parameter.details["missing"] == DRIFT_2025
    assert result.details["checked"]["fal.models"]["matched_by"] == "last path segment"
    assert result.details["checked"]["fal.models"]["conforming"] == 866 - 54


def test_fix_enums_writes_a_spec_the_data_conforms_to(
    seed_spec: Path, seed_registry: Path, tmp_path: Path
) -> None:
    records = load_records(Settings(home=tmp_path), seed_registry)
    document = load_spec(seed_spec)
    result = check_conformance(document, records)
    fixed_path = fix_enums(document, result, tmp_path / "fixed.json")
    fixed = load_spec(fixed_path)
    assert check_conformance(fixed, records).findings == []
    enum = fixed.data["components"]["schemas"]["FalModel"]["properties"]["metadata"]["properties"][
        "category"
    ]["enum"]
    assert set(DRIFT_2025) <= set(enum) and len(enum) == 10 + 11
    assert load_spec(seed_spec).data == document.data  # the input spec is untouched
    yaml_path = fix_enums(document, result, tmp_path / "fixed.yaml")
    assert load_spec(yaml_path).data == fixed.data


def test_the_hub_spec_conforms_to_the_2025_snapshot(seed_registry: Path, tmp_path: Path) -> None:
    records = load_records(Settings(home=tmp_path), seed_registry)
    result = check_conformance(load_spec(HUB_SPEC), records)
    assert result.findings == []
    assert result.details["checked"]["fal.models"]["conforming"] == 866
    assert result.details["checked"]["comet.models"]["matched_by"] == "server + path"


def test_the_hub_spec_conforms_to_the_sandbox_over_http(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path, source="sandbox")
    records = load_records(settings, "sandbox")
    assert records.sources == {"fal": "sandbox", "comet": "sandbox"}
    assert all(count > 500 for count in records.counts().values())
    result = check_conformance(load_spec(HUB_SPEC), records)
    assert result.findings == []
    assert set(result.details["checked"]) == {
        "fal.models", "fal.prices", "comet.models", "comet.catalog",
    }  # fmt: skip


def test_missing_required_fields_and_wrong_types_are_counted(write_spec: SpecWriter) -> None:
    spec = minimal()
    spec["components"]["schemas"]["Price"]["properties"]["currency"]["enum"] = ["USD"]
    prices = [
        {"endpoint_id": "a", "unit_price": 1.0, "unit": "image", "currency": "USD"},
        {"endpoint_id": "b", "unit_price": 1.0, "currency": "USD"},
        {"endpoint_id": "c", "unit_price": "free", "unit": "image", "currency": "EUR"},
        {"endpoint_id": "d", "unit_price": 2.0, "currency": "EUR"},
    ]
    records = RecordSet("test", {"fal.prices": prices, "comet.models": [{"id": "x"}]})
    result = check_conformance(load_spec(write_spec(spec)), records)
    by_rule = {f.rule: f for f in result.findings}
    missing = by_rule["conform-required"]
    assert missing.details == {"field": "unit", "count": 2, "total": 4, "examples": ["b", "d"]}
    assert missing.pointer == "/components/schemas/Price/required"
    wrong = by_rule["conform-schema"]
    assert (wrong.details["field"], wrong.details["keyword"], wrong.details["count"]) == (
        "unit_price", "type", 1,
    )  # fmt: skip
    drift = by_rule["conform-enum-drift"]
    assert drift.details["missing"] == {"EUR": 2}
    assert drift.details["examples"] == {"EUR": ["c", "d"]}
    unbound = by_rule["conform-unbound"]
    assert unbound.severity == "info" and "GET https://api.cometapi.com/v1/models" in (
        unbound.message
    )
    assert result.details["checked"]["fal.prices"]["conforming"] == 1


def test_bad_data_sources_are_config_errors(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path)
    with pytest.raises(RegistryError, match="no registry yet"):  # a missing registry: exit 5
        load_records(settings, "registry")
    with pytest.raises(ConfigError, match="expected auto, live, sandbox, gateway, registry or a"):
        load_records(settings, "sandbx")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_records(settings, bad)
