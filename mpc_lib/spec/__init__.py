"""The OpenAPI gate: load, validate, lint, upstream contract, data conformance, breaking changes.

    report = check_spec("openapi/api-hub.oas.json", settings=settings, data="sandbox")
    report.passed, report.findings           # every finding has a rule, severity, file:line:col

Each stage is also a function of its own (`validate_spec`, `lint_spec`, `check_upstream`,
`check_conformance`, `diff_specs`); `merge_openapi` folds a service's spec into the hub's
(`merge_mpc_api`: MPC-API's) and `generate_client` builds a typed Python client from a spec.
"""

from __future__ import annotations

from ..config import workbook_path
from .check import DEFAULT_LINT_PATH, check_spec, lint_config_for
from .client import ClientResult, generate_client
from .conform import BINDINGS, Binding, check_conformance, fix_enums
from .diff import diff_specs
from .document import Location, SpecDocument, load_spec, parse_spec, spec_from_dict, write_spec
from .findings import SEVERITIES, STAGES, Finding, GateReport, Severity, StageResult
from .lint import LINT_RULES, LintConfig, LintRule, lint_spec
from .merge import merge_mpc_api, merge_openapi
from .published import UPSTREAMS, load_upstream
from .records import DATA_CHOICES, RecordSet, RecordsSource, load_records, records_source
from .upstream import check_upstream
from .validate import validate_spec

__all__ = [
    "BINDINGS",
    "DATA_CHOICES",
    "DEFAULT_LINT_PATH",
    "LINT_RULES",
    "SEVERITIES",
    "STAGES",
    "UPSTREAMS",
    "Binding",
    "ClientResult",
    "Finding",
    "GateReport",
    "LintConfig",
    "LintRule",
    "Location",
    "RecordSet",
    "RecordsSource",
    "Severity",
    "SpecDocument",
    "StageResult",
    "check_conformance",
    "check_spec",
    "check_upstream",
    "diff_specs",
    "fix_enums",
    "generate_client",
    "lint_config_for",
    "lint_spec",
    "load_records",
    "load_spec",
    "load_upstream",
    "merge_mpc_api",
    "merge_openapi",
    "parse_spec",
    "records_source",
    "spec_from_dict",
    "validate_spec",
    "workbook_path",
    "write_spec",
]
