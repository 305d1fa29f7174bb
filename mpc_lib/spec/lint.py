"""Stage 2, lint: house rules, each with an id and a severity set in `openapi/lint.toml`.

The rules are the ones the old hub's spec broke or that generated clients and
Apidog depend on (unique operationIds, servers, declared and used security schemes,
valid examples, path parameters, a server + path that doubles a segment).
"""

from __future__ import annotations

import itertools
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .document import SpecDocument, escape_token, resolve_pointer
from .findings import SEVERITIES, Finding, Severity, StageResult, finding_at
from .schemas import instance_validator
from .walk import (
    deref,
    effective_servers,
    iter_operations,
    iter_refs,
    iter_schemas,
    operation_parameters,
    url_path,
)

__all__ = ["DEFAULT_LINT_CONFIG", "LINT_RULES", "LintConfig", "LintRule", "lint_spec"]

STAGE = "lint"
_TEMPLATE = re.compile(r"{([^{}/]+)}")
_COMPONENT_KINDS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "links",
    "callbacks",
    "pathItems",
)
MAX_EXAMPLE_FINDINGS = 50

_Emit = Callable[[str, str], Finding]  # (message, pointer) -> finding at the rule's severity


@dataclass(frozen=True)
class LintRule:
    """One rule: id, default severity, what it checks."""

    id: str
    severity: Severity
    summary: str


LINT_RULES: dict[str, LintRule] = {
    rule.id: rule
    for rule in (
        LintRule("operation-id-unique", "error", "every operationId is unique"),
        LintRule("operation-id-present", "warning", "every operation has an operationId"),
        LintRule("operation-summary", "warning", "every operation has a summary"),
        LintRule("operation-tags", "warning", "every operation has at least one tag"),
        LintRule("operation-responses", "error", "every operation declares responses"),
        LintRule("servers-defined", "error", "a server applies to every operation"),
        LintRule(
            "security-schemes-declared",
            "error",
            "every security requirement names a declared scheme",
        ),
        LintRule("security-schemes-used", "warning", "every declared scheme is used"),
        LintRule("no-unused-components", "warning", "every component is referenced"),
        LintRule(
            "path-params-declared",
            "error",
            "every {param} in a path is declared, required, and nothing else is",
        ),
        LintRule("examples-valid", "error", "every example matches its schema"),
        LintRule(
            "server-path-doubled-segment",
            "error",
            "no server + path joins into a URL with a doubled segment (/v1/v1/...)",
        ),
    )
}


