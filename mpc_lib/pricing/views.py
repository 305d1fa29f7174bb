"""Notebook views of the pricing reports: frames, plotly figures, and a cost-calculator widget.

pandas, plotly and ipywidgets are imported inside the functions (the `notebooks` extra),
so `import mpc_lib.pricing` stays light.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError
from ..extras import require
from ..upstreams import kind_label
from ..views import SourcesBanner, new_figure
from .cheapest import CheapestReport
from .drift import DEFAULT_TOLERANCE, DriftReport, gateway_drift
from .estimate import Estimate, estimate_lines
from .history import PriceChanges
from .mix import JobMix
from .prices import PriceBook

__all__ = [
    "CostCalculator",
    "changes_frame",
    "changes_timeline_figure",
    "cheapest_frame",
    "checks_frame",
    "cost_calculator",
    "drift_frame",
    "drift_or_note",
    "estimate_frame",
    "price_distribution_figure",
    "prices_banner",
]

_FEATURE = "pricing views"


def prices_banner(book: PriceBook) -> SourcesBanner:
    """Where the prices came from (SANDBOX/SYNTHETIC said plainly); reports sources to `mpc run`
    (through the gateway, the kind it reached first: `sandbox via gateway`)."""
    sources = {name: kind_label(s.source, s.kind) for name, s in book.sources.items()}
    return SourcesBanner(book.banner(), sources)


def estimate_frame(estimate: Estimate) -> Any:
    """One row per job-mix line, then a subtotal per basis and the total (marked if incomplete)."""
    pd = require("pandas", _FEATURE)
    columns = ["line", "label", "model", "basis", "quantity", "unit", "unit_price",
               "output_unit_price", "cost", "missing"]  # fmt: skip
    rows: list[dict[str, Any]] = [
        {
            "line": line.line.index + 1,
            "label": line.line.label or "",
            "model": line.price.key,
            "basis": line.price.basis or line.line.basis,
            "quantity": line.quantity,
            "unit": line.price.unit,
            "unit_price": line.price.unit_price,
            "output_unit_price": line.price.output_unit_price,
            "cost": line.cost,
            "missing": line.missing or "",
        }
        for line in estimate.lines
    ]
    blank = {"line": "", "label": "", "basis": "", "quantity": "", "unit": None,
             "unit_price": None, "output_unit_price": None, "missing": ""}  # fmt: skip
    for basis, subtotal in sorted(estimate.subtotals().items()):
        rows.append({**blank, "model": f"{basis} subtotal", "basis": basis, "cost": subtotal})
    total = (
        "TOTAL" if estimate.complete else f"TOTAL (INCOMPLETE: {len(estimate.missing)} unpriced)"
    )
    rows.append({**blank, "model": f"{total} {estimate.currency}", "cost": estimate.total})
    return pd.DataFrame(rows, columns=columns)


def checks_frame(estimate: Estimate) -> Any:
    """FAL's estimate against ours, one row per estimate type."""
    pd = require("pandas", _FEATURE)
    columns = ["estimate_type", "status", "asked", "endpoints", "local_total", "api_total",
               "difference", "reason"]  # fmt: skip
    rows = [check.model_dump(mode="json") for check in estimate.checks]
    return pd.DataFrame(rows, columns=columns)


def price_distribution_figure(book: PriceBook, categories: Iterable[str] | None = None) -> Any:
    """Box plots of unit prices per category, one trace per unit, on a log axis."""
    chosen = set(categories) if categories else None
    by_unit: dict[str, tuple[list[str], list[float], list[str]]] = {}
    for price in book.priced:
        if chosen is not None and price.category not in chosen:
            continue
        if price.unit_price is None or price.unit_price <= 0 or not price.known_unit:
            continue  # a log axis has no 0; unknown units are not comparable
        xs, ys, names = by_unit.setdefault(str(price.unit), ([], [], []))
        xs.append(price.category)
        ys.append(price.unit_price)
        names.append(price.key)
    figure = new_figure()
    for unit in sorted(by_unit, key=lambda u: -len(by_unit[u][0])):
        xs, ys, names = by_unit[unit]
        figure.add_box(x=xs, y=ys, name=f"per {unit}", text=names, boxpoints="outliers")
    figure.update_layout(
        title="Unit prices per category (like units side by side)",
        boxmode="group",
        yaxis={"type": "log", "title": "price per unit"},
        xaxis={"title": "category"},
        legend_title_text="unit",
    )
    return figure


