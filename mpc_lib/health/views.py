"""Notebook views of a health report: a coloured status table, a latency chart, the history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..extras import require
from ..views import new_figure
from .models import HealthReport

__all__ = ["STATUS_COLOURS", "history_figure", "history_frame", "latency_figure", "status_table"]

STATUS_COLOURS = {"ok": "#2e7d32", "warn": "#f9a825", "fail": "#c62828", "skip": "#9e9e9e"}


def status_table(report: HealthReport) -> Any:
    """One row per check, its status cell coloured; a pandas Styler that renders as HTML."""
    pd = require("pandas", "notebook views")
    frame = pd.DataFrame(
        [
            {
                "check": row.check,
                "group": row.group,
                "status": row.status,
                "latency_ms": None if row.latency_s is None else round(row.latency_s * 1000),
                "reason": row.reason,
            }
            for row in report.rows
        ],
        columns=["check", "group", "status", "latency_ms", "reason"],
    )

    def colour(status: str) -> str:
        return f"background-color: {STATUS_COLOURS.get(status, '')}; color: white"

    return frame.style.map(colour, subset=["status"]).hide(axis="index")


def latency_figure(report: HealthReport) -> Any:
    """How long each check took, coloured by its status."""
    go = require("plotly.graph_objects", "notebook views")
    rows = [row for row in report.rows if row.latency_s is not None]
    figure = new_figure(
        go.Bar(
            x=[row.latency_s * 1000 for row in rows if row.latency_s is not None],
            y=[row.check for row in rows],
            orientation="h",
            marker_color=[STATUS_COLOURS[row.status] for row in rows],
            text=[row.status for row in rows],
        )
    )
    figure.update_layout(
        title=f"Check latency ({report.status}, {report.duration_s:.2f} s in all)",
        xaxis_title="ms",
        yaxis={"autorange": "reversed"},
        height=120 + 28 * len(rows),
    )
    return figure


def history_frame(entries: Sequence[dict[str, Any]]) -> Any:
    """Past runs as one row per (run, check): time, check, status, latency."""
    pd = require("pandas", "notebook views")
    rows = [
        {
            "checked_at": pd.Timestamp(entry["checked_at"]),
            "check": row.get("check"),
            "status": row.get("status"),
            "latency_ms": None if row.get("latency_s") is None else row["latency_s"] * 1000,
        }
        for entry in entries
        for row in entry.get("rows", [])
    ]
    return pd.DataFrame(rows, columns=["checked_at", "check", "status", "latency_ms"])


def history_figure(entries: Sequence[dict[str, Any]]) -> Any:
    """Each check's status over past runs: one marker per run, coloured by status."""
    frame = history_frame(entries)
    figure = new_figure()
    for status, colour in STATUS_COLOURS.items():
        part = frame[frame["status"] == status]
        if len(part):
            figure.add_scatter(
                x=part["checked_at"], y=part["check"], mode="markers", name=status,
                marker={"color": colour, "size": 9, "symbol": "square"},
            )  # fmt: skip
    figure.update_layout(
        title=f"Health history ({len(entries)} runs)",
        yaxis={"autorange": "reversed"},
    )
    return figure
