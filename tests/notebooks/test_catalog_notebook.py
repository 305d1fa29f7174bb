"""The shipped catalog_sync notebook: a papermill smoke run and an nbval check, both on the sandbox.

When the sandbox catalog changes on purpose, refresh the stored outputs with:

    MPC_SOURCE=sandbox MPC_OUTPUTS_DIR=$(mktemp -d) .venv/bin/jupyter nbconvert --to notebook \
        --execute --inplace --ExecutePreprocessor.store_widget_state=False \
        --ExecutePreprocessor.record_timing=False notebooks/catalog_sync.ipynb
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mpc_lib.config import Settings
from mpc_lib.runs import NOTEBOOKS_DIR, REPO_ROOT, run_notebook

NOTEBOOK = NOTEBOOKS_DIR / "catalog_sync.ipynb"


def test_catalog_sync_runs_headless_against_the_sandbox(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path / "outputs", source="sandbox")

    result = run_notebook("catalog_sync", {"allow_partial": "false"}, settings=settings)

    registry_path = tmp_path / "outputs" / "registry" / "models.json"
    registry = json.loads(registry_path.read_text(encoding="utf-8"))
    assert {entry["source"] for entry in registry["sources"].values()} == {"sandbox"}
    assert result.output_path.is_file()
    html = result.html_path.read_text(encoding="utf-8")
    for provider, count in registry["counts"].items():
        assert f"{provider}={count}" in html
    assert "Plotly.newPlot" in html  # the chart is drawn from an inlined plotly.js, offline
    assert 'src="https://cdn.plot.ly' not in html
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert manifest["status"] == "ok"
    assert manifest["parameters"] == {"allow_partial": False}


def test_catalog_sync_passes_nbval_lax(tmp_path: Path) -> None:
    env = {**os.environ, "MPC_SOURCE": "sandbox", "MPC_OUTPUTS_DIR": str(tmp_path / "outputs")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            str(NOTEBOOK),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
    assert (tmp_path / "outputs" / "registry" / "models.json").is_file()
