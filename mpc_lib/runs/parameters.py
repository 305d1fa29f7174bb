"""Notebook parameters: names checked against the `parameters` cell, strings coerced to type."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from ..extras import require

__all__ = ["validate_parameters"]

_SECRET_WORDS = ("key", "token", "secret", "password")
_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
_NULL = frozenset({"none", "null"})


def validate_parameters(
    notebook: Path, parameters: Mapping[str, object] | None
) -> dict[str, object]:
    """Check names against the notebook's parameters cell and coerce string values to its types."""
    if not parameters:
        return {}
    for name in parameters:
        if any(word in name.lower() for word in _SECRET_WORDS):
            raise ConfigError(
                f"parameter {name!r} looks like a secret; API keys come only from the "
                "environment (FAL_KEY, COMETAPI_KEY), never from notebook parameters"
            )
    declared = require("papermill", "notebook runs").inspect_notebook(str(notebook))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        known = ", ".join(declared) or "(none: the notebook has no cell tagged 'parameters')"
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)} for notebook {notebook.stem}; "
            f"known: {known}"
        )
    return {
        name: _coerce(name, value, _default_value(declared[name].get("default")))
        for name, value in parameters.items()
    }


def _default_value(source: object) -> object:
    """The declared default as a Python value; a non-literal expression gives `...`."""
    if not isinstance(source, str):
        return ...
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return ...


def _coerce(name: str, value: object, default: object) -> object:
    if not isinstance(value, str):
        _check_plain(name, value)
        return value
    raw = value.strip()
    expected = type(default).__name__
    if isinstance(default, str) or default is ...:
        return value
    if raw.lower() in _NULL:
        return None
    if isinstance(default, bool):
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"parameter {name}={value!r}: expected a bool (true/false/yes/no/1/0)")
    try:
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ConfigError(f"parameter {name}={value!r}: expected {expected}") from None
    if default is None:
        try:
            parsed: object = json.loads(raw)
        except json.JSONDecodeError:
            return value
        return parsed
    if isinstance(default, list | dict | tuple):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"parameter {name}={value!r}: expected a JSON {expected} ({exc.msg})"
            ) from None
        if isinstance(default, tuple) and isinstance(parsed, list):
            return parsed
        if not isinstance(parsed, type(default)):
            raise ConfigError(f"parameter {name}={value!r}: expected a JSON {expected}")
        return parsed
    return value


def _check_plain(name: str, value: object) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"parameter {name}: {type(value).__name__} is not a plain JSON value"
        ) from None
