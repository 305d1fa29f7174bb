"""What every stage of the gate reports: findings with a rule, a severity and a place in a file."""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    SkipValidation,
    computed_field,
    field_serializer,
)

from ..models import MpcModel, is_empty
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


class Finding(MpcModel):
    """One thing a stage found: rule id, severity, message, JSON pointer and file:line:column."""

    model_config = ConfigDict(frozen=True)

    stage: str
    rule: str
    severity: Severity
    message: str
    pointer: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    details: dict[str, Any] = Field(default_factory=dict, exclude_if=is_empty)

    @property
    def where(self) -> str:
        """`file:line:column` (or less, when the position is unknown)."""
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        return where


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
        return Finding(
            stage=stage, rule=rule, severity=severity, message=message, pointer=pointer,
            details=details,
        )  # fmt: skip
    location = None
    probe = pointer
    while location is None:
        location = document.locate(probe)
        if location is not None or not probe:
            break
        probe = probe.rsplit("/", 1)[0]
    return Finding(
        stage=stage,
        rule=rule,
        severity=severity,
        message=message,
        pointer=pointer,
        file=document.name,
        line=location.line if location else None,
        column=location.column if location else None,
        details=details,
    )


def _severity_rank(finding: Finding) -> int:
    return SEVERITIES.index(finding.severity)


class StageResult(MpcModel):
    """One stage's findings, or why it was skipped."""

    stage: str
    skipped: str | None = None
    # Held, not copied: validate_spec adds the validator's findings to the list it gave.
    findings: SkipValidation[list[Finding]] = Field(default_factory=list)
    # Anything else the stage wants to show (conform: drift tables; diff: the compared files).
    details: dict[str, Any] = Field(default_factory=dict, exclude_if=is_empty)
    # Its errors do not fail anything (diff under --allow-breaking): status `allowed`.
    allowed: bool = Field(default=False, exclude=True)

    def __init__(
        self,
        stage: str,
        findings: list[Finding] | None = None,
        skipped: str | None = None,
        details: dict[str, Any] | None = None,
        allowed: bool = False,
    ) -> None:
        # Positional, as every stage builds its result: StageResult(STAGE, findings).
        fields = {
            "stage": stage,
            "skipped": skipped,
            "findings": [] if findings is None else findings,
            "details": {} if details is None else details,
            "allowed": allowed,
        }
        super().__init__(**fields)

    @property
    def errors(self) -> list[Finding]:
        """The findings at error severity."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def blocking(self) -> list[Finding]:
        """The errors that fail: all of them, none when the stage's errors are allowed."""
        return [] if self.allowed else self.errors

    @computed_field
    @property
    def status(self) -> str:
        """'fail' with an error that blocks, 'allowed' with allowed errors only, 'skipped',
        or 'pass'."""
        if self.errors:
            return "allowed" if self.allowed else "fail"
        return "skipped" if self.skipped is not None else "pass"

    def allowing(self) -> StageResult:
        """This result with its errors allowed (a breaking change under --allow-breaking)."""
        return self.model_copy(update={"allowed": True})

    @computed_field
    @property
    def counts(self) -> dict[str, int]:
        """How many findings of each severity."""
        counted = Counter(f.severity for f in self.findings)
        return {severity: counted.get(severity, 0) for severity in SEVERITIES}

    def sorted(self) -> list[Finding]:
        """Errors first, then warnings, then infos; in file order within each."""
        return sorted(self.findings, key=lambda f: (_severity_rank(f), f.line or 0, f.column or 0))

    @field_serializer("findings", mode="wrap")
    def _findings_in_order(
        self, findings: list[Finding], handler: SerializerFunctionWrapHandler
    ) -> Any:
        return handler(self.sorted())


class GateReport(MpcModel):
    """The whole gate over one spec: its stages in order and one verdict."""

    spec: str
    allow_breaking: bool = False
    stages: list[StageResult]

    def __init__(self, spec: str, stages: list[StageResult], allow_breaking: bool = False) -> None:
        # Positional, as check_spec builds it: GateReport(name, stages, allow_breaking=...).
        if allow_breaking:
            stages = [s.allowing() if s.stage == "diff" else s for s in stages]
        fields = {"spec": spec, "stages": stages, "allow_breaking": allow_breaking}
        super().__init__(**fields)

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
            finding
            for stage in self.stages
            if not stage.allowed
            for finding in stage.sorted()
            if finding.severity == "error"
        ]

    @computed_field
    @property
    def passed(self) -> bool:
        """Whether nothing blocks: the spec may be pushed."""
        return not self.blocking

    @computed_field
    @property
    def exit_code(self) -> int:
        """0 when the gate passes, 1 when it does not."""
        return 0 if self.passed else 1

    def counts(self) -> dict[str, int]:
        """Findings per severity over all stages."""
        counted = Counter(f.severity for f in self.findings)
        return {severity: counted.get(severity, 0) for severity in SEVERITIES}

    @computed_field(alias="counts")
    @property
    def per_severity(self) -> dict[str, int]:
        """`counts()`, as the JSON's `counts`."""
        return self.counts()

    def reason(self) -> str:
        """Why the gate failed, in one line ('' when it passed)."""
        if self.passed:
            return ""
        per_stage = Counter(f.stage for f in self.blocking)
        parts = [f"{stage} {count} error(s)" for stage, count in per_stage.items()]
        first = self.blocking[0]
        return f"{', '.join(parts)}; first: {first.where or first.pointer}: {first.message}"
