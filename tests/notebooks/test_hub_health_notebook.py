"""The hub_health notebook on the sandbox (papermill) and the views it shows; strict nbval is in
test_catalog_notebook.py, for every workbook notebook."""

from __future__ import annotations

import json
from pathlib import Path

from seam import sync

from mpc_lib.config import Settings
from mpc_lib.health import HealthReport, HealthRow, read_history
from mpc_lib.health import views as health_views
from mpc_lib.runs import SHIPPED_NOTEBOOKS_DIR, run_notebook

NOTEBOOK = SHIPPED_NOTEBOOKS_DIR / "hub_health.ipynb"


def test_hub_health_runs_headless_and_records_its_run(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path / "outputs", source="sandbox")
    sync(settings)
    result = run_notebook("hub_health", {"history_runs": "5"}, settings=settings)
    html = result.html_path.read_text(encoding="utf-8")
    assert "overall: ok in" in html
    assert result.sources == {"fal": "sandbox", "comet": "sandbox"}
    history = read_history(tmp_path / "outputs")
    assert len(history) == 1 and history[0]["status"] == "ok"



def _report() -> HealthReport:
    rows = [
        HealthRow(check="fal.models", group="providers", status="ok", reason="862 models listed",
                  latency_s=0.1),
        HealthRow(check="registry.age", group="registry", status="warn", reason="old",
                  latency_s=0.0),
        HealthRow(check="api.health", group="api", status="skip", reason="not configured"),
    ]  # fmt: skip
    return HealthReport(checked_at="2026-01-02T03:04:05+00:00", duration_s=0.2, rows=rows)


def test_status_table_colours_each_status() -> None:
    html = health_views.status_table(_report()).to_html()
    assert html.count(health_views.STATUS_COLOURS["warn"]) == 1
    assert "862 models listed" in html and "not configured" in html


def test_latency_and_history_figures() -> None:
    report = _report()
    figure = health_views.latency_figure(report)
    assert list(figure.data[0].y) == ["fal.models", "registry.age"]  # no latency, no bar
    entries = [json.loads(json.dumps(report.model_dump(mode="json")))] * 3
    frame = health_views.history_frame(entries)
    assert len(frame) == 9 and set(frame["status"]) == {"ok", "warn", "skip"}
    history = health_views.history_figure(entries)
    assert {trace.name for trace in history.data} == {"ok", "warn", "skip"}
