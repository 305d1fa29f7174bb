"""Notebook views of the stack: the doctor table, bring-up progress, status, smoke, diagram."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from ..extras import require
from .bringup import StackStatus
from .diagram import stack_figure as stack_figure  # the notebook's figure of the model
from .diagram import stack_mermaid
from .doctor import DoctorReport
from .model import PROFILES, StackModel
from .smoke import SmokeReport

__all__ = [
    "STATE_COLOURS",
    "ProgressLog",
    "diagram_markdown",
    "doctor_table",
    "smoke_table",
    "stack_figure",
    "status_table",
]

STATE_COLOURS = {
    "pass": "#2e7d32",
    "healthy": "#2e7d32",
    "running": "#2e7d32",
    "exited (0)": "#2e7d32",
    "warn": "#f9a825",
    "unhealthy": "#f9a825",
    "starting": "#f9a825",
    "skip": "#9e9e9e",
    "fail": "#c62828",
    "dead": "#c62828",
    "stopped": "#9e9e9e",
}


def _coloured(frame: Any, column: str) -> Any:
    def colour(value: str) -> str:
        shade = STATE_COLOURS.get(str(value))
        return f"background-color: {shade}; color: white" if shade else ""

    return frame.style.map(colour, subset=[column]).hide(axis="index")


def doctor_table(report: DoctorReport) -> Any:
    """One row per doctor check, its status cell coloured (a pandas Styler)."""
    pd = require("pandas", "notebook views")
    frame = pd.DataFrame(
        [row.model_dump(mode="json") for row in report.rows],
        columns=["check", "status", "detail", "hint"],
    )
    return _coloured(frame, "status")


def status_table(status: StackStatus) -> Any:
    """One row per service: state, pid or container, URL, detail."""
    pd = require("pandas", "notebook views")
    frame = pd.DataFrame(
        [row.model_dump(mode="json") for row in status.rows],
        columns=["service", "state", "where", "url", "detail"],
    )
    return _coloured(frame, "state")


def smoke_table(report: SmokeReport) -> Any:
    """One row per smoke check, then the URLs to open."""
    pd = require("pandas", "notebook views")
    rows = [check.model_dump(mode="json") for check in report.checks]
    rows += [
        {"check": f"open {name}", "status": "", "detail": url, "latency_ms": None}
        for name, url in report.urls.items()
    ]
    frame = pd.DataFrame(rows, columns=["check", "status", "detail", "latency_ms"])
    return _coloured(frame, "status")


def diagram_markdown(model: StackModel, profiles: Sequence[str] = PROFILES) -> Any:
    """The Mermaid diagram as a Markdown object (JupyterLab >= 4.1 draws it)."""
    display = require("IPython.display", "notebook views")
    return display.Markdown(f"```mermaid\n{stack_mermaid(model, profiles)}```")


@dataclass
class ProgressLog:
    """Bring-up progress: pass it as `progress=`; it shows one line per event, live.

    In a notebook the table updates in place while `up` waits (a display handle);
    headless, the last state is what the executed notebook keeps.
    """

    live: bool = True
    events: list[tuple[float, str, str]] = field(default_factory=list)
    _started: float = field(default_factory=time.monotonic)
    _handle: Any = None

    def __call__(self, service: str, state: str) -> None:
        self.events.append((time.monotonic() - self._started, service, state))
        if not self.live:
            return
        display = require("IPython.display", "notebook views")
        if self._handle is None:
            self._handle = display.display(display.HTML(self._html()), display_id=True)
        else:
            self._handle.update(display.HTML(self._html()))

    def _html(self) -> str:
        rows = "".join(
            f"<tr><td>{at:6.1f} s</td><td>{escape(service)}</td><td>{escape(state)}</td></tr>"
            for at, service, state in self.events
        )
        return (
            f"<table><thead><tr><th>at</th><th>service</th><th>progress</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )

    def _repr_html_(self) -> str:
        return self._html()

    def __repr__(self) -> str:
        return "\n".join(f"{at:6.1f} s  {service}: {state}" for at, service, state in self.events)
