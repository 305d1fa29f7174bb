"""Stage 1, validate: $refs, version features, then openapi-spec-validator (OAS 3.0 and 3.1).

Our own passes run first and catch what makes the validator crash or reach out:
unresolvable, remote or external `$ref`s and `$ref` cycles (the validator would raise
or recurse forever, or fetch a URL outside our HTTP core).  Then 3.1 features in a
3.0 document (and 3.0's `nullable` in 3.1), with a message that says what to change.
Then openapi-spec-validator itself, on a copy whose identical subtrees are shared:
its walk skips a subtree it has seen, which keeps a 10 MB spec to seconds.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from .document import SpecDocument, escape_token, json_pointer, resolve_pointer
from .findings import Finding, StageResult, finding_at
from .walk import iter_refs, iter_schemas

__all__ = ["MAX_VALIDATOR_FINDINGS", "validate_spec"]

log = logging.getLogger("mpc_lib.spec")

STAGE = "validate"
MAX_VALIDATOR_FINDINGS = 200

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
_METHOD_IN_PATH = re.compile(r"for '(\w+)'(?: operation)? in '([^']+)'")


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
    findings += _run_validator(document, covered)
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


# --- openapi-spec-validator ----------------------------------------------------------


def _interned(data: Any) -> Any:
    """A copy in which equal subtrees are one object, so the validator visits each once."""
    memo: dict[Any, Any] = {}

    def scalar_key(value: Any) -> Any:
        return (type(value).__name__, value)

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            members = {key: visit(value) for key, value in node.items()}
            key = ("d", *((k, _child_key(v, scalar_key)) for k, v in members.items()))
            return memo.setdefault(key, members)
        if isinstance(node, list):
            items = [visit(value) for value in node]
            key = ("l", *(_child_key(v, scalar_key) for v in items))
            return memo.setdefault(key, items)
        return node

    return visit(data)


def _child_key(value: Any, scalar_key: Any) -> Any:
    return id(value) if isinstance(value, (dict, list)) else scalar_key(value)


class _IdSet(list):
    """The validator's "seen ids" list with set membership: its list makes big specs quadratic."""

    def __init__(self) -> None:
        super().__init__()
        self._ids: set[int] = set()

    def append(self, item: Any) -> None:
        self._ids.add(item)

    def __contains__(self, item: object) -> bool:
        return item in self._ids


# Keys whose values the OAS meta-schemas only type-check: a schema's shape ignores them.
_FREE_TEXT = ("description", "title", "summary", "$comment")
_FREE_VALUE = ("example", "default", "const")
_NAMED = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _shape(node: Any) -> Any:
    """A schema with what the meta-schema cannot reject blanked: names, prose, example values.

    Two schemas of one shape pass or fail the meta-schema check together, so a check
    passed by one shape need not run again (the real schema is checked when it fails).
    """
    if isinstance(node, list):
        return [_shape(item) for item in node]
    if not isinstance(node, dict):
        return node
    shaped: dict[str, Any] = {}
    for key, value in node.items():
        if key in _FREE_TEXT and isinstance(value, str):
            shaped[key] = ""
        elif key in _FREE_VALUE:
            shaped[key] = None
        elif key == "examples" and isinstance(value, list):
            shaped[key] = [None] * len(value)
        elif key == "enum" and isinstance(value, list):
            shaped[key] = list(range(len(value)))
        elif key == "required" and isinstance(value, list):
            shaped[key] = [f"r{index}" for index in range(len(value))]
        elif key in _NAMED and isinstance(value, dict):
            shaped[key] = {f"p{index}": _shape(sub) for index, sub in enumerate(value.values())}
        else:
            shaped[key] = _shape(value)
    return shaped


# What the validator's walk below a schema can complain about (beyond the meta check):
# defaults, required names under allOf, and whatever a $ref leads to.
_WALK_KEYS = frozenset(("default", "allOf", "$ref", "$dynamicRef"))


def _quiet(node: Any, seen: dict[int, bool]) -> bool:
    """Whether the validator's walk below a meta-checked schema can find nothing to report."""
    if isinstance(node, list):
        return all(_quiet(item, seen) for item in node)
    if not isinstance(node, dict):
        return True
    ident = id(node)
    if ident not in seen:
        seen[ident] = not (_WALK_KEYS & node.keys()) and all(
            _quiet(value, seen) for value in node.values()
        )
    return seen[ident]


