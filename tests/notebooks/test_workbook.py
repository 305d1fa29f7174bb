"""Every workbook notebook runs headless through `mpc run`, is indexed, and leaves a small
offline report (that it renders with the network blocked: test_jupyterlab_browser.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mpc_lib.runs import RunIndex
from test_reports import MAX_REPORT_BYTES, local_scripts, network_references
from workbook import NOTEBOOKS_DIR, WORKBOOK, service_env


def test_every_notebook_in_notebooks_is_covered() -> None:
    shipped = {path.stem for path in NOTEBOOKS_DIR.glob("*.ipynb")}
    assert shipped == set(WORKBOOK), "add the new notebook to WORKBOOK in tests/notebooks/workbook.py"


@pytest.mark.parametrize("name", sorted(WORKBOOK))
def test_runs_headless_is_indexed_and_has_a_small_offline_report(
    name: str, tmp_path: Path, widget_renderer: Path, request: pytest.FixtureRequest
) -> None:
    case = WORKBOOK[name]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPC_", "FAL_", "COMET"))}
    env.update(MPC_SOURCE="sandbox", MPC_OUTPUTS_DIR=str(tmp_path / "out"))
    env.update(service_env(case, request))
    params = [arg for key, value in case.parameters.items() for arg in ("-p", key, value)]
    done = subprocess.run(
        [sys.executable, "-m", "mpc_lib.cli", "run", name, *params, "--json"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])

    record = RunIndex(tmp_path / "out" / "runs").get(result["run_id"])
    assert record.status == "ok" and record.notebook == name
    if case.sources:
        assert record.sources and set(record.sources.values()) == {"sandbox"}
    assert record.outputs == result["outputs"] and record.git_sha
    html_path = Path(result["outputs"]["html"])
    html = html_path.read_text(encoding="utf-8")
    assert html_path.stat().st_size <= MAX_REPORT_BYTES
    assert network_references(html) == []
    assert all(path.is_file() for path in local_scripts(html_path))
    assert ("Plotly.newPlot" in html) == case.chart
    assert ('application/vnd.jupyter.widget-state+json' in html) == case.widget
    for text in case.text:
        assert text in html
