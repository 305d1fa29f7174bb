"""Notebook-facing views of the registry and of a sync: frames, a chart, a widget, a banner.

The notebooks stay thin and call these.  pandas, plotly and ipywidgets are
imported inside the functions, so `import mpc_lib` stays light.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import Settings
from .extras import require
from .providers import PROVIDERS
from .runs.facts import RUN_FACTS_MIME
from .upstreams import kind_label, recorded_kind

__all__ = [
    "ALL",
    "FIGURE_TEMPLATE",
    "MODEL_COLUMNS",
    "SourcesBanner",
    "category_figure",
    "counts_by_category",
    "diff_tables",
    "filter_models",
    "model_browser",
    "models_frame",
    "new_figure",
    "provider_summary",
    "sources_banner",
]

_NO_CATEGORY = "(none)"
# The workbook's plotly template, set explicitly on every figure: plotly's default one
# changes between releases, and a figure's JSON (what nbval compares and reports draw)
# should change only when its data does.
FIGURE_TEMPLATE: dict[str, Any] = {
    "layout": {
        "colorway": ["#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3"],
        "font": {"color": "#2a3f5f"},
        "paper_bgcolor": "white",
        "plot_bgcolor": "#E5ECF6",
        "xaxis": {"gridcolor": "white", "linecolor": "white", "automargin": True},
        "yaxis": {"gridcolor": "white", "linecolor": "white", "automargin": True},
        "hovermode": "closest",
    }
}
_SEARCH_COLUMNS = ("model_id", "display_name", "description")


def new_figure(*traces: Any) -> Any:
    """A plotly figure on the workbook's template alone (plotly's default one is never merged
    in, so the figure's JSON is small and the same from one run to the next)."""
    go = require("plotly.graph_objects", "notebook views")
    return go.Figure(data=list(traces), layout={"template": FIGURE_TEMPLATE})


ALL = "(all)"
MODEL_COLUMNS = (
    "provider",
    "model_id",
    "key",
    "display_name",
    "category",
    "status",
    "owned_by",
    "unit_price",
    "unit",
    "currency",
    "output_unit_price",
    "updated_at",
    "stale",
    "description",
)


def models_frame(registry: Mapping[str, Any]) -> Any:
    """One row per model with flat columns (pricing spread into unit_price, unit, currency)."""
    pd = require("pandas", "notebook views")
    rows = []
    for model in registry.get("models", []):
        pricing = model.get("pricing") or {}
        rows.append(
            {
                "provider": model.get("provider"),
                "model_id": model.get("model_id"),
                "key": f"{model.get('provider')}:{model.get('model_id')}",
                "display_name": model.get("display_name"),
                "category": model.get("category") or _NO_CATEGORY,
                "status": model.get("status"),
                "owned_by": model.get("owned_by"),
                "unit_price": pricing.get("unit_price"),
                "unit": pricing.get("unit"),
                "currency": pricing.get("currency"),
                "output_unit_price": pricing.get("output_unit_price"),
                "updated_at": model.get("updated_at"),
                "stale": bool(model.get("stale", False)),
                "description": model.get("description"),
            }
        )
    frame = pd.DataFrame(rows, columns=list(MODEL_COLUMNS))
    frame["unit_price"] = pd.to_numeric(frame["unit_price"], errors="coerce")
    frame["output_unit_price"] = pd.to_numeric(frame["output_unit_price"], errors="coerce")
    return frame.sort_values(["provider", "model_id"], kind="stable").reset_index(drop=True)


def counts_by_category(registry: Mapping[str, Any]) -> Any:
    """Models per (provider, category), largest first within each provider."""
    pd = require("pandas", "notebook views")
    frame = models_frame(registry)
    if frame.empty:
        return pd.DataFrame({"provider": [], "category": [], "models": []})
    counts = frame.groupby(["provider", "category"]).size().reset_index(name="models")
    counts = counts.sort_values(
        ["provider", "models", "category"], ascending=[True, False, True], kind="stable"
    )
    return counts.reset_index(drop=True)


