"""Stage 4, conform: the data against the spec's response schemas.

Each kind of record is bound to the operation that returns it (FAL `GET /v1/models`
-> `models[]`, ...), found in the spec by server + path, else by its last path
segment.  Every record is validated against the item schema; enum drift (values in
the data missing from an enum), missing required fields and other mismatches are
reported with counts and examples.  `fix_enums` writes a spec whose enums take
the drifted values in.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .document import SpecDocument, escape_token, resolve_pointer, write_spec
from .findings import Finding, StageResult, finding_at
from .records import RecordSet
from .schemas import instance_validator, node_pointers
from .walk import Operation, effective_servers, iter_operations, json_media, url_path

__all__ = ["BINDINGS", "Binding", "check_conformance", "fix_enums"]

STAGE = "conform"
_EXAMPLES = 3


@dataclass(frozen=True)
class Binding:
    """Which operation returns a kind of record, and where the records sit in its answer."""

    kind: str
    host: str
    path: str  # full URL path
    method: str
    items: str  # the property holding the list
    id_field: str


BINDINGS = (
    Binding("fal.models", "api.fal.ai", "/v1/models", "get", "models", "endpoint_id"),
    Binding("fal.prices", "api.fal.ai", "/v1/models/pricing", "get", "prices", "endpoint_id"),
    Binding("comet.models", "api.cometapi.com", "/v1/models", "get", "data", "id"),
    Binding("comet.catalog", "api.cometapi.com", "/api/models", "get", "data", "id"),
)


def _bound_operation(document: SpecDocument, binding: Binding) -> tuple[Operation, str] | None:
    """The operation serving `binding`: exact server + path, else the one with its last segment."""
    fallback: list[Operation] = []
    last = binding.path.rstrip("/").rsplit("/", 1)[-1]
    for op in iter_operations(document.data):
        if op.method != binding.method:
            continue
        for url in effective_servers(document.data, op):
            if urlsplit(url).hostname != binding.host:
                continue
            full = url_path(url) + "/" + op.path.lstrip("/")
            if full == binding.path:
                return op, "server + path"
            if full.rstrip("/").rsplit("/", 1)[-1] == last:
                fallback.append(op)
    unique = {op.pointer: op for op in fallback}
    if len(unique) == 1:
        return next(iter(unique.values())), "last path segment"
    return None


def _follow(data: dict[str, Any], pointer: str) -> str | None:
    """`pointer`, with any `$ref` at it followed to where the schema really is."""
    for _ in range(32):
        try:
            node = resolve_pointer(data, pointer)
        except (KeyError, ValueError):
            return None
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not isinstance(ref, str):
            return pointer
        if not ref.startswith("#"):
            return None
        pointer = ref[1:]
    return None


def _items_pointer(document: SpecDocument, op: Operation, items: str) -> str | None:
    """The pointer of the schema of one record in the operation's success answer."""
    responses = op.op.get("responses")
    if not isinstance(responses, dict):
        return None
    for status in sorted(str(s) for s in responses):
        if not status.startswith("2"):
            continue
        base = _follow(document.data, f"{op.pointer}/responses/{escape_token(status)}")
        if base is None:
            continue
        media = json_media(resolve_pointer(document.data, base))
        if media is None:
            continue
        body = _follow(document.data, f"{base}/content/{escape_token(media[0])}/schema")
        listing = body and _follow(document.data, f"{body}/properties/{escape_token(items)}")
        record = listing and _follow(document.data, f"{listing}/items")
        if record:
            return record
    return None


