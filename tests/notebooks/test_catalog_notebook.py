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

import pytest

from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError
from mpc_lib.runs import SHIPPED_NOTEBOOKS_DIR, run_notebook

NOTEBOOK = SHIPPED_NOTEBOOKS_DIR / "catalog_sync.ipynb"
REPO_ROOT = Path(__file__).resolve().parents[2]


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
    assert manifest["sources"] == result.sources == {"fal": "sandbox", "comet": "sandbox"}


def test_opened_from_notebooks_it_uses_the_workbook_env_and_outputs(tmp_path: Path) -> None:
    """As JupyterLab runs it: kernel in notebooks/, no MPC_* variables, only the workbook's .env."""
    book = tmp_path / "book"
    (book / "notebooks").mkdir(parents=True)
    (book / "pyproject.toml").write_text('[project]\nname = "my-ops"\n\n[tool.mpc]\n')
    (book / ".env").write_text("MPC_SOURCE=sandbox\nMPC_OUTPUTS_DIR=ops-outputs\n")
    (book / "notebooks" / "catalog_sync.ipynb").write_bytes(NOTEBOOK.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPC_", "FAL_", "COMET"))}
    env["FAL_KEY"] = "would-go-live-without-the-env-file"
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         "--output", str(tmp_path / "executed.ipynb"), "catalog_sync.ipynb"],
        cwd=book / "notebooks", env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    registry = json.loads((book / "ops-outputs" / "registry" / "models.json").read_text())
    assert {entry["source"] for entry in registry["sources"].values()} == {"sandbox"}
    assert not (book / "notebooks" / "outputs").exists()
    assert not (book / "notebooks" / "ops-outputs").exists()


def test_a_misspelt_source_is_refused_before_the_kernel_starts(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path / "outputs")
    with pytest.raises(ConfigError, match="parameter source='sanbox': expected one of"):
        run_notebook("catalog_sync", {"source": "sanbox"}, settings=settings)
    assert not (tmp_path / "outputs").exists()


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
