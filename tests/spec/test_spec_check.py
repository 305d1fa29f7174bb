"""The gate: every stage in order, one verdict; the old hub spec fails it for the right reasons."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from seam import data_upstreams
from spec_fixtures import HUB_SPEC, SpecWriter

from mpc_lib.config import Settings
from mpc_lib.errors import SpecError
from mpc_lib.spec import STAGES, check_spec, load_spec


def test_the_hub_spec_passes_the_gate_on_sandbox_data(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path, source="sandbox")
    with data_upstreams(settings, "auto") as data:
        report = check_spec(HUB_SPEC, settings=settings, data=data, baseline=HUB_SPEC)
    assert [stage.stage for stage in report.stages] == list(STAGES)
    assert report.passed and report.exit_code == 0
    assert report.counts()["error"] == report.counts()["warning"] == 0
    assert [stage.status for stage in report.stages] == ["pass"] * 5
    assert report.stage("conform").details["sources"] == {"fal": "sandbox", "comet": "sandbox"}


def test_the_old_hub_spec_fails_on_paths_auth_and_category_drift(
    seed_spec: Path, seed_registry: Path, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path)
    with data_upstreams(settings, seed_registry) as data:
        report = check_spec(seed_spec, settings=settings, data=data)
    assert not report.passed and report.exit_code == 1
    rules = {(f.stage, f.rule) for f in report.blocking}
    assert ("upstream", "upstream-path") in rules
    assert ("upstream", "upstream-auth") in rules
    assert ("conform", "conform-enum-drift") in rules
    auth = next(f for f in report.blocking if f.rule == "upstream-auth")
    assert "FalAuth" in auth.message
    drift = next(f for f in report.blocking if f.rule == "conform-enum-drift")
    assert "training" in drift.details["missing"]
    assert report.stage("diff").status == "skipped"
    assert "upstream" in report.reason() and "conform" in report.reason()


def test_breaking_changes_fail_the_gate_unless_allowed(
    tmp_path: Path, write_spec: SpecWriter
) -> None:
    new = copy.deepcopy(load_spec(HUB_SPEC).data)
    del new["paths"]["/v1/chat/completions"]
    del new["components"]["schemas"]["ChatCompletionRequest"]
    del new["components"]["schemas"]["ChatCompletion"]
    del new["components"]["schemas"]["ChatMessage"]
    path = write_spec(new, "new.json")
    settings = Settings(outputs_dir=tmp_path)
    report = check_spec(path, settings=settings, data=None, baseline=HUB_SPEC)
    assert [f.rule for f in report.blocking] == ["path-removed"]
    allowed = check_spec(path, settings=settings, data=None, baseline=HUB_SPEC, allow_breaking=True)
    assert allowed.passed and allowed.stage("diff").errors  # still reported, just not blocking
    assert (report.stage("diff").status, allowed.stage("diff").status) == ("fail", "allowed")
    assert report.stage("conform").skipped == "no data source given"


def test_records_that_cannot_be_loaded_fail_the_conform_stage(tmp_path: Path) -> None:
    bad = tmp_path / "registry.json"
    bad.write_text(json.dumps({"models": [{"provider": "openai"}]}))
    settings = Settings(outputs_dir=tmp_path)
    with data_upstreams(settings, bad) as data:
        report = check_spec(HUB_SPEC, settings=settings, data=data)
    [finding] = report.stage("conform").findings
    assert finding.rule == "conform-data" and "could not load records" in finding.message
    assert not report.passed


def test_an_unreadable_spec_is_a_spec_error_not_a_report(
    write_spec: SpecWriter, tmp_path: Path
) -> None:
    with pytest.raises(SpecError, match=r"spec\.json:1:2: invalid JSON"):
        check_spec(write_spec("{]"), settings=Settings(home=tmp_path), data=None)