@dataclass(frozen=True)
class LintConfig:
    """Severity per rule ('off' disables one); where it came from, for messages."""

    severities: dict[str, str] = field(
        default_factory=lambda: {rule.id: rule.severity for rule in LINT_RULES.values()}
    )
    source: str = "built-in defaults"

    @classmethod
    def load(cls, path: Path | str) -> LintConfig:
        """Read `[rules] rule-id = "error" | "warning" | "info" | "off"` from a TOML file."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read lint config ({exc.strerror or exc})") from exc
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
        unknown_tables = set(data) - {"rules"}
        if unknown_tables:
            raise ConfigError(
                f"{path}: unknown table(s) {', '.join(sorted(unknown_tables))}; expected [rules]"
            )
        rules = data.get("rules", {})
        if not isinstance(rules, dict):
            raise ConfigError(f"{path}: [rules] must be a table of rule = severity")
        severities = {rule.id: str(rule.severity) for rule in LINT_RULES.values()}
        for rule_id, severity in rules.items():
            if rule_id not in LINT_RULES:
                raise ConfigError(
                    f"{path}: unknown lint rule {rule_id!r}; known: {', '.join(LINT_RULES)}"
                )
            if severity not in (*SEVERITIES, "off"):
                raise ConfigError(
                    f"{path}: {rule_id} = {severity!r}; expected error, warning, info or off"
                )
            severities[rule_id] = severity
        return cls(severities, str(path))


DEFAULT_LINT_CONFIG = LintConfig()


def lint_spec(document: SpecDocument, config: LintConfig | None = None) -> StageResult:
    """Run every rule that is not off; findings carry the configured severity."""
    config = config or DEFAULT_LINT_CONFIG
    findings: list[Finding] = []
    for rule_id, check in _CHECKS.items():
        severity = config.severities.get(rule_id, LINT_RULES[rule_id].severity)
        if severity == "off":
            continue

        def emit(message: str, pointer: str, _rule: str = rule_id, _sev: Any = severity) -> Finding:
            return finding_at(document, STAGE, _rule, _sev, message, pointer)

        findings.extend(check(document, emit))
    return StageResult(STAGE, findings, details={"config": config.source})


# --- operations ----------------------------------------------------------------------


def _operation_ids(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    first: dict[str, str] = {}
    for op in iter_operations(document.data):
        op_id = op.op.get("operationId")
        if not isinstance(op_id, str):
            continue
        if op_id in first:
            yield emit(
                f"operationId {op_id!r} is also used by {first[op_id]}", f"{op.pointer}/operationId"
            )
        else:
            first[op_id] = op.label


def _operation_id_present(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    for op in iter_operations(document.data):
        if not op.op.get("operationId"):
            yield emit(f"{op.label} has no operationId (generated clients need one)", op.pointer)


def _summaries(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    for op in iter_operations(document.data):
        if not str(op.op.get("summary") or "").strip():
            yield emit(f"{op.label} has no summary", op.pointer)


def _tags(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    for op in iter_operations(document.data):
        tags = op.op.get("tags")
        if not isinstance(tags, list) or not tags:
            yield emit(f"{op.label} has no tags (Apidog files it at the root)", op.pointer)


def _responses(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    for op in iter_operations(document.data):
        responses = op.op.get("responses")
        if not isinstance(responses, dict) or not responses:
            yield emit(f"{op.label} declares no responses", op.pointer)


# --- servers -------------------------------------------------------------------------


def _servers(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    for op in iter_operations(document.data):
        if not effective_servers(document.data, op):
            yield emit(
                f"no server applies to {op.label}: add servers at the root, path or operation",
                op.pointer,
            )


def _doubled(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    for op in iter_operations(document.data):
        for server in effective_servers(document.data, op):
            joined = url_path(server) + "/" + op.path.lstrip("/")
            segments = [s for s in joined.split("/") if s]
            for before, after in itertools.pairwise(segments):
                if before == after and not _TEMPLATE.fullmatch(before):
                    yield emit(
                        f"{server} + {op.path} joins into {joined}: the segment {before!r}"
                        " is doubled",
                        op.pointer,
                    )
                    break


# --- security ------------------------------------------------------------------------


def _declared_schemes(data: dict[str, Any]) -> dict[str, Any]:
    components = data.get("components")
    schemes = components.get("securitySchemes") if isinstance(components, dict) else None
    return schemes if isinstance(schemes, dict) else {}


def _requirements(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(pointer of the requirement, scheme name) for the root's and every operation's security."""
    holders: list[tuple[str, Any]] = [("", data)]
    holders += [(op.pointer, op.op) for op in iter_operations(data)]
    for pointer, holder in holders:
        security = holder.get("security")
        if not isinstance(security, list):
            continue
        for index, requirement in enumerate(security):
            if isinstance(requirement, dict):
                for name in requirement:
                    yield f"{pointer}/security/{index}/{escape_token(name)}", str(name)


