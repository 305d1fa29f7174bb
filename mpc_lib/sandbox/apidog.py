"""An emulator of the Apidog Open API: import-openapi and export-openapi of a project.

It speaks the documented contract (contracts.md §3): `Authorization: Bearer <token>`,
`X-Apidog-Api-Version: 2024-03-28` (or the MCP server's `X-Apidog-Version`), the 16
import counters, and `{"success": false, "errorCode", "errorMessage"}` errors: 401 for a
bad token, 403 for a project the token cannot reach, 422 for a bad version header or
body.  What an import stores, a later export returns, so a push after a pull
round-trips.  Two things are the sandbox's own: an operation or schema carrying
`x-sandbox-fail: <reason>` fails to import (to exercise failed counters), and an
input given as `{"url": ...}` is refused (the sandbox fetches nothing).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..storage import atomic_write_text, read_json
from ._app import emulator_app
from .state import SandboxState

__all__ = [
    "APIDOG_API_VERSION",
    "COUNTERS",
    "FAIL_EXTENSION",
    "OVERWRITE_BEHAVIORS",
    "SANDBOX_PROJECT_ID",
    "create_app",
    "load_projects",
]

APIDOG_API_VERSION = "2024-03-28"
SANDBOX_PROJECT_ID = "1000001"  # the one project the sandbox token can reach
FAIL_EXTENSION = "x-sandbox-fail"
OVERWRITE_BEHAVIORS = ("OVERWRITE_EXISTING", "AUTO_MERGE", "KEEP_EXISTING", "CREATE_NEW")
COUNTERS = tuple(
    f"{kind}{outcome}"
    for kind in ("endpoint", "schema", "endpointFolder", "schemaFolder")
    for outcome in ("Created", "Updated", "Failed", "Ignored")
)
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_SCOPES = ("ALL", "SELECTED_ENDPOINTS", "SELECTED_TAGS", "SELECTED_FOLDERS")
_BOOL_OPTIONS = ("updateFolderOfChangedEndpoint", "prependBasePath", "deleteUnmatchedResources")


class _ApidogError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error_body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"success": False, "errorCode": code, "errorMessage": message}


def _fault_body(path: str, status: int, message: str, rid: str) -> dict[str, Any]:
    return _error_body(status, f"{status}000", f"{message} (request id: {rid})")


def _invalid(message: str) -> _ApidogError:
    return _ApidogError(422, "422001", f"Invalid Parameter: {message}")


def _empty_project(project_id: str) -> dict[str, Any]:
    return {
        "root": {"info": {"title": f"Sandbox project {project_id}", "version": "1.0.0"}},
        "openapi": "3.1.0",
        "paths": {},  # path -> {"fields": path-level fields, "ops": {method: operation}}
        "components": {},
        "folders": [],
    }


def _project(state: SandboxState, project_id: str) -> dict[str, Any]:
    projects = state.stores.setdefault("apidog", {})
    return projects.setdefault(project_id, _empty_project(project_id))


def load_projects(state: SandboxState, path: Path) -> None:
    """Start from the projects kept in `path` (a file `_keep_projects` wrote), if any."""
    stored = read_json(path) if path.is_file() else None
    if isinstance(stored, dict):
        state.stores["apidog"] = stored
    state.store_files["apidog"] = path


def _keep_projects(state: SandboxState, before: str) -> None:
    """After an import that changed a project, write the projects where they are kept."""
    path = state.store_files.get("apidog")
    projects = state.stores.get("apidog") or {}
    if path is None or json.dumps(projects, sort_keys=True) == before:
        return
    if any(project.get("paths") for project in projects.values()) or path.exists():
        atomic_write_text(path, json.dumps(projects, indent=1) + "\n")


def _check_access(request: Request, state: SandboxState) -> str:
    """The project id, once the token, the version header and the project all check out."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, token = header.partition(" ")
    expected = state.key_for("apidog")
    if scheme.lower() != "bearer" or not token.strip():
        raise _ApidogError(401, "401000", "Unauthorized: send Authorization: Bearer <token>")
    if expected is not None and token.strip() != expected:
        raise _ApidogError(401, "401000", "Unauthorized: invalid API access token")
    version = request.headers.get("x-apidog-api-version") or request.headers.get("x-apidog-version")
    if version != APIDOG_API_VERSION:
        raise _invalid(f"X-Apidog-Api-Version must be {APIDOG_API_VERSION}, got {version!r}")
    project_id = str(request.path_params["project_id"])
    if project_id != SANDBOX_PROJECT_ID:
        raise _ApidogError(403, "403000", f"No project guest privilege on project {project_id}")
    return project_id


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise _invalid("the body is not JSON") from None
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object")
    return body


# --- import --------------------------------------------------------------------------


