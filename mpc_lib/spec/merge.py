"""Merge a service's own OpenAPI (MPC-API's, from its app) into the hub spec.

The service's paths are served by `server_url` (set on each path), tagged with
`tag`, marked `x-mpc-source`, and its components are renamed with a prefix so they
can never shadow the hub's.  What a merge added is recorded in `x-mpc-merged`, so
merging again replaces the previous merge instead of piling up.  A path the hub
already serves from another server cannot share its key in one OpenAPI document:
that is a SpecError naming the paths (mount the service under `path_prefix`).

`merge_mpc_api(spec)` is the hub's own case: MPC-API's current OpenAPI, from its
routes, under `/mpc` (where the service answers too, since its `/v1/...` paths are
Comet's in the hub spec).  `mpc spec merge-api` writes it, or with --check says
whether the committed spec is current.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ..config import DEFAULT_API_URL
from ..errors import SpecError
from .walk import HTTP_METHODS

__all__ = ["merge_mpc_api", "merge_openapi"]

_KINDS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
)


def merge_openapi(
    hub: dict[str, Any],
    service: dict[str, Any],
    *,
    server_url: str,
    source: str = "mpc-api",
    tag: str = "MPC-API",
    prefix: str = "MpcApi",
    path_prefix: str = "",
) -> dict[str, Any]:
    """A new hub spec with `service`'s operations and components merged in."""
    if not isinstance(service.get("paths"), dict):
        raise SpecError(f"{source}: the service spec has no paths to merge")
    merged = _without_previous(copy.deepcopy(hub), source)
    renames = {
        (kind, name): f"{prefix}{name}" if not name.startswith(prefix) else name
        for kind in _KINDS
        for name in ((service.get("components") or {}).get(kind) or {})
    }
    service = _renamed(copy.deepcopy(service), renames)
    paths = merged.setdefault("paths", {})
    added_paths: list[str] = []
    clashes = [path_prefix + path for path in service["paths"] if path_prefix + path in paths]
    if clashes:
        raise SpecError(
            f"{source}: path(s) {', '.join(sorted(clashes))} already served by another server"
            " in the hub spec; merge with a path_prefix the service is mounted under"
        )
    service_security = service.get("security")
    for path, item in service["paths"].items():
        item = dict(item)
        item["servers"] = [{"url": server_url, "description": source}]
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            op["tags"] = [tag]
            op["x-mpc-source"] = source
            if "security" not in op and service_security is not None:
                op["security"] = copy.deepcopy(service_security)
        paths[path_prefix + path] = item
        added_paths.append(path_prefix + path)
    components = merged.setdefault("components", {})
    added: dict[str, list[str]] = {}
    for kind in _KINDS:
        for name, value in ((service.get("components") or {}).get(kind) or {}).items():
            if name in (components.get(kind) or {}):
                raise SpecError(f"{source}: components.{kind}.{name} already exists in the hub")
            components.setdefault(kind, {})[name] = value
            added.setdefault(kind, []).append(name)
    tags = merged.setdefault("tags", [])
    if not any(isinstance(t, dict) and t.get("name") == tag for t in tags):
        info = service.get("info") or {}
        description = ": ".join(
            str(part) for part in (info.get("title") or source, info.get("description")) if part
        )
        tags.append({"name": tag, "description": description})
    merged.setdefault("x-mpc-merged", {})[source] = {
        "server": server_url,
        "tag": tag,
        "paths": added_paths,
        "components": added,
        "version": str((service.get("info") or {}).get("version", "")),
    }
    return merged


def merge_mpc_api(hub: dict[str, Any], *, server_url: str = DEFAULT_API_URL) -> dict[str, Any]:
    """A new hub spec with MPC-API's current OpenAPI merged in under `/mpc`."""
    from ..api import MOUNT_PREFIX, service_openapi  # heavy (FastAPI): only for merge-api

    return merge_openapi(hub, service_openapi(), server_url=server_url, path_prefix=MOUNT_PREFIX)


def _without_previous(hub: dict[str, Any], source: str) -> dict[str, Any]:
    """The hub without what an earlier merge of `source` added."""
    record = (hub.get("x-mpc-merged") or {}).pop(source, None)
    if not record:
        return hub
    for path in record.get("paths", []):
        (hub.get("paths") or {}).pop(path, None)
    components = hub.get("components") or {}
    for kind, names in (record.get("components") or {}).items():
        for name in names:
            (components.get(kind) or {}).pop(name, None)
    tag = record.get("tag")
    still_used = any(
        tag in (op.get("tags") or [])
        for item in (hub.get("paths") or {}).values()
        if isinstance(item, dict)
        for method, op in item.items()
        if method in HTTP_METHODS and isinstance(op, dict)
    )
    if not still_used and isinstance(hub.get("tags"), list):
        hub["tags"] = [t for t in hub["tags"] if not (isinstance(t, dict) and t.get("name") == tag)]
    if not hub.get("x-mpc-merged"):
        hub.pop("x-mpc-merged", None)
    return hub


def _renamed(service: dict[str, Any], renames: dict[tuple[str, str], str]) -> dict[str, Any]:
    """The service with its components renamed and every `$ref` and security name following."""
    text = json.dumps(service)
    for (kind, old), new in renames.items():
        if old != new:
            text = text.replace(
                json.dumps(f"#/components/{kind}/{old}"), json.dumps(f"#/components/{kind}/{new}")
            )
    service = json.loads(text)
    components = service.get("components") or {}
    for kind in _KINDS:
        group = components.get(kind)
        if isinstance(group, dict):
            components[kind] = {renames.get((kind, k), k): v for k, v in group.items()}
    schemes = {old: new for (kind, old), new in renames.items() if kind == "securitySchemes"}

    def rename_security(holder: dict[str, Any]) -> None:
        if isinstance(holder.get("security"), list):
            holder["security"] = [
                {schemes.get(name, name): scopes for name, scopes in req.items()}
                for req in holder["security"]
                if isinstance(req, dict)
            ]

    rename_security(service)
    for item in service.get("paths", {}).values():
        if isinstance(item, dict):
            for method in HTTP_METHODS:
                if isinstance(item.get(method), dict):
                    rename_security(item[method])
    return service
