"""The offline report: an executed notebook as HTML that opens with no network at all.

nbconvert's lab template, minus every CDN script (require.js, MathJax, mermaid, the
widgets renderer from unpkg), plus a header saying what ran.  plotly figures are drawn
by `../_assets/plotly-<version>.min.js` and widgets from their saved state by the
html-manager bundle in `../_assets/` (see `assets`), so one report stays well under 1 MB.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..storage import atomic_write_text
from .assets import ReportAssets, prepare_assets

__all__ = ["REPORT_TEMPLATE", "ReportHeader", "write_report"]

REPORT_TEMPLATE = Path(__file__).parent / "templates" / "mpc_report.html.j2"
_PLOTLY_MIME = "application/vnd.plotly.v1+json"
_WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"


@dataclass(frozen=True)
class ReportHeader:
    """What the report's header says about the run."""

    notebook: str
    run_id: str
    status: str
    started_at: str
    duration_s: float | None = None
    sources: dict[str, str] | None = None
    parameters: dict[str, object] = field(default_factory=dict)
    git_sha: str | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def sources_text(self) -> str:
        """`fal=sandbox, comet=live`, or a dash when the notebook reported none."""
        if not self.sources:
            return "—"
        return ", ".join(f"{name}={source}" for name, source in self.sources.items())

    @property
    def parameters_text(self) -> str:
        """`name=value` pairs as given to the run, or `(defaults)`."""
        if not self.parameters:
            return "(defaults)"
        return ", ".join(f"{name}={json.dumps(value)}" for name, value in self.parameters.items())

    @property
    def duration_text(self) -> str:
        """Seconds with one decimal, or a dash."""
        return "—" if self.duration_s is None else f"{self.duration_s:.1f} s"


def write_report(
    nb: Any,
    html_path: Path,
    header: ReportHeader,
    *,
    settings: Settings,
    report_only: bool = False,
) -> ReportAssets:
    """Render `nb` to `html_path` (a folder below the runs folder); returns the assets used.

    `report_only` hides code cells and prompts, keeping markdown and outputs.
    """
    # nbconvert and jinja2 come with the notebooks extra: loaded only to write a report
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    has_plotly = _has_output(nb, _PLOTLY_MIME)
    has_widgets = _has_output(nb, _WIDGET_VIEW_MIME) and _WIDGET_STATE_MIME in nb.metadata.get(
        "widgets", {}
    )
    runs_dir = Path(html_path).parent.parent
    assets = prepare_assets(settings, runs_dir, plotly=has_plotly, widgets=has_widgets)
    notes = list(header.notes)
    if has_widgets and assets.widget_renderer is None:
        notes.append(
            "Widgets are not rendered: the widgets renderer is not installed "
            "(run `mpc runs assets --fetch`)."
        )
    if has_plotly and assets.plotly_js is None:
        notes.append("Charts are not drawn: plotly is not installed.")
    header = ReportHeader(**{**header.__dict__, "notes": tuple(notes)})

    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({REPORT_TEMPLATE.name: REPORT_TEMPLATE.read_text("utf-8")})],
        template_file=REPORT_TEMPLATE.name,
        exclude_input=report_only,
        exclude_input_prompt=report_only,
        exclude_output_prompt=report_only,
    )
    # The page's <title> (nbconvert's default is "Notebook" for every report).
    title = f"{header.notebook}: {header.status}"
    resources = {"mpc": {"run": header, "assets": assets}, "metadata": {"name": title}}
    body, _resources = exporter.from_notebook_node(
        _with_plotly_html(nb, drawable=assets.plotly_js is not None), resources=resources
    )
    atomic_write_text(html_path, body)
    return assets


def _has_output(nb: Any, mime: str) -> bool:
    return any(
        mime in output.get("data", {})
        for cell in nb.get("cells", [])
        for output in cell.get("outputs", [])
    )


def _with_plotly_html(nb: Any, *, drawable: bool) -> Any:
    """Add a text/html rendering beside each plotly JSON output (plotly.js loaded in <head>)."""
    if not drawable or not _has_output(nb, _PLOTLY_MIME):
        return nb
    import plotly.io as pio  # only when the notebook drew a figure (the notebooks extra)

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if _PLOTLY_MIME not in data or "text/html" in data:
                continue
            data["text/html"] = pio.to_html(
                dict(data[_PLOTLY_MIME]), include_plotlyjs=False, full_html=False, validate=False
            )
    return nb
