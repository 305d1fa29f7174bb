"""The HTML copy of an executed notebook, with plotly figures drawn offline."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ..storage import atomic_write_text

__all__ = ["write_html"]

_PLOTLY_MIME = "application/vnd.plotly.v1+json"


def write_html(nb: Any, html_path: Path) -> None:
    """Export the executed notebook to self-contained HTML (plotly figures drawn offline)."""
    from nbconvert import HTMLExporter

    nb = _with_plotly_html(nb)
    body, _resources = HTMLExporter().from_notebook_node(nb)
    atomic_write_text(html_path, body)


def _with_plotly_html(nb: Any) -> Any:
    """Add a text/html rendering beside each plotly JSON output; plotly.js is inlined once."""
    outputs = [
        output
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if _PLOTLY_MIME in output.get("data", {})
    ]
    if not outputs:
        return nb
    try:
        import plotly.io as pio
    except ImportError:
        return nb
    nb = copy.deepcopy(nb)
    first = True
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if _PLOTLY_MIME not in data or "text/html" in data:
                continue
            data["text/html"] = pio.to_html(
                dict(data[_PLOTLY_MIME]),
                include_plotlyjs=first,
                full_html=False,
                validate=False,
            )
            first = False
    return nb