def _field(path: Any) -> str:
    """A record path for messages: ("metadata", "category") -> metadata.category; lists as []."""
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            parts.append("[]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)


def check_conformance(document: SpecDocument, records: RecordSet) -> StageResult:
    """Validate every record against its item schema; drift, missing fields, other mismatches."""
    findings: list[Finding] = []
    checked: dict[str, Any] = {}
    pointers = node_pointers(document.data)
    for binding in BINDINGS:
        items = records.collections.get(binding.kind)
        if items is None:
            continue
        bound = _bound_operation(document, binding)
        url = f"{binding.method.upper()} https://{binding.host}{binding.path}"
        if bound is None:
            findings.append(
                finding_at(
                    document,
                    STAGE,
                    "conform-unbound",
                    "info",
                    f"no operation for {url} in this spec: {len(items)} {binding.kind} record(s)"
                    " not checked",
                )
            )
            continue
        op, how = bound
        schema_pointer = _items_pointer(document, op, binding.items)
        if schema_pointer is None:
            findings.append(
                finding_at(
                    document,
                    STAGE,
                    "conform-unbound",
                    "warning",
                    f"{op.label} has no JSON success answer with a {binding.items!r} list:"
                    f" {binding.kind} records not checked",
                    op.pointer,
                )
            )
            continue
        found, conforming = _check_kind(document, binding, op, schema_pointer, items, pointers)
        findings += found
        checked[binding.kind] = {
            "operation": op.label,
            "matched_by": how,
            "records": len(items),
            "conforming": conforming,
            "schema": schema_pointer,
        }
    details = {
        "data": records.label,
        "sources": dict(records.sources),
        "checked": checked,
        "notes": list(records.notes),
    }
    return StageResult(STAGE, findings, details=details)


def _check_kind(
    document: SpecDocument,
    binding: Binding,
    op: Operation,
    schema_pointer: str,
    items: list[dict[str, Any]],
    pointers: dict[int, str],
) -> tuple[list[Finding], int]:
    validator = instance_validator(document, schema_pointer)
    drift: dict[str, dict[str, Any]] = {}
    missing: dict[str, dict[str, Any]] = {}
    other: dict[tuple[str, str], dict[str, Any]] = {}
    conforming = 0
    for record in items:
        ident = str(record.get(binding.id_field, "?"))
        errors = list(validator.iter_errors(record))
        if not errors:
            conforming += 1
        for error in errors:
            where = _field(error.absolute_path)
            if error.validator == "enum":
                at = pointers.get(id(error.schema), "")
                entry = drift.setdefault(at, {"field": where, "values": Counter(), "examples": {}})
                value = error.instance
                entry["values"][json.dumps(value)] += 1
                entry["examples"].setdefault(json.dumps(value), []).append(ident)
            elif error.validator == "required":
                absent = [n for n in error.validator_value if n not in (error.instance or {})]
                for name in absent:
                    key = f"{where}.{name}" if where else name
                    at = pointers.get(id(error.schema), schema_pointer)
                    entry = missing.setdefault(key, {"pointer": at, "count": 0, "examples": []})
                    entry["count"] += 1
                    entry["examples"].append(ident)
            else:
                key = (where or "(record)", str(error.validator))
                entry = other.setdefault(key, {"count": 0, "examples": [], "message": ""})
                entry["count"] += 1
                entry["examples"].append(ident)
                entry["message"] = entry["message"] or error.message
    total = len(items)
    findings = list(_drift_findings(document, binding, op, drift))
    for key, entry in sorted(missing.items()):
        findings.append(
            finding_at(
                document,
                STAGE,
                "conform-required",
                "error",
                f"{binding.kind}: {key} is required but missing in {entry['count']} of {total}"
                f" records (e.g. {', '.join(entry['examples'][:_EXAMPLES])})",
                f"{entry['pointer']}/required",
                field=key,
                count=entry["count"],
                total=total,
                examples=entry["examples"][:_EXAMPLES],
            )
        )
    for (where, keyword), entry in sorted(other.items()):
        findings.append(
            finding_at(
                document,
                STAGE,
                "conform-schema",
                "error",
                f"{binding.kind}: {where} fails {keyword!r} in {entry['count']} of {total} records"
                f" (e.g. {', '.join(entry['examples'][:_EXAMPLES])}: {entry['message'][:120]})",
                schema_pointer,
                field=where,
                keyword=keyword,
                count=entry["count"],
                total=total,
                examples=entry["examples"][:_EXAMPLES],
            )
        )
    return findings, conforming


def _drift_findings(
    document: SpecDocument, binding: Binding, op: Operation, drift: dict[str, dict[str, Any]]
) -> list[Finding]:
    findings = []
    params = _enum_parameters(document, op)
    for at, entry in sorted(drift.items()):
        values = {json.loads(v): n for v, n in entry["values"].most_common()}
        examples = {json.loads(v): ids[:_EXAMPLES] for v, ids in entry["examples"].items()}
        shown = ", ".join(f"{v!r} ({n})" for v, n in list(values.items())[:12])
        more = f", … {len(values)} in all" if len(values) > 12 else ""
        message = (
            f"{binding.kind}: {entry['field']} has {len(values)} value(s) missing from the enum,"
            f" in {sum(values.values())} records: {shown}{more}"
        )
        details = {
            "field": entry["field"],
            "enum_pointer": f"{at}/enum",
            "missing": values,
            "examples": examples,
        }
        findings.append(
            finding_at(
                document, STAGE, "conform-enum-drift", "error", message, f"{at}/enum", **details
            )
        )
        name = entry["field"].rsplit(".", 1)[-1]
        for param_name, enum_pointer in params:
            if param_name == name:
                findings.append(
                    finding_at(
                        document,
                        STAGE,
                        "conform-enum-drift",
                        "error",
                        f"{op.label} parameter {param_name!r}: the same {len(values)} value(s) are"
                        f" missing from its enum: {shown}{more}",
                        enum_pointer,
                        **{**details, "enum_pointer": enum_pointer},
                    )
                )
    return findings


def _enum_parameters(document: SpecDocument, op: Operation) -> list[tuple[str, str]]:
    """(name, pointer of its enum) for the operation's parameters restricted by an enum."""
    found = []
    for holder in (op.pointer.rsplit("/", 1)[0], op.pointer):
        try:
            params = resolve_pointer(document.data, f"{holder}/parameters")
        except (KeyError, ValueError):
            continue
        for index in range(len(params) if isinstance(params, list) else 0):
            param_pointer = _follow(document.data, f"{holder}/parameters/{index}")
            schema_pointer = param_pointer and _follow(document.data, f"{param_pointer}/schema")
            if not param_pointer or not schema_pointer:
                continue
            param = resolve_pointer(document.data, param_pointer)
            schema = resolve_pointer(document.data, schema_pointer)
            if isinstance(schema, dict) and isinstance(schema.get("enum"), list):
                found.append((str(param.get("name")), f"{schema_pointer}/enum"))
    return found


def fix_enums(document: SpecDocument, result: StageResult, out: Path | str) -> Path:
    """Write a copy of the spec whose drifting enums take the values the data has."""
    data = copy.deepcopy(document.data)
    for finding in result.findings:
        if finding.rule != "conform-enum-drift":
            continue
        pointer = finding.details["enum_pointer"]
        enum = resolve_pointer(data, pointer)
        for value in finding.details["missing"]:
            if value not in enum:
                enum.append(value)
    return write_spec(data, out)
