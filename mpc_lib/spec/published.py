"""The specs providers publish, as shipped: FAL's operations we use in full plus an index.

The upstream check compares against these.  `extract_subset` builds one from a full
published spec (openapi/refresh_fal_subset.py runs it); `load_upstream` reads one
from package data.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .document import SpecDocument, spec_from_dict
from .walk import effective_security, iter_operations, url_path

__all__ = [
    "FAL_USED_PATHS",
    "UPSTREAMS",
    "Upstream",
    "UpstreamOperation",
    "UpstreamSpec",
    "extract_subset",
    "load_upstream",
    "schemes",
    "upstream_for",
]

# The FAL Platform operations the hub uses (models, pricing, estimate): shipped in full.
FAL_USED_PATHS = ("/models", "/models/pricing", "/models/pricing/estimate")
_PARAM = re.compile(r"{[^{}/]*}")


@dataclass(frozen=True)
class Upstream:
    """A provider that publishes a spec: its name for messages, its hosts, its data file."""

    name: str
    title: str
    hosts: tuple[str, ...]
    resource: str


UPSTREAMS: dict[str, Upstream] = {
    "fal": Upstream("fal", "FAL", ("api.fal.ai",), "fal_platform.subset.json"),
}


@dataclass(frozen=True)
class UpstreamOperation:
    """One upstream operation: full URL path (server path + path), method, where it is."""

    path: str
    method: str
    full: str
    operation_id: str | None
    security: list[dict[str, Any]] | None
    op: dict[str, Any] | None  # None: index only, no detail shipped
    item: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.full}"


@dataclass
class UpstreamSpec:
    """A loaded upstream spec: the document and every operation, detailed or index-only."""

    upstream: Upstream
    document: SpecDocument
    entries: list[UpstreamOperation]

    def find(self, method: str, full: str) -> UpstreamOperation | None:
        """The operation at this method and full path (path parameter names ignored)."""
        key = _PARAM.sub("{}", full)
        return next(
            (e for e in self.entries if e.method == method and _PARAM.sub("{}", e.full) == key),
            None,
        )

    def suggest(self, method: str, full: str) -> UpstreamOperation | None:
        """The upstream operation whose path our path ends with, when exactly one fits best."""
        ours = [s for s in _PARAM.sub("{}", full).split("/") if s]
        best: list[UpstreamOperation] = []
        best_len = 0
        for entry in self.entries:
            if entry.method != method:
                continue
            theirs = [s for s in _PARAM.sub("{}", entry.path).split("/") if s]
            if theirs and ours[-len(theirs) :] == theirs:
                if len(theirs) > best_len:
                    best, best_len = [entry], len(theirs)
                elif len(theirs) == best_len:
                    best.append(entry)
        return best[0] if len(best) == 1 else None

    def scheme(self, name: str) -> dict[str, Any] | None:
        """An upstream security scheme by name."""
        return schemes(self.document.data).get(name)


def extract_subset(full: dict[str, Any], paths: Sequence[str], provenance: dict[str, Any]) -> dict:
    """The part of a published spec the upstream check needs, with where it came from.

    `paths` are shipped in full (with every component they reference); every other
    operation is kept as an index entry in `x-mpc-index`.
    """
    subset: dict[str, Any] = {
        "openapi": full["openapi"],
        "info": full["info"],
        "servers": full.get("servers", []),
        "x-mpc-provenance": provenance,
        "paths": {path: copy.deepcopy(full["paths"][path]) for path in paths},
        "components": {"securitySchemes": copy.deepcopy(full["components"]["securitySchemes"])},
    }
    needed = _referenced_components(full, subset["paths"])
    for kind, name in sorted(needed):
        subset["components"].setdefault(kind, {})[name] = copy.deepcopy(
            full["components"][kind][name]
        )
    index: dict[str, dict[str, Any]] = {}
    for path, item in full["paths"].items():
        if path in paths or not isinstance(item, dict):
            continue
        for method, op in item.items():
            if isinstance(op, dict) and method in _METHODS:
                entry = {"operationId": op.get("operationId"), "summary": op.get("summary")}
                if "security" in op:
                    entry["security"] = op["security"]
                index.setdefault(path, {})[method] = entry
    subset["x-mpc-index"] = index
    return subset


_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _referenced_components(full: dict[str, Any], paths: dict[str, Any]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    todo = [paths]
    while todo:
        text = json.dumps(todo.pop())
        for ref in re.findall(r'"\$ref": "#/components/([^/"]+)/([^"]+)"', text):
            if ref not in found:
                found.add(ref)
                todo.append(full["components"][ref[0]][ref[1]])
    return found


@functools.cache
def load_upstream(name: str) -> UpstreamSpec:
    """The shipped upstream spec of provider `name` (parsed once per process)."""
    upstream = UPSTREAMS[name]
    text = resources.files("mpc_lib.spec").joinpath("data", upstream.resource).read_text("utf-8")
    data = json.loads(text)
    document = spec_from_dict(data, name=f"{upstream.title} published spec")
    base = url_path(str((data.get("servers") or [{}])[0].get("url", "")))
    entries = [
        UpstreamOperation(
            op.path,
            op.method,
            base + op.path,
            op.op.get("operationId"),
            effective_security(data, op),
            op.op,
            op.item,
        )
        for op in iter_operations(data)
    ]
    for path, methods in (data.get("x-mpc-index") or {}).items():
        for method, entry in methods.items():
            security = entry.get("security", data.get("security"))
            entries.append(
                UpstreamOperation(
                    path, method, base + path, entry.get("operationId"), security, None
                )
            )
    return UpstreamSpec(upstream, document, entries)


def schemes(data: dict[str, Any]) -> dict[str, Any]:
    """The security schemes a document declares (empty when none)."""
    components = data.get("components")
    schemes = components.get("securitySchemes") if isinstance(components, dict) else None
    return schemes if isinstance(schemes, dict) else {}


def upstream_for(host: str | None) -> Upstream | None:
    """The provider whose published spec covers `host`, if we ship one."""
    return next((u for u in UPSTREAMS.values() if host in u.hosts), None)
