"""Is one schema compatible with another?  Used against upstream specs and between versions.

`narrow` must fit inside `wide`: every value `narrow` admits, `wide` admits too.
For a response we receive, narrow is what the server sends and wide what we accept;
for a request we send, narrow is what we send and wide what the server accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .findings import Severity
from .schemas import enum_values, object_properties, required_fields, schema_types
from .walk import deref

__all__ = ["Incompatibility", "compare_schemas"]

_MAX_DEPTH = 12


@dataclass(frozen=True)
class Incompatibility:
    """Where (a dotted path inside the schema) and why two schemas disagree."""

    where: str
    message: str
    severity: Severity
    kind: str = "type"  # type, enum, required or property


@dataclass(frozen=True)
class _Side:
    data: dict[str, Any]
    name: str  # who this side is, for messages: "FAL", "this spec", "the old spec"
    # how bad it is that the wide side restricts (type or enum) what the narrow side leaves open
    unrestricted: Severity = "warning"


def compare_schemas(
    narrow: Any,
    wide: Any,
    *,
    narrow_doc: dict[str, Any],
    wide_doc: dict[str, Any],
    narrow_name: str,
    wide_name: str,
    unrestricted: Severity = "warning",
) -> list[Incompatibility]:
    """Every way `narrow` admits something `wide` does not: errors first, then warnings.

    `unrestricted` is the severity when `wide` restricts a type or enum that `narrow`
    leaves open: a warning against a provider's loose docs, an error between versions.
    """
    found: list[Incompatibility] = []
    sides = (_Side(narrow_doc, narrow_name), _Side(wide_doc, wide_name, unrestricted))
    _compare(narrow, wide, *sides, "", found, 0)
    return sorted(found, key=lambda issue: issue.severity != "error")


def _types(types: set[str]) -> str:
    """`integer, string`: JSON Schema types for a message."""
    return ", ".join(sorted(types))


def _types_fit(narrow: set[str], wide: set[str]) -> set[str]:
    """The types of `narrow` that `wide` does not admit (an integer is a number)."""
    missing = set()
    for kind in narrow:
        if kind in wide or (kind == "integer" and "number" in wide):
            continue
        missing.add(kind)
    return missing


def _branches(data: dict[str, Any], schema: Any) -> list[Any] | None:
    schema = deref(data, schema)
    if not isinstance(schema, dict):
        return None
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return list(schema[key])
    return None


def _compare(
    narrow: Any,
    wide: Any,
    ns: _Side,
    ws: _Side,
    where: str,
    out: list[Incompatibility],
    depth: int,
) -> None:
    if depth > _MAX_DEPTH:
        return
    narrow, wide = deref(ns.data, narrow), deref(ws.data, wide)
    if not isinstance(narrow, dict) or not isinstance(wide, dict):
        return
    narrow_branches = _branches(ns.data, narrow)
    if narrow_branches and not ("properties" in narrow or "items" in narrow):
        for branch in narrow_branches:
            _compare(branch, wide, ns, ws, where, out, depth + 1)
        return
    wide_branches = _branches(ws.data, wide)
    if wide_branches and not ("properties" in wide or "items" in wide):
        # narrow must fit one of wide's branches: take the closest one
        best: list[Incompatibility] | None = None
        for branch in wide_branches:
            trial: list[Incompatibility] = []
            _compare(narrow, branch, ns, ws, where, trial, depth + 1)
            if best is None or len(trial) < len(best):
                best = trial
        out.extend(best or [])
        return
    label = where or "(the body)"
    narrow_types = schema_types(ns.data, narrow)
    wide_types = schema_types(ws.data, wide)
    if wide_types:
        if not narrow_types:
            out.append(
                Incompatibility(
                    label,
                    f"{ws.name} allows only {_types(wide_types)}; {ns.name} sets no type",
                    ws.unrestricted,
                    "type",
                )
            )
        else:
            missing = _types_fit(narrow_types, wide_types)
            if missing:
                out.append(
                    Incompatibility(
                        label,
                        f"{ns.name} may have {_types(missing)} here; {ws.name} allows only"
                        f" {_types(wide_types)}",
                        "error",
                        "type",
                    )
                )
                return
    wide_enum = enum_values(ws.data, wide)
    narrow_enum = enum_values(ns.data, narrow)
    if wide_enum is not None:
        if narrow_enum is None:
            out.append(
                Incompatibility(
                    label,
                    f"{ws.name} allows only {_show(wide_enum)}; {ns.name} allows any value",
                    ws.unrestricted,
                    "enum",
                )
            )
        else:
            extra = [value for value in narrow_enum if value not in wide_enum]
            if extra:
                out.append(
                    Incompatibility(
                        label,
                        f"{ns.name} allows {_show(extra)}, which {ws.name}'s enum"
                        f" {_show(wide_enum)} does not",
                        "error",
                        "enum",
                    )
                )
    _compare_objects(narrow, wide, ns, ws, where, out, depth)
    narrow_items, wide_items = narrow.get("items"), wide.get("items")
    if isinstance(narrow_items, dict) and isinstance(wide_items, dict):
        _compare(narrow_items, wide_items, ns, ws, f"{where}[]", out, depth + 1)


def _compare_objects(
    narrow: dict[str, Any],
    wide: dict[str, Any],
    ns: _Side,
    ws: _Side,
    where: str,
    out: list[Incompatibility],
    depth: int,
) -> None:
    narrow_props = object_properties(ns.data, narrow)
    wide_props = object_properties(ws.data, wide)
    if not narrow_props and not wide_props:
        narrow_extra, wide_extra = (
            narrow.get("additionalProperties"),
            wide.get("additionalProperties"),
        )
        if isinstance(narrow_extra, dict) and isinstance(wide_extra, dict):
            _compare(narrow_extra, wide_extra, ns, ws, f"{where}{{*}}", out, depth + 1)
        return
    narrow_required = required_fields(ns.data, narrow)
    wide_required = required_fields(ws.data, wide)
    closed = wide.get("additionalProperties") is False
    for name in sorted(wide_required - narrow_required):
        at = _join(where, name)
        if name in narrow_props:
            message = f"{ws.name} requires {name!r}; {ns.name} leaves it optional"
        else:
            message = f"{ws.name} requires {name!r}; {ns.name} does not have it"
        out.append(Incompatibility(at, message, "error", "required"))
    for name in sorted(set(narrow_props) - set(wide_props)):
        if wide_props or closed:
            severity: Severity = "error" if closed else "warning"
            out.append(
                Incompatibility(
                    _join(where, name),
                    f"{ns.name} has {name!r}, which {ws.name} does not document",
                    severity,
                    "property",
                )
            )
    for name in sorted(set(narrow_props) & set(wide_props)):
        _compare(narrow_props[name], wide_props[name], ns, ws, _join(where, name), out, depth + 1)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _show(values: list[Any], limit: int = 8) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    more = f", … ({len(values)} in all)" if len(values) > limit else ""
    return f"[{shown}{more}]"
