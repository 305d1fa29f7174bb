"""Notebook views of the gate and of a push: tables by severity, the enum-drift chart, the plan.

pandas and plotly are imported inside the functions (the `notebooks` extra), so
`import mpc_lib.spec` stays light.
"""

from __future__ import annotations

from typing import Any

from ..extras import require
from ..views import SourcesBanner, new_figure
from .findings import SEVERITIES, GateReport, StageResult

__all__ = [
    "breaking_frame",
    "drift_figure",
    "drift_frame",
    "findings_frame",
    "push_plan",
    "severity_table",
    "sources_banner",
]

FINDING_COLUMNS = ("stage", "severity", "rule", "where", "message")


def sources_banner(report: GateReport, outcome: Any = None) -> SourcesBanner:
    """Where the records (and the Apidog project) came from, in one line; tells `mpc run` too."""
    conform = report.stage("conform")
    sources = dict((conform.details.get("sources") if conform else None) or {})
    notes = {}
    if outcome is not None:
        sources["apidog"] = outcome.source
        if outcome.note:
            notes["apidog"] = "no APIDOG_ACCESS_TOKEN" if "no APIDOG" in outcome.note else ""
    if not sources:
        return SourcesBanner("no data source used", {})
    parts = [
        f"{name}: {source}" + (f" ({notes[name]})" if notes.get(name) else "")
        for name, source in sources.items()
    ]
    return SourcesBanner(" | ".join(parts), sources)


def severity_table(report: GateReport) -> Any:
    """One row per stage: its status and how many errors, warnings and infos it found."""
    pd = require("pandas", "spec views")
    rows = [
        {"stage": stage.stage, "status": stage.status, **stage.counts, "note": stage.skipped or ""}
        for stage in report.stages
    ]
    total = {
        "stage": "total",
        "status": "passed" if report.passed else "FAILED",
        **report.counts(),
        "note": "",
    }
    return pd.DataFrame([*rows, total], columns=["stage", "status", *SEVERITIES, "note"])


def findings_frame(report: GateReport | StageResult, severity: str | None = None) -> Any:
    """Every finding (optionally of one severity): stage, severity, rule, where, message."""
    pd = require("pandas", "spec views")
    findings = report.findings if isinstance(report, GateReport) else report.sorted()
    rows = [
        {
            "stage": f.stage,
            "severity": f.severity,
            "rule": f.rule,
            "where": f.where or f.pointer,
            "message": f.message,
        }
        for f in findings
        if severity is None or f.severity == severity
    ]
    return pd.DataFrame(rows, columns=list(FINDING_COLUMNS))


def drift_frame(report: GateReport) -> Any:
    """Enum drift: one row per value the data has and the enum lacks, with its record count."""
    pd = require("pandas", "spec views")
    rows = []
    conform = report.stage("conform")
    for finding in conform.findings if conform else []:
        if finding.rule != "conform-enum-drift" or "parameter" in finding.message.split(":")[0]:
            continue
        for value, count in finding.details.get("missing", {}).items():
            examples = finding.details.get("examples", {}).get(value, [])
            rows.append(
                {
                    "field": finding.details.get("field"),
                    "value": value,
                    "records": count,
                    "example": ", ".join(examples[:2]),
                }
            )
    return pd.DataFrame(rows, columns=["field", "value", "records", "example"])


def drift_figure(report: GateReport) -> Any:
    """A bar per drifted enum value: how many records carry a value the spec's enum lacks."""
    frame = drift_frame(report)
    figure = new_figure()
    for field_name, rows in frame.groupby("field", sort=False) if len(frame) else []:
        figure.add_bar(x=list(rows["value"]), y=list(rows["records"]), name=str(field_name))
    title = (
        f"Enum drift: {len(frame)} value(s) in the data missing from the spec's enums"
        if len(frame)
        else "Enum drift: none (every value in the data is in its enum)"
    )
    figure.update_layout(
        title=title, xaxis_title="value", yaxis_title="records", height=420
    )
    return figure


def breaking_frame(changes: StageResult | Any) -> Any:
    """The changes against a baseline or the Apidog project, breaking ones first."""
    stage = changes if isinstance(changes, StageResult) else changes.changes
    return findings_frame(stage)[["severity", "rule", "where", "message"]]


def push_plan(outcome: Any) -> Any:
    """What a push would do (or did): target, spec, gate, changes, refusal, counters."""
    pd = require("pandas", "spec views")
    changes = outcome.changes.counts
    options = outcome.options.model_dump(mode="json")
    rows = [
        ("target", f"project {outcome.project_id} ({outcome.source})"),
        ("spec", f"{outcome.spec} ({outcome.size} bytes, sha256 {outcome.sha256[:12]}…)"),
        ("gate", "passed" if outcome.report.passed else f"FAILED: {outcome.report.reason()}"),
        (
            "changes",
            f"{changes['error']} breaking, {changes['warning']} warning, {changes['info']} info",
        ),
        ("options", ", ".join(f"{k}={v}" for k, v in options.items())),
        (
            "decision",
            outcome.refusal or ("applied" if outcome.applied else "dry run: nothing sent"),
        ),
    ]
    if outcome.backup is not None:
        rows.append(("backup", str(outcome.backup)))
    if outcome.result is not None:
        counters = {k: v for k, v in outcome.result.counters.items() if v}
        rows.append(("counters", ", ".join(f"{k}={v}" for k, v in counters.items()) or "all 0"))
    return pd.DataFrame(rows, columns=["", "push"])
