"""Stage 5, diff: what changed between two versions of a spec, each change with a severity.

error = breaking for existing clients (a path, operation, parameter, 2xx response or
server removed; a parameter newly required; a narrowed request enum; a changed type;
changed auth), warning = may break some clients (a widened response enum, a removed
optional parameter the server may now refuse), info = additive.  Operations are
paired by method and path template (parameter names ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .compat import Incompatibility, compare_schemas
from .document import SpecDocument, escape_token
from .findings import Finding, Severity, StageResult, finding_at
from .walk import (
    Operation,
    deref,
    effective_security,
    effective_servers,
    iter_operations,
    json_media,
    operation_parameters,
)

__all__ = ["diff_specs"]

STAGE = "diff"
_PARAM = re.compile(r"{[^{}/]*}")
_OLD, _NEW = "the old spec", "the new spec"


def _key(op: Operation) -> tuple[str, str]:
    return op.method, _PARAM.sub("{}", op.path)


def diff_specs(old: SpecDocument, new: SpecDocument) -> StageResult:
    """Every change from `old` to `new`; errors are the breaking ones."""
    findings: list[Finding] = []
    old_ops = {_key(op): op for op in iter_operations(old.data)}
    new_ops = {_key(op): op for op in iter_operations(new.data)}
    old_paths = {_PARAM.sub("{}", op.path): op.path for op in old_ops.values()}
    new_paths = {_PARAM.sub("{}", op.path): op.path for op in new_ops.values()}
    for template, path in old_paths.items():
        if template not in new_paths:
            findings.append(
                finding_at(
                    old,
                    STAGE,
                    "path-removed",
                    "error",
                    f"path {path} was removed",
                    f"/paths/{escape_token(path)}",
                )
            )
    for template, path in new_paths.items():
        if template not in old_paths:
            findings.append(
                finding_at(
                    new,
                    STAGE,
                    "path-added",
                    "info",
                    f"path {path} was added",
                    f"/paths/{escape_token(path)}",
                )
            )
    for key, op in old_ops.items():
        if key not in new_ops and key[1] in new_paths:
            findings.append(
                finding_at(
                    old, STAGE, "operation-removed", "error", f"{op.label} was removed", op.pointer
                )
            )
    for key, op in new_ops.items():
        if key not in old_ops and key[1] in old_paths:
            findings.append(
                finding_at(
                    new, STAGE, "operation-added", "info", f"{op.label} was added", op.pointer
                )
            )
    for key, new_op in new_ops.items():
        old_op = old_ops.get(key)
        if old_op is not None:
            findings += _operation_changes(old, new, old_op, new_op)
    findings += _scheme_changes(old, new)
    details = {
        "old": old.name,
        "new": new.name,
        "breaking": sum(f.severity == "error" for f in findings),
    }
    return StageResult(STAGE, findings, details=details)


def _operation_changes(
    old: SpecDocument, new: SpecDocument, old_op: Operation, new_op: Operation
) -> Iterator[Finding]:
    label = new_op.label
    removed_servers = set(effective_servers(old.data, old_op)) - set(
        effective_servers(new.data, new_op)
    )
    if removed_servers:
        yield finding_at(
            new,
            STAGE,
            "server-changed",
            "error",
            f"{label}: server(s) {', '.join(sorted(removed_servers))} no longer serve it",
            new_op.pointer,
        )
    old_security = _security_set(effective_security(old.data, old_op))
    new_security = _security_set(effective_security(new.data, new_op))
    if old_security != new_security:
        yield finding_at(
            new,
            STAGE,
            "auth-changed",
            "error",
            f"{label}: security changed from {_show_security(old_security)} to"
            f" {_show_security(new_security)}",
            f"{new_op.pointer}/security",
        )
    yield from _parameter_changes(old, new, old_op, new_op)
    yield from _body_changes(old, new, old_op, new_op)


def _security_set(security: list[dict[str, Any]] | None) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(req) for req in security or [])


def _show_security(security: frozenset[frozenset[str]]) -> str:
    if not security:
        return "none"
    return " or ".join(sorted(" + ".join(sorted(req)) or "anonymous" for req in security))


def _parameter_changes(
    old: SpecDocument, new: SpecDocument, old_op: Operation, new_op: Operation
) -> Iterator[Finding]:
    label = new_op.label
    old_params = operation_parameters(old.data, old_op)
    new_params = operation_parameters(new.data, new_op)
    for key, (pointer, _) in old_params.items():
        if key not in new_params:
            yield finding_at(
                old,
                STAGE,
                "parameter-removed",
                "error",
                f"{label}: {key[1]} parameter {key[0]!r} was removed",
                pointer,
            )
    for key, (pointer, param) in new_params.items():
        required = param.get("required") is True
        if key not in old_params:
            if required:
                yield finding_at(
                    new,
                    STAGE,
                    "parameter-required-added",
                    "error",
                    f"{label}: new required {key[1]} parameter {key[0]!r}",
                    pointer,
                )
            else:
                yield finding_at(
                    new,
                    STAGE,
                    "parameter-added",
                    "info",
                    f"{label}: new optional {key[1]} parameter {key[0]!r}",
                    pointer,
                )
            continue
        old_param = old_params[key][1]
        if required and old_param.get("required") is not True:
            yield finding_at(
                new,
                STAGE,
                "parameter-became-required",
                "error",
                f"{label}: {key[1]} parameter {key[0]!r} became required",
                pointer,
            )
        # what old clients send must still be accepted
        for issue in compare_schemas(
            old_param.get("schema"),
            param.get("schema"),
            narrow_doc=old.data,
            wide_doc=new.data,
            narrow_name=_OLD,
            wide_name=_NEW,
            unrestricted="error",  # a new restriction refuses what old clients send
        ):
            yield _issue(
                new,
                f"{pointer}/schema",
                "parameter",
                issue,
                f"{label}: {key[1]} parameter {key[0]!r}",
                request=True,
            )


def _success(data: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    responses = op.get("responses")
    if not isinstance(responses, dict):
        return {}
    return {str(s): r for s, r in responses.items() if str(s).startswith("2")}


def _body_changes(
    old: SpecDocument, new: SpecDocument, old_op: Operation, new_op: Operation
) -> Iterator[Finding]:
    label = new_op.label
    old_ok, new_ok = _success(old.data, old_op.op), _success(new.data, new_op.op)
    for status in sorted(set(old_ok) - set(new_ok)):
        yield finding_at(
            old,
            STAGE,
            "response-removed",
            "error",
            f"{label}: response {status} was removed",
            f"{old_op.pointer}/responses/{status}",
        )
    for status in sorted(set(old_ok) & set(new_ok)):
        old_media = json_media(deref(old.data, old_ok[status]))
        new_media = json_media(deref(new.data, new_ok[status]))
        if not (old_media and new_media):
            continue
        pointer = f"{new_op.pointer}/responses/{status}"
        # what the new server sends must still fit what old clients accept
        for issue in compare_schemas(
            (new_media[1] or {}).get("schema"),
            (old_media[1] or {}).get("schema"),
            narrow_doc=new.data,
            wide_doc=old.data,
            narrow_name=_NEW,
            wide_name=_OLD,
        ):
            yield _issue(
                new, pointer, "response", issue, f"{label} response {status}", request=False
            )
    old_body = json_media(deref(old.data, old_op.op.get("requestBody")))
    new_body = json_media(deref(new.data, new_op.op.get("requestBody")))
    if old_body and new_body:
        for issue in compare_schemas(
            (old_body[1] or {}).get("schema"),
            (new_body[1] or {}).get("schema"),
            narrow_doc=old.data,
            wide_doc=new.data,
            narrow_name=_OLD,
            wide_name=_NEW,
            unrestricted="error",  # a new restriction refuses what old clients send
        ):
            yield _issue(
                new,
                f"{new_op.pointer}/requestBody",
                "request-body",
                issue,
                f"{label} request body",
                request=True,
            )
    elif new_body and not old_body:
        body = deref(new.data, new_op.op.get("requestBody")) or {}
        if body.get("required") is True:
            yield finding_at(
                new,
                STAGE,
                "request-body-required-added",
                "error",
                f"{label}: a request body is now required",
                f"{new_op.pointer}/requestBody",
            )


def _issue(
    document: SpecDocument,
    pointer: str,
    what: str,
    issue: Incompatibility,
    label: str,
    *,
    request: bool,
) -> Finding:
    """One schema incompatibility as a change: rule from its kind, severity from its impact."""
    rule = {
        "enum": "enum-narrowed" if request else "enum-widened",
        "type": "type-changed",
        "required": f"{what}-required-changed",
        "property": f"{what}-property-changed",
    }.get(issue.kind, "type-changed")
    severity: Severity = issue.severity
    if issue.kind == "property" and not request:
        severity = "info"  # a new response field breaks nobody
    elif issue.kind == "enum" and not request and severity == "error":
        severity = "warning"  # new values in an answer: clients with a closed enum may choke
    where = f" {issue.where}" if issue.where and issue.where != "(the body)" else ""
    return finding_at(document, STAGE, rule, severity, f"{label}{where}: {issue.message}", pointer)


def _scheme_changes(old: SpecDocument, new: SpecDocument) -> Iterator[Finding]:
    old_schemes = (old.data.get("components") or {}).get("securitySchemes") or {}
    new_schemes = (new.data.get("components") or {}).get("securitySchemes") or {}
    for name, scheme in old_schemes.items():
        if name in new_schemes and _wire_fields(scheme) != _wire_fields(new_schemes[name]):
            yield finding_at(
                new,
                STAGE,
                "auth-changed",
                "error",
                f"security scheme {name!r} changed from {_wire_fields(scheme)} to"
                f" {_wire_fields(new_schemes[name])}",
                f"/components/securitySchemes/{escape_token(name)}",
            )


def _wire_fields(scheme: Any) -> dict[str, str]:
    if not isinstance(scheme, dict):
        return {}
    return {k: str(scheme[k]).lower() for k in ("type", "in", "name", "scheme") if k in scheme}
