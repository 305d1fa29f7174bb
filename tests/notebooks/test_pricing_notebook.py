"""The shipped pricing_analysis notebook (papermill, on the sandbox) and its views; strict nbval
is in test_catalog_notebook.py, for every workbook notebook.

When the sandbox catalog changes on purpose, refresh the stored outputs with:

    MPC_SOURCE=sandbox MPC_OUTPUTS_DIR=$(mktemp -d) .venv/bin/jupyter nbconvert --to notebook \
        --execute --inplace --ExecutePreprocessor.store_widget_state=False \
        --ExecutePreprocessor.record_timing=False notebooks/pricing_analysis.ipynb
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from workbook import HeadlessRun

from mpc_lib.config import Settings
from mpc_lib.errors import ConfigError
from mpc_lib.pricing import PriceBook, estimate_lines, price_changes, views
from mpc_lib.pricing.mix import JobMix
from mpc_lib.registry import RegistryDiff, RegistryStore
from mpc_lib.runs import SHIPPED_NOTEBOOKS_DIR, run_notebook

NOTEBOOK = SHIPPED_NOTEBOOKS_DIR / "pricing_analysis.ipynb"


def test_pricing_analysis_runs_headless_on_a_fresh_sandbox_workbook(
    headless_runs: Callable[[str], HeadlessRun],
) -> None:
    """A clean clone: no registry yet, so the notebook syncs the sandbox first."""
    run = headless_runs("pricing_analysis")  # the session's run, in a workbook of its own

    assert (run.outputs / "registry" / "models.json").is_file()
    manifest = run.manifest
    assert manifest["status"] == "ok"
    assert manifest["parameters"] == {
        "categories": ["text-to-image", "image-to-video", "text-to-video", "llm"]
    }
    assert run.result["sources"] == {"fal": "sandbox", "comet": "sandbox"}
    html = run.html_path.read_text(encoding="utf-8")
    assert "FAL estimate (unit_price, sandbox)" in html and "agree (within a cent)" in html
    assert "SYNTHETIC prices" in html
    assert "Plotly.newPlot" in html


def test_a_bad_parameter_is_refused_before_the_kernel_starts(tmp_path: Path) -> None:
    settings = Settings(outputs_dir=tmp_path / "outputs", source="sandbox")
    with pytest.raises(ConfigError, match="parameter categories"):
        run_notebook("pricing_analysis", {"categories": '{"not": "a list"}'}, settings=settings)
    assert not (tmp_path / "outputs").exists()



# --- the views, on a small hand-written registry ---------------------------------------


def _record(provider: str, model_id: str, unit: str | None, price: float | None, **kw: Any) -> Any:
    pricing = None
    if unit is not None:
        pricing = {"unit_price": price, "unit": unit, "currency": "USD",
                   "output_unit_price": kw.get("output")}  # fmt: skip
    return {"provider": provider, "model_id": model_id, "display_name": model_id,
            "category": kw.get("category"), "pricing": pricing, "meta": {}}  # fmt: skip


@pytest.fixture
def book() -> PriceBook:
    sources = {"fal": {"source": "sandbox", "prices": "generated", "fetched_at": "2026-11-01"}}
    return PriceBook({
        "generated_at": "2026-11-01",
        "sources": sources,
        "models": [
            _record("fal", "i/a", "image", 0.02, category="text-to-image"),
            _record("fal", "i/b", "image", 0.04, category="text-to-image"),
            _record("fal", "i/mp", "megapixels", 0.01, category="text-to-image"),
            _record("fal", "v/s", "video_second", 0.2, category="text-to-video"),
            _record("fal", "i/none", None, None, category="text-to-image"),
            _record("comet", "chat", "1M tokens", 2.0, output=8.0, category="llm"),
        ],
    })  # fmt: skip


def test_estimate_frame_has_rows_subtotals_and_a_marked_total(book: PriceBook) -> None:
    mix = JobMix.from_data({"lines": [
        {"model": "i/a", "units": 10},
        {"model": "chat", "input_tokens": 1_000_000, "output_tokens": 500_000},
        {"model": "i/none", "units": 1},
    ]})  # fmt: skip
    frame = views.estimate_frame(estimate_lines(book, mix))
    assert frame["model"].tolist() == [
        "fal:i/a",
        "comet:chat",
        "fal:i/none",
        "per_token subtotal",
        "per_unit subtotal",
        "TOTAL (INCOMPLETE: 1 unpriced) USD",
    ]
    assert frame["cost"].tolist()[:2] == pytest.approx([0.2, 6.0])
    assert frame["cost"].iloc[-1] == pytest.approx(6.2)
    assert frame["missing"].tolist()[2] == "no price in the registry"


def test_price_distribution_is_per_unit_on_a_log_axis(book: PriceBook) -> None:
    figure = views.price_distribution_figure(book, ["text-to-image"])
    assert figure.layout.yaxis.type == "log"
    traces = {trace.name: sorted(trace.y) for trace in figure.data}
    assert traces == {"per image": [0.02, 0.04], "per megapixel": [0.01]}


def test_changes_timeline_figure_and_frame(tmp_path: Path) -> None:
    store = RegistryStore(tmp_path / "outputs")
    from datetime import UTC, datetime, timedelta

    for day, price in enumerate((0.1, 0.15)):
        moment = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day)
        registry = {"generated_at": moment.isoformat(), "sources": {},
                    "models": [_record("fal", "i/a", "image", price)]}  # fmt: skip
        store.commit(registry, RegistryDiff(), moment=moment)
    changes = price_changes(Settings(outputs_dir=tmp_path / "outputs"))
    figure = views.changes_timeline_figure(changes)
    (trace,) = figure.data
    assert trace.name == "up" and list(trace.y) == pytest.approx([50.0])
    frame = views.changes_frame(changes)
    assert frame[["kind", "model"]].values.tolist() == [["up", "fal:i/a"]]


def test_the_cost_calculator_adds_lines_and_totals(book: PriceBook) -> None:
    calc = views.cost_calculator(book)
    assert "fal:i/none" not in calc.model.options  # only priced models to pick from
    calc.model.value = "fal:i/a"
    assert calc.units.layout.display is None and calc.input_tokens.layout.display == "none"
    assert "priced per image" in calc.unit.value
    calc.units.value = 3
    calc.calls.value = 10
    calc.add.click()
    assert "total: 0.6000 USD" in calc.total.value and "fal:i/a" in calc.table.value

    calc.model.value = "comet:chat"  # a token model: token fields replace units
    assert calc.units.layout.display == "none" and calc.input_tokens.layout.display is None
    calc.input_tokens.value = 1000
    calc.output_tokens.value = 500
    calc.calls.value = 1000
    calc.add.click()
    assert calc.estimate is not None and len(calc.estimate.lines) == 2
    assert "total: 6.6000 USD" in calc.total.value  # 0.6 + 1M x 2 + 0.5M x 8

    calc.model.value = "fal:i/nope"
    calc.add.click()
    assert "unknown model 'fal:i/nope'" in calc.message.value
    assert "total: 6.6000 USD" in calc.total.value  # a bad line changes nothing

    calc.clear.click()
    assert calc.lines == [] and "total: 0 USD" in calc.total.value
