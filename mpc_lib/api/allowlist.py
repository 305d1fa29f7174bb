"""What a caller may send in a body MPC-API relays: an allowlist of fields, types and bounds.

Whatever reaches the gateway is what LiteLLM acts on: `extra_headers`, `api_key`,
`num_retries`, `fallbacks`, `metadata` and the like would let any key holder replace the
provider's credentials, multiply upstream calls or put a deployment in cooldown.  So a
relayed body is parsed strictly (`parse_object`: no NaN or Infinity, no nesting past the
parser's depth) and checked against a table of the fields the route documents (`check`):
an unknown field, a wrong type, a non-finite or out-of-range number, or a lone surrogate
is a 400 in the envelope naming the field.  A table maps a field name to a `Check`, built
with the small combinators below; `CHAT_FIELDS` is OpenAI's chat request.

`relay_bytes(body)` is the checked body as the gateway receives it (UTF-8 JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .deps import problem

__all__ = [
    "CHAT_FIELDS",
    "Check",
    "any_json",
    "array",
    "boolean",
    "check",
    "either",
    "integer",
    "number",
    "obj",
    "one_of",
    "parse_object",
    "relay_bytes",
    "string",
]

# A check takes the value and its name in the body (`messages[0].content`) and raises a
# 400 `problem` naming it when the value is not acceptable.
Check = Callable[[Any, str], None]


def _refuse(name: str, why: str) -> Exception:
    return problem(400, f"{name}: {why}", code="invalid_field")


def _no_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def parse_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; invalid JSON, NaN/Infinity, too deep a nesting or another
    JSON value raises a 400 `problem`."""
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise problem(400, "the request body is nested too deeply", code="invalid_json") from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, NaN/Infinity
        reason = str(exc) if "JSON number" in str(exc) else "not valid JSON"
        raise problem(400, f"the request body is {reason}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise problem(400, "the request body must be a JSON object", code="invalid_body")
    return body


def check(body: Mapping[str, Any], fields: Mapping[str, Check], *, where: str = "",
          required: Iterable[str] = ()) -> None:  # fmt: skip
    """Every field of `body` is in `fields` and passes its check; every `required` one is
    there.  `where` prefixes the names in messages (`messages[0]`)."""
    prefix = f"{where}." if where else ""
    for name in required:
        if body.get(name) is None:
            raise problem(400, f"{prefix}{name} is required", code="missing_field")
    for name, value in body.items():
        checked = fields.get(name)
        if checked is None:
            shown = json.dumps(name)[1:-1][:64]  # never a raw surrogate, never unbounded
            raise problem(400, f"{prefix}{shown} is not accepted (allowed: "
                          f"{', '.join(sorted(fields))})", code="unknown_field")  # fmt: skip
        checked(value, prefix + name)


def relay_bytes(body: Any, name: str = "body") -> bytes:
    """The body as UTF-8 JSON for the gateway; a lone surrogate (invalid unicode, which JSON
    escapes allow) raises a 400 `problem` naming its field (`name` for the whole)."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        where = _surrogate_at(body, "") or name
        raise _refuse(where, "invalid unicode (a lone surrogate)") from None


def _surrogate_at(value: Any, name: str) -> str:
    """Where in `value` a string holds a lone surrogate (a key or a value)."""
    items: Iterable[tuple[Any, Any]] = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    for key, item in items:
        inner = f"{name}{key}" if str(key).startswith("[") or not name else f"{name}.{key}"
        if not _encodes(str(key)):
            return inner.encode("utf-8", "backslashreplace").decode()
        found = _surrogate_at(item, inner)
        if found:
            return found
    if isinstance(value, str) and not _encodes(value):
        return name.encode("utf-8", "backslashreplace").decode()
    return ""


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# --- checks ----------------------------------------------------------------------------------


def any_json(value: Any, name: str) -> None:
    """Any JSON value (the parser already refused NaN and Infinity)."""


def boolean(value: Any, name: str) -> None:
    """true or false."""
    if not isinstance(value, bool):
        raise _refuse(name, "must be true or false")


def number(low: float, high: float) -> Check:
    """A finite number in [low, high]."""

    def checked(value: Any, name: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refuse(name, "must be a number")
        if not math.isfinite(value) or not low <= value <= high:
            raise _refuse(name, f"must be a finite number from {low:g} to {high:g}")

    return checked


def integer(low: int, high: int) -> Check:
    """A whole number in [low, high]."""

    def checked(value: Any, name: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _refuse(name, "must be an integer")
        if not low <= value <= high:
            raise _refuse(name, f"must be from {low} to {high}")

    return checked


def string(max_length: int = 1 << 20, *, empty: bool = True) -> Check:
    """A string of at most `max_length` characters (not empty unless `empty`)."""

    def checked(value: Any, name: str) -> None:
        if not isinstance(value, str):
            raise _refuse(name, "must be a string")
        if len(value) > max_length or (not empty and not value):
            raise _refuse(name, f"must be a string of 1 to {max_length} characters")

    return checked


def one_of(*values: str) -> Check:
    """One of the given strings."""

    def checked(value: Any, name: str) -> None:
        if value not in values:
            raise _refuse(name, f"must be one of {', '.join(values)}")

    return checked


def array(item: Check, *, max_items: int, min_items: int = 0) -> Check:
    """A list of `min_items` to `max_items` values, each passing `item`."""

    def checked(value: Any, name: str) -> None:
        if not isinstance(value, list) or not min_items <= len(value) <= max_items:
            raise _refuse(name, f"must be an array of {min_items} to {max_items} items")
        for index, each in enumerate(value):
            item(each, f"{name}[{index}]")

    return checked


def obj(fields: Mapping[str, Check] | None = None, *, required: Iterable[str] = (),
        max_keys: int = 1024) -> Check:  # fmt: skip
    """An object: its fields checked against `fields` (None: any keys, up to `max_keys`)."""
    needed = tuple(required)

    def checked(value: Any, name: str) -> None:
        if not isinstance(value, dict):
            raise _refuse(name, "must be an object")
        if fields is None:
            if len(value) > max_keys:
                raise _refuse(name, f"must have at most {max_keys} keys")
            return
        check(value, fields, where=name, required=needed)

    return checked


def either(*checks: Check, what: str) -> Check:
    """A value passing one of `checks`; otherwise refused as not `what`."""

    def checked(value: Any, name: str) -> None:
        for each in checks:
            try:
                each(value, name)
            except Exception:  # a refusal: try the next shape
                continue
            return
        raise _refuse(name, f"must be {what}")

    return checked


def _null(value: Any, name: str) -> None:
    if value is not None:
        raise _refuse(name, "must be null")


# --- OpenAI's chat request -------------------------------------------------------------------

_TEXT = string()
_PART = obj(
    {
        "type": string(64, empty=False),
        "text": _TEXT,
        "image_url": any_json,
        "input_audio": any_json,
        "file": any_json,
        "refusal": _TEXT,
    },
    required=("type",),
)
_MESSAGE = obj(
    {
        "role": one_of("system", "developer", "user", "assistant", "tool", "function"),
        "content": either(
            _TEXT,
            array(_PART, max_items=1024),
            _null,
            what="a string, an array of content parts or null",
        ),
        "name": string(256),
        "tool_calls": array(obj(max_keys=16), max_items=128),
        "tool_call_id": string(256),
        "function_call": obj(max_keys=16),
        "refusal": either(_TEXT, _null, what="a string or null"),
    },
    required=("role",),
)
_PENALTY = number(-2, 2)
_TOKENS = integer(1, 10_000_000)

CHAT_FIELDS: dict[str, Check] = {
    "model": string(512, empty=False),
    "messages": array(_MESSAGE, min_items=1, max_items=100_000),
    "stream": boolean,
    "stream_options": obj({"include_usage": boolean}),
    "temperature": number(0, 2),
    "top_p": number(0, 1),
    "n": integer(1, 8),
    "max_tokens": _TOKENS,
    "max_completion_tokens": _TOKENS,
    "stop": either(
        string(256),
        array(string(256), max_items=4),
        _null,
        what="a string or an array of up to 4 strings",
    ),
    "presence_penalty": _PENALTY,
    "frequency_penalty": _PENALTY,
    "logit_bias": obj(max_keys=1024),
    "logprobs": boolean,
    "top_logprobs": integer(0, 20),
    "response_format": obj(
        {"type": one_of("text", "json_object", "json_schema"), "json_schema": obj(max_keys=16)},
        required=("type",),
    ),
    "seed": integer(-(2**63), 2**63 - 1),
    "tools": array(
        obj({"type": one_of("function"), "function": obj(max_keys=16)}, required=("type",)),
        max_items=128,
    ),
    "tool_choice": either(
        one_of("none", "auto", "required"),
        obj(max_keys=4),
        what="none, auto, required or an object",
    ),
    "parallel_tool_calls": boolean,
    "user": string(256),
}