def provider_summary(registry: Mapping[str, Any]) -> Any:
    """Per provider: how many models, how many of them priced, how many categories."""
    frame = models_frame(registry)
    # A record priced only per output token is priced too.
    frame["priced"] = frame["unit_price"].notna() | frame["output_unit_price"].notna()
    return frame.groupby("provider").agg(
        models=("key", "size"),
        priced=("priced", "sum"),
        categories=("category", "nunique"),
    )


def category_figure(registry: Mapping[str, Any]) -> Any:
    """A bar chart of models per category, one coloured trace per provider."""
    counts = counts_by_category(registry)
    totals = counts.groupby("category")["models"].sum().sort_values(ascending=False, kind="stable")
    order = list(totals.index)
    figure = new_figure()
    for provider, rows in counts.groupby("provider", sort=True):
        by_category = dict(zip(rows["category"], rows["models"], strict=True))
        x = [category for category in order if category in by_category]
        figure.add_bar(name=str(provider), x=x, y=[int(by_category[c]) for c in x])
    figure.update_layout(
        title="Models per category",
        barmode="stack",
        xaxis={"title": "category", "categoryorder": "array", "categoryarray": order},
        yaxis={"title": "models"},
        legend_title_text="provider",
    )
    return figure


def diff_tables(report_or_diff: Any) -> dict[str, Any]:
    """Added, removed and changed models as frames; `changed` has one row per changed field.

    Takes a SyncReport, a RegistryDiff, or the dict form written to diff.json.
    """
    pd = require("pandas", "notebook views")
    diff = getattr(report_or_diff, "diff", report_or_diff)
    added, removed, changed = (_get(diff, name) or [] for name in ("added", "removed", "changed"))
    key_columns = ["provider", "model_id", "key"]
    rows = []
    for change in changed:
        key = str(_get(change, "key"))
        for field, values in (_get(change, "fields") or {}).items():
            old, new = _old_new(values)
            rows.append({**_split_key(key), "key": key, "field": field, "old": old, "new": new})
    return {
        "added": pd.DataFrame([{**_split_key(k), "key": k} for k in added], columns=key_columns),
        "removed": pd.DataFrame(
            [{**_split_key(k), "key": k} for k in removed], columns=key_columns
        ),
        "changed": pd.DataFrame(rows, columns=[*key_columns, "field", "old", "new"]),
    }


def filter_models(
    frame: Any,
    provider: str | None = None,
    category: str | None = None,
    text: str | None = None,
) -> Any:
    """Rows matching provider and category exactly (None, "" or ALL = any) and `text` anywhere.

    `text` is a case-insensitive substring search over model_id, display_name and description.
    """
    pd = require("pandas", "notebook views")
    mask = pd.Series(True, index=frame.index)
    if provider and provider != ALL:
        mask &= frame["provider"].str.lower() == provider.lower()
    if category and category != ALL:
        mask &= frame["category"].str.lower() == category.lower()
    needle = (text or "").strip().lower()
    if needle:
        hits = None
        for column in _SEARCH_COLUMNS:
            found = (
                frame[column].fillna("").astype(str).str.lower().str.contains(needle, regex=False)
            )
            hits = found if hits is None else hits | found
        mask &= hits
    return frame[mask].reset_index(drop=True)