def _fast_schema_keyword(base: Any) -> Any:
    """openapi-spec-validator's schema keyword, fast on big specs, with the same findings.

    Its "seen" lists become sets (they made the walk quadratic); a meta-schema check
    passed by one schema shape is not run again; and the walk below a schema is
    skipped when nothing in it could be reported (no default, allOf or $ref).  Falls
    back to `base` unchanged when its internals are not the ones this was written for.
    """
    if not hasattr(base, "_validate_schema_meta"):
        return base

    class _Fast(base):
        def __init__(self, registry: Any) -> None:
            super().__init__(registry)
            self._fast = isinstance(getattr(self, "meta_checked_schema_ids", None), list)
            if isinstance(getattr(self, "visited_schema_ids", None), list):
                self.visited_schema_ids = _IdSet()
            if self._fast:
                self.meta_checked_schema_ids = _IdSet()
            self._passed_shapes: set[str] = set()
            self._quiet: dict[int, bool] = {}

        def __call__(
            self, schema: Any, require_properties: bool = True, meta_checked: bool = False
        ) -> Any:
            value = schema.read_value() if self._fast else None
            if not (isinstance(value, dict) and _quiet(value, self._quiet)):
                yield from super().__call__(schema, require_properties, meta_checked)
                return
            if meta_checked or id(value) in self.meta_checked_schema_ids:
                return
            self.meta_checked_schema_ids.append(id(value))
            error = self._validate_schema_meta(schema, value)
            if error is not None:
                yield error

        def _validate_schema_meta(self, schema: Any, schema_value: Any) -> Any:
            try:
                shape = json.dumps(_shape(schema_value), sort_keys=True)
            except (TypeError, ValueError, RecursionError):
                shape = None
            if shape is not None and shape in self._passed_shapes:
                return None
            error = super()._validate_schema_meta(schema, schema_value)
            if error is None and shape is not None:
                self._passed_shapes.add(shape)
            return error

    return _Fast


def _validator_class(minor: str) -> Any:
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    base = OpenAPIV30SpecValidator if minor == "3.0" else OpenAPIV31SpecValidator
    keywords = dict(base.keyword_validators)
    if "schema" in keywords:
        keywords["schema"] = _fast_schema_keyword(keywords["schema"])

    class _LocalOnly(base):  # type: ignore[misc, valid-type]
        # No URL handlers: every $ref was checked to be local, and nothing is ever fetched.
        resolver_handlers: ClassVar[dict[str, Any]] = {}
        keyword_validators: ClassVar[dict[str, Any]] = keywords

    return _LocalOnly


def _run_validator(document: SpecDocument, covered: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    validator = _validator_class(document.minor)(_interned(document.data))
    try:
        for error in validator.iter_errors():
            pointer = _error_pointer(error)
            message = _first_line(str(getattr(error, "message", error)))
            if any(
                pointer == c or pointer.startswith(c + "/") or c.startswith(pointer + "/")
                for c in covered
                if pointer
            ):
                continue  # already said better by the version-feature check
            if (pointer, message) in seen:
                continue
            seen.add((pointer, message))
            if len(findings) >= MAX_VALIDATOR_FINDINGS:
                findings.append(
                    finding_at(
                        document,
                        STAGE,
                        "oas-structure",
                        "error",
                        f"more than {MAX_VALIDATOR_FINDINGS} structural errors; the rest are"
                        " not shown",
                    )
                )
                break
            findings.append(finding_at(document, STAGE, "oas-structure", "error", message, pointer))
    except RecursionError:
        findings.append(
            finding_at(
                document,
                STAGE,
                "oas-structure",
                "error",
                "openapi-spec-validator gave up: the schemas nest or refer to each other too"
                " deeply to follow",
            )
        )
    except Exception as exc:
        log.debug("openapi-spec-validator raised", exc_info=True)
        findings.append(
            finding_at(
                document,
                STAGE,
                "oas-structure",
                "error",
                f"openapi-spec-validator could not finish: {type(exc).__name__}:"
                f" {_first_line(str(exc))[:200]}",
            )
        )
    return findings


def _error_pointer(error: Any) -> str:
    parts = list(getattr(error, "absolute_path", ()) or ())
    if parts:
        return json_pointer(*parts)
    # The validator's own checks (duplicate operationId, unresolved path parameter) name the
    # operation only in their message.
    match = _METHOD_IN_PATH.search(str(getattr(error, "message", "")))
    if match:
        method, path = match.groups()
        return json_pointer("paths", path, method.lower())
    return ""


def _first_line(message: str) -> str:
    return message.strip().split("\n", 1)[0].strip()
