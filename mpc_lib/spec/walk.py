"""Walking an OpenAPI document: operations, servers, security, parameters, schemas and $refs.

Only local `$ref`s (`#/...`) are followed; every helper tolerates broken ones
(they come back as None), so later stages still run on a document that failed
validation and report what they can.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .document import escape_token, resolve_pointer

__all__ = [
    "HTTP_METHODS",
    "Operation",
    "deref",
    "effective_security",
    "effective_servers",
    "iter_operations",
    "iter_refs",
    "iter_schemas",
    "json_media",
    "operation_parameters",
    "server_url",
    "url_path",
]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_JSON_TYPES = ("application/json",)
# Keywords whose value is one schema / a map of schemas / a list of schemas.
_ONE = (
    "items",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "additionalProperties",
    "unevaluatedProperties",
    "unevaluatedItems",
)
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")


@dataclass(frozen=True)
class Operation:
    """One operation: its path template, method, JSON pointer, and the objects around it."""

    path: str
    method: str
    pointer: str
    op: dict[str, Any]
    item: dict[str, Any]

    @property
    def label(self) -> str:
        """`GET /models`."""
        return f"{self.method.upper()} {self.path}"


def deref(data: dict[str, Any], node: Any, *, hops: int = 32) -> Any:
    """`node` with local `$ref`s followed; None for a broken, remote or endless chain."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#") or seen >= hops:
            return None
        try:
            node = resolve_pointer(data, ref[1:])
        except (KeyError, ValueError):
            return None
        seen += 1
    return node


def iter_operations(data: dict[str, Any]) -> Iterator[Operation]:
    """Every operation under `paths`, in document order."""
    paths = data.get("paths")
    if not isinstance(paths, dict):
        return
    for path, raw_item in paths.items():
        item = deref(data, raw_item)
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                pointer = f"/paths/{escape_token(path)}/{method}"
                yield Operation(str(path), method, pointer, op, item)


def effective_servers(data: dict[str, Any], operation: Operation) -> list[str]:
    """The server URLs that apply to an operation: its own, else its path's, else the root's."""
    for holder in (operation.op, operation.item, data):
        servers = holder.get("servers")
        if isinstance(servers, list) and servers:
            return [server_url(s) for s in servers if isinstance(s, dict) and s.get("url")]
    return []


def server_url(server: dict[str, Any]) -> str:
    """A server's URL with its variables filled in from their defaults."""
    url = str(server.get("url", ""))
    variables = server.get("variables")
    if isinstance(variables, dict):
        for name, variable in variables.items():
            if isinstance(variable, dict) and "default" in variable:
                url = url.replace("{" + str(name) + "}", str(variable["default"]))
    return url


def url_path(url: str) -> str:
    """The path part of a server URL (`https://api.fal.ai/v1` -> `/v1`), without a trailing /."""
    return urlsplit(url).path.rstrip("/")


def effective_security(data: dict[str, Any], operation: Operation) -> list[dict[str, Any]] | None:
    """The security requirements of an operation (its own, else the root's); None if neither."""
    for holder in (operation.op, data):
        security = holder.get("security")
        if isinstance(security, list):
            return [req for req in security if isinstance(req, dict)]
    return None


def operation_parameters(
    data: dict[str, Any], operation: Operation
) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """(name, in) -> (pointer, resolved parameter): the path item's, overridden by the op's."""
    found: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    path_pointer = operation.pointer.rsplit("/", 1)[0]
    for holder, base in ((operation.item, path_pointer), (operation.op, operation.pointer)):
        params = holder.get("parameters")
        if not isinstance(params, list):
            continue
        for index, raw in enumerate(params):
            param = deref(data, raw)
            if isinstance(param, dict) and "name" in param and "in" in param:
                key = (str(param["name"]), str(param["in"]))
                found[key] = (f"{base}/parameters/{index}", param)
    return found


def json_media(node: Any) -> tuple[str, Any] | None:
    """(media type, media object) of the JSON content of a response or request body."""
    content = node.get("content") if isinstance(node, dict) else None
    if not isinstance(content, dict):
        return None
    for media_type, media in content.items():
        kind = str(media_type).split(";")[0].strip().lower()
        if kind in _JSON_TYPES or kind.endswith("+json"):
            return str(media_type), media
    return None


