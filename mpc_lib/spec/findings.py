"""What every stage of the gate reports: findings with a rule, a severity and a place in a file."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from .document import SpecDocument

__all__ = [
    "SEVERITIES",
    "STAGES",
    "Finding",
    "GateReport",
    "Severity",
    "StageResult",
    "finding_at",
]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
# The gate's order: each stage assumes the one before it could read the document.
STAGES = ("validate", "lint", "upstream", "conform", "diff")


@dataclass(frozen=True)
class Finding:
    """One thing a stage found: rule id, severity, message, JSON pointer and file:line:column."""

    stage: str
    rule: str
    severity: Severity
    message: str
    pointer: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def where(self) -> str:
        """`file:line:column` (or less, when the position is unknown)."""
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        return where

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict."""
        return {
            "stage": self.stage,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "pointer": self.pointer,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            **({"details": self.details} if self.details else {}),
        }


def finding_at(
    document: SpecDocument | None,
    stage: str,
    rule: str,
    severity: Severity,
    message: str,
    pointer: str = "",
    **details: Any,
) -> Finding:
    """A finding placed in `document` at `pointer` (its nearest existing parent if it is absent)."""
    if document is None:
        return Finding(stage, rule, severity, message, pointer, details=details)
    location = None
    probe = pointer
    while location is None:
        location = document.locate(probe)
        if location is not None or not probe:
            break
        probe = probe.rsplit("/", 1)[0]
    return Finding(
        stage,
        rule,
        severity,
        message,
        pointer,
        document.name,
        location.line if location else None,
        location.column if location else None,
        details,
    )


def _severity_rank(finding: Finding) -> int:
    return SEVERITIES.index(finding.severity)


@dataclass
class StageResult:
    """One stage's findings, or why it was skipped."""

    stage: str
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None
    # Anything else the stage wants to show (conform: drift tables; diff: the compared files).
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        """The findings at error severity."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def counts(self) -> dict[str, int]:
        """How many findings of each severity."""
        counted = Counter(f.severity for f in self.findings)
        return {severity: counted.get(severity, 0) for severity in SEVERITIES}

    @property
    def status(self) -> str:
        """'fail' with any error, 'skipped', or 'pass'."""
        if self.errors:
            return "fail"
        return "skipped" if self.skipped is not None else "pass"

    def sorted(self) -> list[Finding]:
        """Errors first, then warnings, then infos; in file order within each."""
        return sorted(self.findings, key=lambda f: (_severity_rank(f), f.line or 0, f.column or 0))

    def to_json(self) -> dict[str, Any]:
        """The stage as a JSON-ready dict."""
        return {
            "stage": self.stage,
            "status": self.status,
            "skipped": self.skipped,
            "counts": self.counts,
            "findings": [f.to_json() for f in self.sorted()],
            **({"details": self.details} if self.details else {}),
        }


@dataclass
class GateReport:
    """The whole gate over one spec: its stages in order and one verdict."""

    spec: str
    stages: list[StageResult]
    allow_breaking: bool = False

    @property
    def findings(self) -> list[Finding]:
        """Every finding, stage by stage, errors first within a stage."""
        return [finding for stage in self.stages for finding in stage.sorted()]

    def stage(self, name: str) -> StageResult | None:
        """The result of stage `name`, if it ran."""
        return next((s for s in self.stages if s.stage == name), None)

    @property
    def blocking(self) -> list[Finding]:
        """The errors that fail the gate: all of them, except breaking changes when allowed."""
        return [
            f
            for f in self.findings
            if f.severity == "error" and not (self.allow_breaking and f.stage == "diff")
        ]

    @property
    def passed(self) -> bool:
        """Whether nothing blocks: the spec may be pushed."""
        return not self.blocking

    @property
    def exit_code(self) -> int:
        """0 when the gate passes, 1 when it does not."""
        return 0 if self.passed else 1

    def counts(self) -> dict[str, int]:
        """Findings per severity over all stages."""
        counted = Counter(f.severity for f in self.findings)
        return {severity: counted.get(severity, 0) for severity in SEVERITIES}

    def reason(self) -> str:
        """Why the gate failed, in one line ('' when it passed)."""
        if self.passed:
            return ""
        per_stage = Counter(f.stage for f in self.blocking)
        parts = [f"{stage} {count} error(s)" for stage, count in per_stage.items()]
        first = self.blocking[0]
        return f"{', '.join(parts)}; first: {first.where or first.pointer}: {first.message}"

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (what `--json` prints)."""
        return {
            "spec": self.spec,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "allow_breaking": self.allow_breaking,
            "counts": self.counts(),
            "stages": [stage.to_json() for stage in self.stages],
        }

