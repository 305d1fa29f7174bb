"""Notebook parameters: declared in the `parameters` cell, checked before any kernel starts.

The cell declares each parameter as a plain assignment, optionally annotated:

    from typing import Optional
    from mpc_lib import ProviderName, Source

    providers: list[ProviderName] = ["fal", "comet"]
    source: Optional[Source] = None
    allow_partial: bool = False

An annotation is resolved with the names the cell itself imports (from `typing` and
`mpc_lib`), so the kernel and this check agree on it.  An unannotated parameter takes
its default's type.  Values given as strings (`mpc run -p NAME VALUE`) are read as
that type; lists also take `a,b` or JSON.  A bad name or value raises ConfigError
naming the parameter, before papermill is even imported.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import TypeAdapter, ValidationError

from ..errors import ConfigError, describe_validation_error

__all__ = ["DeclaredParameter", "declared_parameters", "validate_parameters"]

_SECRET_WORDS = ("key", "token", "secret", "password")
_NULL = frozenset({"none", "null"})
_TYPE_BUILTINS = ("bool", "int", "float", "str", "list", "dict", "tuple")
_IMPORTABLE = ("typing", "annotated_types", "mpc_lib")


@dataclass(frozen=True)
class DeclaredParameter:
    """One parameter of a notebook: its default and the type values are checked against."""

    name: str
    default: object
    annotation: str | None
    type: Any
    help: str = ""


def declared_parameters(notebook: Path) -> dict[str, DeclaredParameter]:
    """The parameters the notebook's `parameters` cell declares, in order."""
    source = _parameters_source(notebook)
    if source is None:
        return {}
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ConfigError(
            f"{notebook}: the parameters cell is not valid Python (line {exc.lineno}: {exc.msg})"
        ) from None
    namespace = _annotation_namespace(tree, notebook)
    lines = source.splitlines()
    declared: dict[str, DeclaredParameter] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, value, annotation = node.target.id, node.value, node.annotation
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            name, value, annotation = node.targets[0].id, node.value, None
        else:
            continue
        default = _literal(value)
        text = ast.get_source_segment(source, annotation) if annotation is not None else None
        kind = (
            _resolve(text, annotation, namespace, notebook, name)
            if annotation is not None
            else _type_of(default)
        )
        declared[name] = DeclaredParameter(name, default, text, kind, _comment(lines, node))
    return declared


def validate_parameters(
    notebook: Path, parameters: Mapping[str, object] | None
) -> dict[str, object]:
    """Check names against the parameters cell and read each value as its declared type."""
    if not parameters:
        return {}
    for name in parameters:
        if any(word in name.lower() for word in _SECRET_WORDS):
            raise ConfigError(
                f"parameter {name!r} looks like a secret; API keys come only from the "
                "environment (FAL_KEY, COMETAPI_KEY), never from notebook parameters"
            )
    declared = declared_parameters(notebook)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        known = ", ".join(declared) or "(none: the notebook has no cell tagged 'parameters')"
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)} for notebook {notebook.stem}; "
            f"known: {known}"
        )
    return {name: _check(declared[name], value) for name, value in parameters.items()}


# --- reading the parameters cell ----------------------------------------------------------


def _parameters_source(notebook: Path) -> str | None:
    try:
        document = json.loads(Path(notebook).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{notebook}: cannot read the notebook ({exc})") from None
    for cell in document.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get(
            "tags", []
        ):
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else str(source)
    return None


def _annotation_namespace(tree: ast.Module, notebook: Path) -> dict[str, Any]:
    """Builtin types plus what the cell imports from typing and mpc_lib."""
    namespace: dict[str, Any] = {name: getattr(builtins, name) for name in _TYPE_BUILTINS}
    namespace["None"] = None
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or node.module is None:
            continue
        if node.module.split(".")[0] not in _IMPORTABLE:
            continue
        module = importlib.import_module(node.module)
        for alias in node.names:
            try:
                namespace[alias.asname or alias.name] = getattr(module, alias.name)
            except AttributeError:
                raise ConfigError(
                    f"{notebook}: the parameters cell imports {alias.name!r} "
                    f"from {node.module}, which has no such name"
                ) from None
    return namespace


def _resolve(
    text: str | None, annotation: ast.expr, namespace: dict[str, Any], notebook: Path, name: str
) -> Any:
    """Evaluate an annotation with nothing but the names in `namespace`."""
    code = compile(ast.Expression(annotation), str(notebook), "eval")
    try:
        return eval(code, {"__builtins__": {}}, namespace)
    except Exception as exc:
        raise ConfigError(
            f"{notebook}: parameter {name}: cannot read its type {text!r} ({exc}); "
            "import the names it uses in the parameters cell"
        ) from None


def _literal(node: ast.expr | None) -> object:
    """The default as a Python value; an expression that is not a literal gives `...`."""
    if node is None:
        return ...
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return ...


def _type_of(default: object) -> Any:
    """The type an unannotated parameter takes from its default (None: anything)."""
    if default is None or default is ...:
        return Any
    kind: Any = type(default)
    return kind if kind is str else kind | None


def _comment(lines: list[str], node: ast.stmt) -> str:
    end = lines[(node.end_lineno or node.lineno) - 1]
    return end.split("#", 1)[1].strip() if "#" in end else ""


# --- checking values -------------------------------------------------------------------------


def _check(declared: DeclaredParameter, value: object) -> object:
    """`value` read and validated as the declared type; ConfigError names the parameter."""
    adapter: TypeAdapter[Any] = TypeAdapter(declared.type)
    candidates = _readings(declared.type, value) if isinstance(value, str) else [value]
    errors: list[dict[str, Any]] = []
    for candidate in candidates:
        try:
            checked = adapter.validate_python(candidate)
        except ValidationError as exc:
            errors.append(dict(exc.errors()[0]))
            continue
        return _plain(declared.name, checked)
    # The reading that got furthest into the value says best what is wrong with it.
    error = max(errors, key=lambda e: len(e.get("loc", ())))
    where = "".join(f"[{part}]" for part in error.get("loc", ()))
    expected = f" (declared {declared.annotation})" if declared.annotation else ""
    raise ConfigError(
        f"parameter {declared.name}{where}={value!r}: {describe_validation_error(error)}{expected}"
    )


def _readings(kind: Any, raw: str) -> list[object]:
    """The ways a command-line string may be meant: as-is, None, JSON, or `a,b` for a list."""
    text = raw.strip()
    readings: list[object] = []
    if text.lower() in _NULL and _allows_none(kind):
        readings.append(None)
    try:
        parsed: list[object] = [json.loads(text)]
    except json.JSONDecodeError:
        parsed = []
    # A string type takes the text as typed; anything else tries JSON first ("5", "[1]").
    readings += [raw, *parsed] if kind is not Any else [*parsed, raw]
    if _is_sequence(kind) and not parsed:
        readings.append([part.strip() for part in text.split(",") if part.strip()])
    return readings


def _allows_none(kind: Any) -> bool:
    return kind is Any or type(None) in get_args(kind)


def _is_sequence(kind: Any) -> bool:
    options = [kind, *get_args(kind)]
    return any(get_origin(option) in (list, tuple) or option in (list, tuple) for option in options)


def _plain(name: str, value: object) -> object:
    """A value papermill can write into the injected cell (tuples become lists)."""
    if isinstance(value, tuple):
        value = list(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"parameter {name}: {type(value).__name__} is not a plain JSON value"
        ) from None
    return value
