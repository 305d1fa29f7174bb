"""The shipped spec_validation notebook: papermill runs (dry run, push) on the sandbox; strict
nbval is in test_catalog_notebook.py, for every workbook notebook.

Its stored outputs are only the checked cell's; refresh it with:

    MPC_SOURCE=sandbox MPC_OUTPUTS_DIR=$(mktemp -d) .venv/bin/jupyter nbconvert --to notebook \
        --execute --inplace --ExecutePreprocessor.store_widget_state=False \
        --ExecutePreprocessor.record_timing=False notebooks/spec_validation.ipynb
    (then clear every output but the cell marked NBVAL_CHECK_OUTPUT: they hold local paths)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from workbook import HeadlessRun

from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError, NotebookError
from mpc_lib.runs import SHIPPED_NOTEBOOKS_DIR, run_notebook

NOTEBOOK = SHIPPED_NOTEBOOKS_DIR / "spec_validation.ipynb"


def test_a_dry_run_reports_findings_drift_and_the_push_plan(
    headless_runs: Callable[[str], HeadlessRun],
) -> None:
    run = headless_runs("spec_validation")  # the session's run: `-p data_source sandbox`
    manifest = run.manifest
    assert manifest["status"] == "ok"
    assert manifest["parameters"] == {"data_source": "sandbox"}
    assert run.result["sources"] == {"fal": "sandbox", "comet": "sandbox", "apidog": "sandbox"}
    html = run.html_path.read_text(encoding="utf-8")
    assert "gate: passed (0 errors)" in html
    assert "Enum drift: none" in html and "Plotly.newPlot" in html
    assert "dry run: nothing sent" in html
    assert not (run.outputs / "apidog" / "backups").exists()


def test_apidog_push_true_backs_up_and_imports(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path / "outputs", source="sandbox")
    result = run_notebook(
        "spec_validation", {"data_source": "sandbox", "apidog_push": "true"}, settings=settings
    )
    assert "applied" in result.html_path.read_text(encoding="utf-8")
    assert len(list((tmp_path / "outputs" / "apidog" / "backups").iterdir())) == 1
    projects = json.loads(
        (tmp_path / "outputs" / "apidog" / "sandbox-projects.json").read_text(encoding="utf-8")
    )
    assert len(projects["1000001"]["paths"]) == 19  # 6 provider paths + 13 of MPC-API


def test_a_failing_spec_is_shown_and_never_pushed(tmp_path: Path, shared_dir: Path) -> None:
    seed = shared_dir / "seed-data"
    if not (seed / "api-hub.oas.json").is_file() or not (seed / "model_registry.json").is_file():
        pytest.skip("../shared/seed-data is not complete")
    settings = Settings(outputs_dir=tmp_path / "outputs", source="sandbox")
    params = {"spec_path": str(seed / "api-hub.oas.json"),
              "data_source": str(seed / "model_registry.json")}  # fmt: skip
    result = run_notebook("spec_validation", params, settings=settings)
    html = result.html_path.read_text(encoding="utf-8")
    assert "gate: FAILED" in html and "conform-enum-drift" in html and "training" in html
    assert "refused" in html or "fails the gate" in html
    with pytest.raises(NotebookError, match="SpecRejected"):
        run_notebook("spec_validation", {**params, "apidog_push": "true"}, settings=settings)
    assert not (tmp_path / "outputs" / "apidog" / "backups").exists()


def test_parameters_are_typed(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path / "outputs")
    with pytest.raises(ConfigError, match="apidog_push"):
        run_notebook("spec_validation", {"apidog_push": "maybe"}, settings=settings)