def _schemes_declared(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    declared = _declared_schemes(document.data)
    for pointer, name in _requirements(document.data):
        if name not in declared:
            known = ", ".join(declared) or "none declared"
            yield emit(f"security scheme {name!r} is not declared (known: {known})", pointer)


def _schemes_used(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    used = {name for _, name in _requirements(document.data)}
    for name in _declared_schemes(document.data):
        if name not in used:
            yield emit(
                f"security scheme {name!r} is declared but no operation uses it",
                f"/components/securitySchemes/{escape_token(name)}",
            )


# --- components ----------------------------------------------------------------------


def _component_of(pointer: str) -> str | None:
    """`/components/schemas/X/...` -> `/components/schemas/X`."""
    parts = pointer.split("/")
    if len(parts) >= 4 and parts[1] == "components" and parts[2] in _COMPONENT_KINDS:
        return "/".join(parts[:4])
    return None


def _unused_components(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    data = document.data
    edges: dict[str | None, set[str]] = {}
    for holder, ref in iter_refs(data):
        if ref.startswith("#"):
            target = _component_of(ref[1:])
            if target is not None:
                edges.setdefault(_component_of(holder), set()).add(target)
    reached: set[str] = set()
    todo = list(edges.get(None, ()))
    while todo:
        current = todo.pop()
        if current not in reached:
            reached.add(current)
            todo.extend(edges.get(current, ()))
    components = data.get("components")
    if not isinstance(components, dict):
        return
    for kind in _COMPONENT_KINDS:
        group = components.get(kind)
        if not isinstance(group, dict):
            continue
        for name in group:
            pointer = f"/components/{kind}/{escape_token(name)}"
            if pointer not in reached:
                yield emit(f"components.{kind}.{name} is never referenced", pointer)


# --- path parameters -----------------------------------------------------------------


def _path_params(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    for op in iter_operations(document.data):
        templated = _TEMPLATE.findall(op.path)
        params = operation_parameters(document.data, op)
        declared = {name: found for (name, where), found in params.items() if where == "path"}
        for name in templated:
            if name not in declared:
                yield emit(f"{op.label}: path parameter {{{name}}} is not declared", op.pointer)
        for name, (pointer, param) in declared.items():
            if name not in templated:
                yield emit(f"{op.label}: path parameter {name!r} is not in the path", pointer)
            elif param.get("required") is not True:
                yield emit(f"{op.label}: path parameter {name!r} must be required: true", pointer)


# --- examples ------------------------------------------------------------------------


def _example_targets(document: SpecDocument) -> Iterator[tuple[str, str, Any]]:
    """(schema pointer, example pointer, example value) for every example in the document."""
    data = document.data
    for pointer, schema in iter_schemas(data):
        if "example" in schema:
            yield pointer, f"{pointer}/example", schema["example"]
        if isinstance(schema.get("examples"), list) and document.minor == "3.1":
            for index, value in enumerate(schema["examples"]):
                yield pointer, f"{pointer}/examples/{index}", value
    for holder_pointer, holder in _example_holders(document):
        if "schema" not in holder:
            continue
        schema_pointer = f"{holder_pointer}/schema"
        if "example" in holder:
            yield schema_pointer, f"{holder_pointer}/example", holder["example"]
        examples = holder.get("examples")
        if isinstance(examples, dict):
            for name, example in examples.items():
                resolved = deref(data, example)
                if isinstance(resolved, dict) and "value" in resolved:
                    at = f"{holder_pointer}/examples/{escape_token(name)}"
                    yield schema_pointer, at, resolved["value"]


def _example_holders(document: SpecDocument) -> Iterator[tuple[str, dict[str, Any]]]:
    """Parameters, headers and media types: the objects that hold `example(s)` beside `schema`."""
    for pointer, _ in iter_schemas(document.data):
        if pointer.endswith("/schema"):
            holder_pointer = pointer[: -len("/schema")]
            holder = _at(document.data, holder_pointer)
            if isinstance(holder, dict):
                yield holder_pointer, holder


def _at(data: dict[str, Any], pointer: str) -> Any:
    try:
        return resolve_pointer(data, pointer)
    except (KeyError, ValueError):
        return None


def _first_error(document: SpecDocument, schema_pointer: str, value: Any) -> str | None:
    """Why `value` does not fit the schema at `schema_pointer` (None when it fits)."""
    try:
        error = next(iter(instance_validator(document, schema_pointer).iter_errors(value)), None)
    except Exception:  # a schema the validator cannot read is the validate stage's finding
        return None
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return (f" at {where}" if where else "") + f": {error.message}"


def _examples(document: SpecDocument, emit: _Emit) -> Iterator[Finding]:
    count = 0
    # The same schema text (its $refs resolving in the same document) judges the same
    # example the same way: a spec that repeats itself is checked once per pair.
    verdicts: dict[tuple[str, str], str | None] = {}
    for schema_pointer, example_pointer, value in _example_targets(document):
        try:
            schema_text = json.dumps(_at(document.data, schema_pointer), sort_keys=True)
            key = (schema_text, json.dumps(value, sort_keys=True))
        except (TypeError, ValueError):
            key = (schema_pointer, example_pointer)
        if key not in verdicts:
            verdicts[key] = _first_error(document, schema_pointer, value)
        reason = verdicts[key]
        if reason is None:
            continue
        yield emit(f"example does not match its schema{reason}", example_pointer)
        count += 1
        if count >= MAX_EXAMPLE_FINDINGS:
            return


_CHECKS: dict[str, Callable[[SpecDocument, _Emit], Iterator[Finding]]] = {
    "operation-id-unique": _operation_ids,
    "operation-id-present": _operation_id_present,
    "operation-summary": _summaries,
    "operation-tags": _tags,
    "operation-responses": _responses,
    "servers-defined": _servers,
    "security-schemes-declared": _schemes_declared,
    "security-schemes-used": _schemes_used,
    "no-unused-components": _unused_components,
    "path-params-declared": _path_params,
    "examples-valid": _examples,
    "server-path-doubled-segment": _doubled,
}