def _parse_input(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict) and "url" in raw:
        raise _invalid("input.url: the sandbox fetches nothing; send the document as a string")
    document: Any = raw
    if isinstance(raw, str):
        try:
            document = json.loads(raw)
        except ValueError:
            try:
                document = yaml.safe_load(raw)
            except yaml.YAMLError:
                raise _invalid("input is neither JSON nor YAML") from None
    if not isinstance(document, dict) or not (
        str(document.get("openapi", "")).startswith("3.") or "swagger" in document
    ):
        raise _invalid("input is not an OpenAPI 3.x or Swagger document")
    return document


def _options(raw: Any) -> dict[str, Any]:
    options = raw if raw is not None else {}
    if not isinstance(options, dict):
        raise _invalid("options must be an object")
    for name in ("endpointOverwriteBehavior", "schemaOverwriteBehavior"):
        value = options.get(name, "OVERWRITE_EXISTING")
        if value not in OVERWRITE_BEHAVIORS:
            raise _invalid(f"options.{name} must be one of {', '.join(OVERWRITE_BEHAVIORS)}")
    for name in _BOOL_OPTIONS:
        if name in options and not isinstance(options[name], bool):
            raise _invalid(f"options.{name} must be a boolean")
    return options


def _merge(old: Any, new: Any) -> Any:
    """AUTO_MERGE: the imported fields win, fields only the project has are kept."""
    if isinstance(old, dict) and isinstance(new, dict):
        merged = dict(old)
        merged.update({k: _merge(old.get(k), v) for k, v in new.items()})
        return merged
    return new


def _apply(
    store: dict[str, Any], key: str, value: Any, behavior: str, counters: dict[str, int], kind: str
) -> None:
    """Put one endpoint or schema into `store` as `behavior` says, counting the outcome."""
    if key not in store:
        store[key] = value
        counters[f"{kind}Created"] += 1
    elif behavior == "KEEP_EXISTING" or store[key] == value:
        counters[f"{kind}Ignored"] += 1
    elif behavior == "CREATE_NEW":
        number = 2
        while f"{key}#{number}" in store:
            number += 1
        store[f"{key}#{number}"] = value  # a copy beside it; exports show the first only
        counters[f"{kind}Created"] += 1
    else:
        store[key] = _merge(store[key], value) if behavior == "AUTO_MERGE" else value
        counters[f"{kind}Updated"] += 1


def _import(project: dict[str, Any], document: dict[str, Any], options: dict[str, Any]) -> dict:
    counters = dict.fromkeys(COUNTERS, 0)
    errors: list[dict[str, Any]] = []
    endpoint_behavior = options.get("endpointOverwriteBehavior", "OVERWRITE_EXISTING")
    schema_behavior = options.get("schemaOverwriteBehavior", "OVERWRITE_EXISTING")
    seen_endpoints: set[str] = set()
    ops_store: dict[str, Any] = {}
    for path, item in project["paths"].items():
        for method, op in item["ops"].items():
            plain, copied, number = method.partition("#")
            ops_store[f"{plain} {path}" + (f"#{number}" if copied else "")] = op
    path_fields: dict[str, Any] = {}
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        path_fields[path] = {k: v for k, v in item.items() if k not in _METHODS}
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            key = f"{method} {path}"
            if FAIL_EXTENSION in op:
                counters["endpointFailed"] += 1
                errors.append(
                    {
                        "code": "ENDPOINT_IMPORT_FAILED",
                        "message": f"{method.upper()} {path}: {op[FAIL_EXTENSION]}",
                    }
                )
                continue
            seen_endpoints.add(key)
            _apply(ops_store, key, copy.deepcopy(op), endpoint_behavior, counters, "endpoint")
            folder = str((op.get("tags") or [""])[0])
            if folder and folder not in project["folders"]:
                project["folders"].append(folder)
                counters["endpointFolderCreated"] += 1
    if options.get("deleteUnmatchedResources"):
        ops_store = {k: v for k, v in ops_store.items() if k.split("#")[0] in seen_endpoints}
    project["paths"] = _rebuild_paths(project["paths"], ops_store, path_fields)
    components = document.get("components") or {}
    schemas = project["components"].setdefault("schemas", {})
    incoming = components.get("schemas") or {}
    for name, schema in incoming.items():
        if isinstance(schema, dict) and FAIL_EXTENSION in schema:
            counters["schemaFailed"] += 1
            errors.append(
                {
                    "code": "SCHEMA_IMPORT_FAILED",
                    "message": f"schema {name}: {schema[FAIL_EXTENSION]}",
                }
            )
            continue
        _apply(schemas, name, copy.deepcopy(schema), schema_behavior, counters, "schema")
    if options.get("deleteUnmatchedResources"):
        for name in [n for n in schemas if n.split("#")[0] not in incoming]:
            del schemas[name]
    for kind, group in components.items():
        if kind != "schemas" and isinstance(group, dict):
            project["components"].setdefault(kind, {}).update(copy.deepcopy(group))
    project["root"] = {
        k: copy.deepcopy(v)
        for k, v in document.items()
        if k not in ("openapi", "paths", "components")
    }
    project["openapi"] = str(document.get("openapi") or "3.1.0")
    return {"success": True, "data": {"counters": counters, "errors": errors}}


