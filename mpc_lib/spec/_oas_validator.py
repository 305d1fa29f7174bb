"""openapi-spec-validator, run so a big spec answers in seconds, its findings placed in the file.

The validator runs on a copy whose equal subtrees are one object (it skips a subtree
it has seen), with its schema keyword sped up (`_fast_schema_keyword`), no URL
handlers (nothing is fetched), and its errors mapped to JSON pointers.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, ClassVar

from .document import SpecDocument, json_pointer
from .findings import Finding, finding_at

__all__ = ["MAX_VALIDATOR_FINDINGS", "run_validator"]

log = logging.getLogger("mpc_lib.spec")

STAGE = "validate"
MAX_VALIDATOR_FINDINGS = 200
_METHOD_IN_PATH = re.compile(r"for '(\w+)'(?: operation)? in '([^']+)'")


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


def run_validator(document: SpecDocument, covered: set[str]) -> list[Finding]:
    """The validator's errors as findings (those under `covered` pointers are said already)."""
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