def cheapest_frame(report: CheapestReport) -> Any:
    """The top N per category and unit, one row per model."""
    pd = require("pandas", _FEATURE)
    columns = ["category", "unit", "rank", "model", "unit_price", "output_unit_price", "currency"]
    rows = [
        {"category": ranking.category, "unit": group.unit, "rank": rank, "model": price.key,
         "unit_price": price.unit_price, "output_unit_price": price.output_unit_price,
         "currency": group.currency}
        for ranking in report.categories
        for group in ranking.groups
        for rank, price in enumerate(group.ranked[: report.top], start=1)
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def changes_frame(changes: PriceChanges) -> Any:
    """One row per changed model: kind, old -> new, % change and when it changed last."""
    pd = require("pandas", _FEATURE)
    columns = ["when", "kind", "model", "old", "new", "pct"]
    rows = [
        {"when": change.when[-1], "kind": change.kind, "model": change.key,
         "old": change.old.describe(), "new": change.new.describe(), "pct": change.pct}
        for change in changes.changes
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def changes_timeline_figure(changes: PriceChanges) -> Any:
    """Each price change at the time it happened: % change for moves, markers for the rest."""
    by_kind: dict[str, tuple[list[str], list[float], list[str]]] = {}
    for change in changes.changes:
        for moment in change.when:
            xs, ys, texts = by_kind.setdefault(change.kind, ([], [], []))
            xs.append(moment)
            ys.append(change.pct if change.pct is not None else 0.0)
            texts.append(f"{change.key}: {change.old.describe()} -> {change.new.describe()}")
    figure = new_figure()
    for kind, (xs, ys, texts) in sorted(by_kind.items()):
        figure.add_scatter(x=xs, y=ys, mode="markers", name=kind, text=texts)
    # The snapshot names (timestamps) stay out of the figure: `changes_frame` and the
    # report name them, and a chart's JSON should change only with its data.
    title = "Price changes between the snapshots compared"
    if not changes.changes:
        title += f" (none{': ' + changes.note if changes.note else ''})"
    figure.update_layout(
        title=title,
        xaxis={"title": "snapshot time"},
        yaxis={"title": "% change (0 = appeared, disappeared or changed unit)"},
        legend_title_text="change",
    )
    return figure


def drift_frame(report: DriftReport) -> Any:
    """Models whose cost-map price is off (furthest first) or in another unit."""
    pd = require("pandas", _FEATURE)
    columns = ["model", "status", "map_key", "unit", "unit_price", "worst_pct", "ours", "theirs"]
    rows = [
        {"model": row.price.key, "status": row.status, "map_key": row.map_key,
         "unit": row.price.unit, "unit_price": row.price.unit_price, "worst_pct": row.worst_pct,
         "ours": row.ours, "theirs": {k: v for k, v in row.theirs.items() if "cost" in k}}
        for row in report.of("drift") + report.of("unit_mismatch")
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def drift_or_note(book: PriceBook, tolerance: float = DEFAULT_TOLERANCE) -> tuple[str, Any]:
    """(counts line, drift table), or (why not, None) when LiteLLM is not installed."""
    try:
        report = gateway_drift(book, tolerance=tolerance)
    except ConfigError as exc:
        return f"drift report skipped: {exc}", None
    counts = ", ".join(f"{status}: {n}" for status, n in report.counts().items())
    return f"LiteLLM {report.cost_map.version} cost map: {counts}", drift_frame(report)


class CostCalculator:
    """Pick a model, set quantities, add lines, see the total: the same maths as `estimate`."""

    def __init__(self, book: PriceBook, *, currency: str = "USD") -> None:
        widgets = require("ipywidgets", _FEATURE)
        self.book = book
        self.currency = currency
        self.lines: list[dict[str, Any]] = []
        self.estimate: Estimate | None = None
        keys = sorted(price.key for price in book.priced)
        self.model = widgets.Combobox(
            description="model", options=keys, placeholder="provider:model id"
        )
        self.units = widgets.FloatText(description="units", value=1.0)
        self.input_tokens = widgets.FloatText(description="input tokens", value=1000.0)
        self.output_tokens = widgets.FloatText(description="output tokens", value=500.0)
        self.calls = widgets.IntText(description="calls", value=1)
        self.unit = widgets.HTML()
        self.add = widgets.Button(description="add line", button_style="primary")
        self.clear = widgets.Button(description="clear")
        self.message = widgets.HTML()
        self.table = widgets.HTML()
        self.total = widgets.HTML(value=f"<b>total: 0 {currency}</b>")
        self.model.observe(self._on_model, names="value")
        self.add.on_click(self._on_add)
        self.clear.on_click(self._on_clear)
        self._on_model()
        self.widget = widgets.VBox([
            widgets.HBox([self.model, self.unit]),
            widgets.HBox([self.units, self.input_tokens, self.output_tokens, self.calls]),
            widgets.HBox([self.add, self.clear]),
            self.message, self.table, self.total,
        ])  # fmt: skip

    def _on_model(self, _change: object = None) -> None:
        price = self.book.find(self.model.value.strip()) if self.model.value else None
        per_token = price is not None and price.basis == "per_token"
        self.units.layout.display = "none" if per_token else None
        self.input_tokens.layout.display = None if per_token else "none"
        self.output_tokens.layout.display = None if per_token else "none"
        if price is None:
            self.unit.value = ""
        elif per_token:
            self.unit.value = f"priced per {price.unit} (tokens are per call)"
        else:
            self.unit.value = f"priced per {price.unit}: {price.unit_price} {price.currency}"

    def _line(self) -> dict[str, Any]:
        price = self.book.find(self.model.value.strip())
        line: dict[str, Any] = {"model": self.model.value.strip(), "calls": self.calls.value}
        if price is not None and price.basis == "per_token":
            if self.input_tokens.value:
                line["input_tokens"] = self.input_tokens.value
            if self.output_tokens.value:
                line["output_tokens"] = self.output_tokens.value
        else:
            line["units"] = self.units.value
        return line

    def _on_add(self, _button: object = None) -> None:
        candidate = [*self.lines, self._line()]
        try:
            mix = JobMix.from_data({"currency": self.currency, "lines": candidate})
            estimate = estimate_lines(self.book, mix)
        except ConfigError as exc:
            self.message.value = f"<span style='color:#b00'>{_escape(str(exc))}</span>"
            return
        self.lines = candidate
        self.message.value = ""
        self._show(estimate)

    def _on_clear(self, _button: object = None) -> None:
        self.lines = []
        self.estimate = None
        self.message.value = ""
        self.table.value = ""
        self.total.value = f"<b>total: 0 {self.currency}</b>"

    def _show(self, estimate: Estimate) -> None:
        self.estimate = estimate
        frame = estimate_frame(estimate)
        self.table.value = frame.to_html(index=False, na_rep="", border=0)
        note = (
            "" if estimate.complete else f" (INCOMPLETE: {len(estimate.missing)} line(s) unpriced)"
        )
        self.total.value = f"<b>total: {estimate.total:,.4f} {self.currency}</b>{note}"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cost_calculator(book: PriceBook, *, currency: str = "USD") -> CostCalculator:
    """An ipywidgets cost calculator over `book` (display it as a cell's result)."""
    return CostCalculator(book, currency=currency)