def _rebuild_paths(
    old: dict[str, Any], ops: dict[str, Any], fields: dict[str, Any]
) -> dict[str, Any]:
    """The project's paths from (method path) -> operation, keeping the paths' order."""
    by_path: dict[str, dict[str, Any]] = {}
    for key, op in ops.items():
        method, _, rest = key.partition(" ")
        path, copied, number = rest.partition("#")
        by_path.setdefault(path, {})[method + (f"#{number}" if copied else "")] = op
    order = list(old) + [p for p in fields if p not in old]
    order += [p for p in by_path if p not in order]
    paths: dict[str, Any] = {}
    for path in order:
        mine = by_path.get(path)
        if mine:
            previous = (old.get(path) or {}).get("fields", {})
            paths[path] = {"fields": fields.get(path, previous), "ops": mine}
    return paths


# --- export --------------------------------------------------------------------------


def _export(project: dict[str, Any], body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    scope = body.get("scope") or {"type": "ALL"}
    if not isinstance(scope, dict) or scope.get("type", "ALL") not in _SCOPES:
        raise _invalid(f"scope.type must be one of {', '.join(_SCOPES)}")
    version = str(body.get("oasVersion", "3.1"))
    if version not in ("2.0", "3.0", "3.1"):
        raise _invalid("oasVersion must be 2.0, 3.0 or 3.1")
    if version == "2.0":
        raise _invalid("oasVersion 2.0 is not offered by the sandbox")
    export_format = str(body.get("exportFormat", "JSON"))
    if export_format not in ("JSON", "YAML"):
        raise _invalid("exportFormat must be JSON or YAML")
    options = body.get("options") or {}
    wanted_tags = set(scope.get("selectedTags") or [])
    excluded = set(scope.get("excludedByTags") or [])
    paths: dict[str, Any] = {}
    for path, item in project["paths"].items():
        out = copy.deepcopy(item["fields"])
        for method, op in item["ops"].items():
            if "#" in method:
                continue
            tags = set(op.get("tags") or [])
            if tags & excluded or (scope.get("type") == "SELECTED_TAGS" and not tags & wanted_tags):
                continue
            op = copy.deepcopy(op)
            if options.get("includeApidogExtensionProperties"):
                op["x-apidog-folder"] = str((op.get("tags") or [""])[0])
            out[method] = op
        if any(m in out for m in _METHODS):
            paths[path] = out
    stored = project["openapi"]
    openapi = stored if stored.startswith(version) else f"{version}.0"
    document = {"openapi": openapi, **copy.deepcopy(project["root"]), "paths": paths}
    components = {
        kind: {k: v for k, v in group.items() if "#" not in k}
        for kind, group in project["components"].items()
    }
    if components:
        document["components"] = copy.deepcopy(components)
    return document, export_format


def create_app(state: SandboxState) -> Starlette:
    """The Apidog emulator: import-openapi, export-openapi, one reachable project."""

    def failure(exc: _ApidogError) -> Response:
        return JSONResponse(_error_body(exc.status, exc.code, exc.message), status_code=exc.status)

    async def import_openapi(request: Request) -> Response:
        try:
            project_id = _check_access(request, state)
            body = await _json_body(request)
            if "input" not in body:
                raise _invalid("input is required")
            document = _parse_input(body["input"])
            options = _options(body.get("options"))
        except _ApidogError as exc:
            return failure(exc)
        before = json.dumps(state.stores.get("apidog"), sort_keys=True)
        counters = _import(_project(state, project_id), document, options)
        _keep_projects(state, before)
        return JSONResponse(counters)

    async def export_openapi(request: Request) -> Response:
        try:
            project_id = _check_access(request, state)
            document, export_format = _export(
                _project(state, project_id), await _json_body(request)
            )
        except _ApidogError as exc:
            return failure(exc)
        if export_format == "YAML":
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
            return Response(text, media_type="application/yaml")
        return JSONResponse(document)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = f"No route for {request.method} {request.url.path}"
        return JSONResponse(_error_body(status, f"{status}000", message), status_code=status)

    routes = [
        Route("/v1/projects/{project_id}/import-openapi", import_openapi, methods=["POST"]),
        Route("/v1/projects/{project_id}/export-openapi", export_openapi, methods=["POST"]),
    ]
    return emulator_app(state, "apidog", routes, error_body=_fault_body, not_found=not_found)