def iter_refs(data: Any) -> Iterator[tuple[str, str]]:
    """(pointer of the object holding it, $ref value) for every `$ref` in the document."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield pointer, ref
            for key, value in node.items():
                if isinstance(value, (dict, list)):
                    stack.append((value, f"{pointer}/{escape_token(key)}"))
        else:
            for index, value in enumerate(node):
                if isinstance(value, (dict, list)):
                    stack.append((value, f"{pointer}/{index}"))


def _schema_roots(data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Where schema objects start: components, parameters, bodies, responses, headers."""
    components = data.get("components")
    if isinstance(components, dict):
        schemas = components.get("schemas")
        if isinstance(schemas, dict):
            for name, schema in schemas.items():
                yield f"/components/schemas/{escape_token(name)}", schema
        for kind in ("parameters", "headers"):
            group = components.get(kind)
            if isinstance(group, dict):
                for name, holder in group.items():
                    yield from _holder_schemas(f"/components/{kind}/{escape_token(name)}", holder)
        for kind in ("responses", "requestBodies"):
            group = components.get(kind)
            if isinstance(group, dict):
                for name, holder in group.items():
                    yield from _body_schemas(f"/components/{kind}/{escape_token(name)}", holder)
    paths = data.get("paths")
    if not isinstance(paths, dict):
        return
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        base = f"/paths/{escape_token(path)}"
        yield from _params_schemas(base, item)
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            yield from _params_schemas(f"{base}/{method}", op)
            if isinstance(op.get("requestBody"), dict):
                yield from _body_schemas(f"{base}/{method}/requestBody", op["requestBody"])
            responses = op.get("responses")
            if isinstance(responses, dict):
                for status, response in responses.items():
                    pointer = f"{base}/{method}/responses/{escape_token(status)}"
                    yield from _body_schemas(pointer, response)


def _params_schemas(base: str, holder: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    params = holder.get("parameters")
    if isinstance(params, list):
        for index, param in enumerate(params):
            yield from _holder_schemas(f"{base}/parameters/{index}", param)


def _holder_schemas(pointer: str, holder: Any) -> Iterator[tuple[str, Any]]:
    """The schema of a parameter or header (or of its content)."""
    if not isinstance(holder, dict):
        return
    if "schema" in holder:
        yield f"{pointer}/schema", holder["schema"]
    yield from _content_schemas(pointer, holder)


def _body_schemas(pointer: str, holder: Any) -> Iterator[tuple[str, Any]]:
    """The schemas of a response or request body, and of a response's headers."""
    if not isinstance(holder, dict):
        return
    yield from _content_schemas(pointer, holder)
    headers = holder.get("headers")
    if isinstance(headers, dict):
        for name, header in headers.items():
            yield from _holder_schemas(f"{pointer}/headers/{escape_token(name)}", header)


def _content_schemas(pointer: str, holder: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    content = holder.get("content")
    if isinstance(content, dict):
        for media_type, media in content.items():
            if isinstance(media, dict) and "schema" in media:
                yield f"{pointer}/content/{escape_token(media_type)}/schema", media["schema"]


def iter_schemas(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(pointer, schema) for every schema object as written; `$ref`s are not followed."""
    stack = list(_schema_roots(data))
    stack.reverse()
    while stack:
        pointer, schema = stack.pop()
        if not isinstance(schema, dict):
            continue
        yield pointer, schema
        if "$ref" in schema:
            continue
        children: list[tuple[str, Any]] = []
        for key in _ONE:
            if isinstance(schema.get(key), dict):
                children.append((f"{pointer}/{escape_token(key)}", schema[key]))
        for key in _MAP:
            group = schema.get(key)
            if isinstance(group, dict):
                for name, sub in group.items():
                    children.append((f"{pointer}/{escape_token(key)}/{escape_token(name)}", sub))
        for key in _LIST:
            group = schema.get(key)
            if isinstance(group, list):
                for index, sub in enumerate(group):
                    children.append((f"{pointer}/{key}/{index}", sub))
        if isinstance(schema.get("items"), list):  # OAS 3.0 tolerated tuple form
            for index, sub in enumerate(schema["items"]):
                children.append((f"{pointer}/items/{index}", sub))
        stack.extend(reversed(children))