def model_browser(registry: Mapping[str, Any], *, max_rows: int = 50) -> Any:
    """A searchable table: provider and category dropdowns plus a text box, re-rendered live."""
    widgets = require("ipywidgets", "notebook views")
    frame = models_frame(registry)
    columns = ["provider", "model_id", "display_name", "category", "unit_price", "unit"]

    provider = widgets.Dropdown(
        description="provider", options=[ALL, *sorted(frame["provider"].dropna().unique())]
    )
    category = widgets.Dropdown(description="category", options=[ALL])
    text = widgets.Text(description="search", placeholder="id, name or description")
    summary = widgets.HTML()
    table = widgets.HTML()

    def categories() -> list[str]:
        pool = filter_models(frame, provider=provider.value)
        return [ALL, *sorted(pool["category"].dropna().unique())]

    def render(_change: object = None) -> None:
        shown = filter_models(frame, provider.value, category.value, text.value)
        summary.value = f"<b>{len(shown)}</b> of {len(frame)} models" + (
            f" (first {max_rows} shown)" if len(shown) > max_rows else ""
        )
        table.value = shown.head(max_rows)[columns].to_html(index=False, na_rep="", border=0)

    def on_provider(_change: object = None) -> None:
        options = categories()
        keep = category.value if category.value in options else ALL
        category.options = options
        category.value = keep
        render()

    category.options = categories()
    provider.observe(on_provider, names="value")
    category.observe(render, names="value")
    text.observe(render, names="value")
    render()
    return widgets.VBox([widgets.HBox([provider, category, text]), summary, table])


class SourcesBanner(str):
    """The banner line; displayed in a notebook it also reports the sources to `mpc run`."""

    sources: dict[str, str]

    def __new__(cls, text: str, sources: Mapping[str, str]) -> SourcesBanner:
        banner = super().__new__(cls, text)
        banner.sources = dict(sources)
        return banner

    def _repr_mimebundle_(self, **_kwargs: Any) -> dict[str, Any]:
        return {"text/plain": str(self), RUN_FACTS_MIME: {"sources": self.sources}}


def sources_banner(registry_or_report: Any, settings: Settings | None = None) -> SourcesBanner:
    """Which source each provider used, in one line: `fal: sandbox (emulator, ...) | comet: live`.

    Through the gateway, the kind it reached comes first: `sandbox via gateway`, never a
    bare `gateway`.  With `settings`, a sandbox source says why: MPC_SOURCE=sandbox, or no
    key set.  Displayed as a cell's result, it also tells `mpc run` which sources the run used.
    """
    sources, stale = _sources(registry_or_report)
    if not sources:
        return SourcesBanner("no providers synced yet", {})
    parts = []
    for provider, source in sources.items():
        notes = []
        if source == "sandbox":
            notes.append("emulator")
            if settings is not None and settings.source == "sandbox":
                notes.append("MPC_SOURCE=sandbox")
            elif (
                settings is not None
                and provider in PROVIDERS
                and settings.key_for(provider) is None
            ):
                notes.append(f"no {PROVIDERS[provider].key_var} set")
        elif source == "sandbox via gateway":
            notes.append("the gateway reaches the emulator")
        elif source.startswith("unknown"):
            notes.append("not known to be the provider's")
        if provider in stale:
            notes.append("STALE: previous records kept")
        parts.append(f"{provider}: {source}" + (f" ({', '.join(notes)})" if notes else ""))
    return SourcesBanner(" | ".join(parts), sources)


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _old_new(values: Any) -> tuple[Any, Any]:
    if isinstance(values, Mapping):
        return values.get("old"), values.get("new")
    old, new = values
    return old, new


def _split_key(key: str) -> dict[str, str]:
    provider, _, model_id = key.partition(":")
    return {"provider": provider, "model_id": model_id}


def _sources(obj: Any) -> tuple[dict[str, str], set[str]]:
    """(provider -> source, stale providers) from a registry dict, a SyncReport or its JSON."""
    raw = _get(obj, "sources") or {}
    stale = set(_get(obj, "stale") or [])
    sources: dict[str, str] = {}
    for provider, entry in raw.items():
        if isinstance(entry, Mapping):
            sources[provider] = kind_label(str(entry.get("source")), recorded_kind(entry))
            if entry.get("status") == "stale":
                stale.add(provider)
        else:
            sources[provider] = str(entry)
    return sources, stale
