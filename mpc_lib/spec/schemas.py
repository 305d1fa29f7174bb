"""Schemas as validators and as types: check instances against a spec's schemas, compare types.

Instances are validated with openapi-schema-validator's OAS 3.0 / 3.1 dialects over
the whole document registered as one resource, so local `$ref`s resolve wherever the
schema sits.  The type helpers read 3.0 (`nullable`) and 3.1 (`type` lists) alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .document import SpecDocument, escape_token
from .walk import deref

__all__ = [
    "enum_values",
    "instance_validator",
    "node_pointers",
    "object_properties",
    "required_fields",
    "schema_types",
]

_SPEC_URI = "urn:mpc:spec"
_VALIDATORS: dict[int, tuple[Any, Any]] = {}


def instance_validator(document: SpecDocument, pointer: str) -> Any:
    """A jsonschema validator for the schema at `pointer` (refs resolve in the whole document)."""
    # heavy (jsonschema's format checkers): loaded only when the gate validates instances
    from openapi_schema_validator import (
        OAS30Validator,
        OAS31Validator,
        oas30_format_checker,
        oas31_format_checker,
    )
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4, DRAFT202012

    key = id(document.data)
    cached = _VALIDATORS.get(key)
    if cached is None or cached[0] is not document.data:
        spec = DRAFT4 if document.minor == "3.0" else DRAFT202012
        resource = Resource.from_contents(document.data, default_specification=spec)
        cached = (document.data, Registry().with_resource(_SPEC_URI, resource))
        _VALIDATORS.clear()  # one document at a time is all the gate needs
        _VALIDATORS[key] = cached
    registry = cached[1]
    if document.minor == "3.0":
        return OAS30Validator(
            {"$ref": f"{_SPEC_URI}#{pointer}"},
            registry=registry,
            format_checker=oas30_format_checker,
        )
    return OAS31Validator(
        {"$ref": f"{_SPEC_URI}#{pointer}"}, registry=registry, format_checker=oas31_format_checker
    )


def node_pointers(data: Any) -> dict[int, str]:
    """id(node) -> its first JSON pointer, for every dict and list in the document."""
    found: dict[int, str] = {}
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        node, pointer = stack.pop()
        if id(node) in found:
            continue
        found[id(node)] = pointer
        children: Iterator[tuple[Any, Any]] = (
            iter(node.items()) if isinstance(node, dict) else enumerate(node)
        )
        for key, value in children:
            if isinstance(value, (dict, list)):
                stack.append((value, f"{pointer}/{escape_token(key)}"))
    return found


def schema_types(data: dict[str, Any], schema: Any, *, depth: int = 0) -> set[str]:
    """The JSON types a schema admits ('null' included for 3.0 nullable); empty = any type."""
    schema = deref(data, schema)
    if not isinstance(schema, dict) or depth > 16:
        return set()
    kind = schema.get("type")
    types: set[str] = set()
    if isinstance(kind, str):
        types.add(kind)
    elif isinstance(kind, list):
        types.update(str(k) for k in kind)
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list):
            branch_types = [schema_types(data, b, depth=depth + 1) for b in branches]
            if any(not t for t in branch_types):
                return set()  # one branch admits anything
            types.update(*branch_types)
    if schema.get("nullable") is True and types:
        types.add("null")
    return types


def enum_values(data: dict[str, Any], schema: Any) -> list[Any] | None:
    """The enum (or const) a schema restricts values to; None when it does not."""
    schema = deref(data, schema)
    if not isinstance(schema, dict):
        return None
    if isinstance(schema.get("enum"), list):
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    return None


def object_properties(data: dict[str, Any], schema: Any, *, depth: int = 0) -> dict[str, Any]:
    """Property name -> schema, including those of allOf parts."""
    schema = deref(data, schema)
    if not isinstance(schema, dict) or depth > 16:
        return {}
    found: dict[str, Any] = {}
    for part in schema.get("allOf") or []:
        found.update(object_properties(data, part, depth=depth + 1))
    props = schema.get("properties")
    if isinstance(props, dict):
        found.update(props)
    return found


def required_fields(data: dict[str, Any], schema: Any, *, depth: int = 0) -> set[str]:
    """The required property names, including those of allOf parts."""
    schema = deref(data, schema)
    if not isinstance(schema, dict) or depth > 16:
        return set()
    found = {str(name) for name in schema.get("required") or [] if isinstance(name, str)}
    for part in schema.get("allOf") or []:
        found |= required_fields(data, part, depth=depth + 1)
    return found
