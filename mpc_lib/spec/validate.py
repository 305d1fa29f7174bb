"""Stage 1, validate: $refs, version features, then openapi-spec-validator (OAS 3.0 and 3.1).

Our own passes run first and catch what makes the validator crash or reach out:
unresolvable, remote or external `$ref`s and `$ref` cycles (the validator would raise
or recurse forever, or fetch a URL outside our HTTP core).  Then 3.1 features in a
3.0 document (and 3.0's `nullable` in 3.1), with a message that says what to change.
Then openapi-spec-validator itself, as shipped (bench/validator_bench.py measures it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._oas_validator import run_validator
from .document import SpecDocument, escape_token, resolve_pointer
from .findings import Finding, StageResult, finding_at
from .walk import iter_refs, iter_schemas

__all__ = ["validate_spec"]

STAGE = "validate"

# Schema keywords JSON Schema 2020-12 (OAS 3.1) has and OAS 3.0's schema object does not.
_ONLY_31_KEYWORDS = (
    "const",
    "$schema",
    "$id",
    "$defs",
    "$anchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "prefixItems",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contentEncoding",
    "contentMediaType",
    "contains",
    "propertyNames",
    "examples",
    "patternProperties",
)


def validate_spec(document: SpecDocument) -> StageResult:
    """Structural validation; every finding has a JSON pointer and a line:column."""
    findings = [*_check_refs(document), *_check_cycles(document)]
    features = list(_version_features(document))
    findings += features
    result = StageResult(STAGE, findings)
    if any(f.severity == "error" and f.rule.startswith("ref-") for f in findings):
        result.details["validator"] = "not run: fix the $ref errors first"
        return result
    covered = {f.pointer.rsplit("/", 1)[0] for f in features}
    findings += run_validator(document, covered)
    result.details["validator"] = "openapi-spec-validator"
    return result


# --- $refs ---------------------------------------------------------------------------


def _check_refs(document: SpecDocument) -> Iterator[Finding]:
    data = document.data
    for pointer, ref in iter_refs(data):
        at = f"{pointer}/$ref"
        if ref.startswith("#"):
            try:
                resolve_pointer(data, ref[1:])
            except (KeyError, ValueError) as exc:
                yield finding_at(
                    document,
                    STAGE,
                    "ref-unresolvable",
                    "error",
                    f"$ref {ref!r} does not resolve (nothing at {exc.args[0]!r})",
                    at,
                )
        elif ref.startswith(("http://", "https://")):
            yield finding_at(
                document,
                STAGE,
                "ref-remote",
                "error",
                f"remote $ref {ref!r}: the gate never fetches; bundle it into this document",
                at,
            )
        else:
            yield finding_at(
                document,
                STAGE,
                "ref-external",
                "error",
                f"external $ref {ref!r}: bundle it into this document"
                " (Apidog imports a single document)",
                at,
            )


def _identity_edges(data: dict[str, Any], pointer: str, node: Any) -> list[tuple[str, Any]]:
    """Where a schema *is* something else without nesting: its $ref and its compositions."""
    if not isinstance(node, dict):
        return []
    ref = node.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#"):
            return []
        try:
            return [(ref[1:], resolve_pointer(data, ref[1:]))]
        except (KeyError, ValueError):
            return []
    edges = []
    for key in ("allOf", "anyOf", "oneOf"):
        group = node.get(key)
        if isinstance(group, list):
            edges += [(f"{pointer}/{key}/{index}", item) for index, item in enumerate(group)]
    return edges


def _check_cycles(document: SpecDocument) -> Iterator[Finding]:
    """A schema that is itself through $ref/allOf/anyOf/oneOf alone can never be resolved."""
    data = document.data
    starts = [
        (pointer, schema)
        for pointer, schema in iter_schemas(data)
        if "$ref" in schema or "allOf" in schema or "anyOf" in schema or "oneOf" in schema
    ]
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    reported: set[frozenset[str]] = set()
    for start, start_node in starts:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, Any, int]] = [(start, start_node, 0)]
        while stack:
            pointer, node, index = stack.pop()
            if index == 0:
                state[pointer] = 1
                path.append(pointer)
            edges = _identity_edges(data, pointer, node)
            if index < len(edges):
                stack.append((pointer, node, index + 1))
                target, target_node = edges[index]
                if state.get(target) == 1:
                    cycle = path[path.index(target) :]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        chain = " -> ".join(f"#{p}" for p in [*cycle, target])
                        yield finding_at(
                            document,
                            STAGE,
                            "ref-cycle",
                            "error",
                            f"$ref cycle: {chain} (a schema defined only as itself)",
                            target,
                        )
                elif not state.get(target):
                    stack.append((target, target_node, 0))
            else:
                state[pointer] = 2
                path.pop()


# --- version features ----------------------------------------------------------------


def _version_features(document: SpecDocument) -> Iterator[Finding]:
    data, version = document.data, document.version
    if document.minor == "3.1":
        for pointer, schema in iter_schemas(data):
            if "nullable" in schema:
                yield finding_at(
                    document,
                    STAGE,
                    "oas30-in-31",
                    "warning",
                    "'nullable' is not an OAS 3.1 keyword and is ignored:"
                    " add 'null' to 'type' instead",
                    f"{pointer}/nullable",
                )
        return
    only_31 = f"an OAS 3.1 feature in an OAS {version} document"
    for key in ("webhooks", "jsonSchemaDialect"):
        if key in data:
            yield finding_at(
                document, STAGE, "oas31-in-30", "error", f"{key}: {only_31}", f"/{key}"
            )
    info: dict[str, Any] = data["info"] if isinstance(data.get("info"), dict) else {}
    if "summary" in info:
        yield finding_at(
            document, STAGE, "oas31-in-30", "error", f"info.summary: {only_31}", "/info/summary"
        )
    license_: dict[str, Any] = info["license"] if isinstance(info.get("license"), dict) else {}
    if "identifier" in license_:
        yield finding_at(
            document,
            STAGE,
            "oas31-in-30",
            "error",
            f"info.license.identifier: {only_31}",
            "/info/license/identifier",
        )
    components: dict[str, Any] = (
        data["components"] if isinstance(data.get("components"), dict) else {}
    )
    if "pathItems" in components:
        yield finding_at(
            document,
            STAGE,
            "oas31-in-30",
            "error",
            f"components.pathItems: {only_31}",
            "/components/pathItems",
        )
    for pointer, schema in iter_schemas(data):
        yield from _schema_31_features(document, pointer, schema, only_31)


def _schema_31_features(
    document: SpecDocument, pointer: str, schema: dict[str, Any], only_31: str
) -> Iterator[Finding]:
    kind = schema.get("type")
    if isinstance(kind, list):
        others = [t for t in kind if t != "null"]
        hint = (
            f"write type: {others[0]!r} with nullable: true"
            if "null" in kind and len(others) == 1
            else "use a single type (or oneOf)"
        )
        yield finding_at(
            document,
            STAGE,
            "oas31-in-30",
            "error",
            f"type {kind!r} (a list of types) is {only_31}: {hint}",
            f"{pointer}/type",
        )
    elif kind == "null":
        yield finding_at(
            document,
            STAGE,
            "oas31-in-30",
            "error",
            f"type 'null' is {only_31}: use nullable: true",
            f"{pointer}/type",
        )
    for keyword in _ONLY_31_KEYWORDS:
        if keyword in schema:
            yield finding_at(
                document,
                STAGE,
                "oas31-in-30",
                "error",
                f"{keyword!r} is {only_31}",
                f"{pointer}/{escape_token(keyword)}",
            )
    for keyword in ("exclusiveMinimum", "exclusiveMaximum"):
        value = schema.get(keyword)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield finding_at(
                document,
                STAGE,
                "oas31-in-30",
                "error",
                f"numeric {keyword} is {only_31}: in 3.0 it is a boolean beside"
                f" {'minimum' if keyword == 'exclusiveMinimum' else 'maximum'}",
                f"{pointer}/{keyword}",
            )
