"""The gate: validate -> lint -> upstream -> conform -> diff, one report and one verdict.

Every stage runs even when an earlier one found errors (each tolerates a broken
document), so one run shows everything that is wrong.  Records that cannot be
loaded fail the conform stage as a finding; they never pass it silently.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Settings
from ..errors import MpcError
from ..upstreams import Upstreams
from .conform import check_conformance
from .diff import diff_specs
from .document import SpecDocument, load_spec
from .findings import GateReport, StageResult, finding_at
from .lint import DEFAULT_LINT_CONFIG, LintConfig, lint_spec
from .records import RecordSet, load_records
from .upstream import check_upstream
from .validate import validate_spec

__all__ = ["DEFAULT_LINT_PATH", "check_spec", "lint_config_for"]

# Where a workbook keeps its lint severities (relative to the workbook root).
DEFAULT_LINT_PATH = Path("openapi") / "lint.toml"


def lint_config_for(settings: Settings, path: Path | str | None = None) -> LintConfig:
    """The lint config at `path`, else `<workbook root>/openapi/lint.toml`, else the defaults."""
    if path is not None:
        return LintConfig.load(path)
    default = Path(settings.home or Path.cwd()) / DEFAULT_LINT_PATH
    return LintConfig.load(default) if default.is_file() else DEFAULT_LINT_CONFIG


def _document(spec: Path | str | SpecDocument) -> SpecDocument:
    return spec if isinstance(spec, SpecDocument) else load_spec(spec)


def check_spec(
    spec: Path | str | SpecDocument,
    *,
    settings: Settings | None = None,
    data: RecordSet | Upstreams | None = None,
    lint_config: LintConfig | Path | str | None = None,
    baseline: Path | str | SpecDocument | None = None,
    allow_breaking: bool = False,
) -> GateReport:
    """Run the whole gate over `spec`; SpecError if it is not a readable OpenAPI document.

    `data` is what the conform stage checks: records already loaded, or the upstreams
    to load them from (see `records_source`); None skips the stage.  `baseline`
    is the previous version for the breaking-change stage; None skips it.
    """
    settings = settings or Settings()
    document = _document(spec)
    config = (
        lint_config
        if isinstance(lint_config, LintConfig)
        else lint_config_for(settings, lint_config)
    )
    stages = [validate_spec(document), lint_spec(document, config), check_upstream(document)]
    stages.append(_conform(document, data, settings))
    if baseline is None:
        stages.append(StageResult("diff", skipped="no baseline given (--baseline OLD)"))
    else:
        stages.append(diff_specs(_document(baseline), document))
    return GateReport(document.name, stages, allow_breaking=allow_breaking)


def _conform(
    document: SpecDocument, data: RecordSet | Upstreams | None, settings: Settings
) -> StageResult:
    if data is None:
        return StageResult("conform", skipped="no data source given")
    try:
        records = data if isinstance(data, RecordSet) else load_records(data, settings)
    except MpcError as exc:
        where = data.label() if isinstance(data, Upstreams) else data.label
        finding = finding_at(
            None, "conform", "conform-data", "error", f"could not load records ({where}): {exc}"
        )
        return StageResult("conform", [finding], details={"data": where})
    return check_conformance(document, records)
