"""Every workbook notebook runs headless through `mpc run`, is indexed, and leaves a small
offline report (that it renders with the network blocked: test_jupyterlab_browser.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from test_reports import MAX_REPORT_BYTES, local_scripts, network_references
from workbook import NOTEBOOKS_DIR, WORKBOOK, HeadlessRun

from mpc_lib.runs import RunIndex


def test_every_notebook_in_notebooks_is_covered() -> None:
    shipped = {path.stem for path in NOTEBOOKS_DIR.glob("*.ipynb")}
    assert shipped == set(WORKBOOK), "add the notebook to WORKBOOK in tests/notebooks/workbook.py"


@pytest.mark.parametrize("name", sorted(WORKBOOK))
def test_runs_headless_is_indexed_and_has_a_small_offline_report(
    name: str, headless_runs: Callable[[str], HeadlessRun]
) -> None:
    case = WORKBOOK[name]
    run = headless_runs(name)
    result = run.result

    record = RunIndex(run.outputs / "runs").get(result["run_id"])
    assert record.status == "ok" and record.notebook == name
    if case.sources:
        assert record.sources and set(record.sources.values()) == {"sandbox"}
    assert record.outputs == result["outputs"] and record.git_sha
    html_path = run.html_path
    html = html_path.read_text(encoding="utf-8")
    assert html_path.stat().st_size <= MAX_REPORT_BYTES
    assert network_references(html) == []
    assert all(path.is_file() for path in local_scripts(html_path))
    assert ("Plotly.newPlot" in html) == case.chart
    assert ("application/vnd.jupyter.widget-state+json" in html) == case.widget
    for text in case.text:
        assert text in html
    assert f"<title>{name}: ok</title>" in html
    # nothing on stderr but what mpc itself says: no papermill noise about parameters
    assert "Passed unknown parameter" not in run.stderr and "Traceback" not in run.stderr
