"""Records to check a spec against, as the providers send them: live, sandbox, registry, file.

Live and sandbox records are fetched raw through the shared HTTP core (the catalog
clients' parsed models drop fields a spec may describe).  A registry file or a
snapshot (our `models.json`, or a raw list such as the 2025 snapshot) is turned back
into wire items by `SandboxData.from_snapshot`; prices and catalog entries the
loader had to make up are never checked as data.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import SOURCES, Secret, Settings
from ..errors import ConfigError, PaginationError, ResponseFormatError

__all__ = ["DATA_CHOICES", "RecordSet", "load_records"]

log = logging.getLogger("mpc_lib.spec")

DATA_CHOICES = (*SOURCES, "registry")
_MAX_PAGES = 500
_FAL_PAGE = 100


@dataclass
class RecordSet:
    """Wire records per kind (`fal.models`, `fal.prices`, `comet.models`, `comet.catalog`)."""

    label: str
    collections: dict[str, list[dict[str, Any]]]
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many records of each kind."""
        return {kind: len(items) for kind, items in self.collections.items()}


def load_records(data: str | Path, settings: Settings) -> RecordSet:
    """Records from `auto`/`live`/`sandbox` (fetched), `registry` (ours), or a file path."""
    choice = str(data)
    if choice == "registry":
        from ..registry import RegistryStore

        path = RegistryStore(settings.outputs_dir).path
        if not path.is_file():
            raise ConfigError(f"--data registry: no registry at {path} (run `mpc sync` first)")
        return _from_file(path, f"registry {path}")
    if choice in SOURCES:
        return _fetch(settings, choice)
    from ..config import workbook_path

    path = workbook_path(settings, choice)
    if not path.is_file():
        raise ConfigError(
            f"--data {choice!r}: expected {', '.join(DATA_CHOICES)} or a registry/snapshot file"
        )
    return _from_file(path, f"snapshot {path}")


def _from_file(path: Path, label: str) -> RecordSet:
    from ..sandbox import SandboxData

    loaded = SandboxData.from_snapshot(path)
    collections: dict[str, list[dict[str, Any]]] = {
        "fal.models": loaded.fal_models,
        "comet.models": loaded.comet_models,
    }
    notes = []
    if loaded.price_origin.get("fal") == "synthetic":
        notes.append("fal.prices: the file carries no FAL prices; not checked")
    else:
        collections["fal.prices"] = list(loaded.fal_prices.values())
    if loaded.price_origin.get("comet") == "synthetic":
        notes.append("comet.catalog: the file carries no Comet catalog; not checked")
    else:
        collections["comet.catalog"] = loaded.comet_catalog
        notes.append("comet.catalog: entries rebuilt from registry records")
    return RecordSet(label, collections, {"fal": label, "comet": label}, notes)


# --- fetched -------------------------------------------------------------------------


@dataclass
class _Target:
    source: str
    base_url: str
    key: Secret | None


@contextlib.contextmanager
def _targets(settings: Settings, source: str) -> Iterator[dict[str, _Target]]:
    """Where FAL and Comet are reached; starts the sandbox when one of them needs it."""
    chosen = {name: settings.source_for(name, source) for name in ("fal", "comet")}
    live = {
        name: _Target("live", settings.base_url_for(name), settings.key_for(name))
        for name, where in chosen.items()
        if where == "live"
    }
    if len(live) == len(chosen):
        yield live
        return
    from ..sandbox import Sandbox, SandboxData

    snapshot = settings.sandbox_snapshot
    data = SandboxData.from_snapshot(snapshot) if snapshot else SandboxData.generate()
    with Sandbox(data=data) as sandbox:
        yield {
            name: live.get(name) or _Target("sandbox", sandbox.url(name), Secret(sandbox.key(name)))
            for name in chosen
        }


def _fetch(settings: Settings, source: str) -> RecordSet:
    from ..catalog import CometClient, FalClient

    with _targets(settings, source) as targets:
        fal, comet = targets["fal"], targets["comet"]
        with FalClient(fal.base_url, fal.key, settings=settings) as client:
            models = _fal_models(client)
            ids = [str(m["endpoint_id"]) for m in models if isinstance(m, dict)]
            prices = [p.model_dump() for p in client.get_all_prices(ids).values()]
        with CometClient(comet.base_url, comet.key, settings=settings) as client:
            comet_models = _items(client.http.get_json("/v1/models"), "data", "/v1/models")
            catalog = _comet_catalog(client)
    sources = {"fal": fal.source, "comet": comet.source}
    label = ", ".join(f"{name}={where}" for name, where in sources.items())
    collections = {
        "fal.models": models,
        "fal.prices": prices,
        "comet.models": comet_models,
        "comet.catalog": catalog,
    }
    return RecordSet(label, collections, sources)


def _items(body: Any, key: str, path: str) -> list[dict[str, Any]]:
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ResponseFormatError("spec", path, f"expected an object with a {key!r} list")
    return [item for item in items if isinstance(item, dict)]


def _fal_models(client: Any) -> list[dict[str, Any]]:
    """Every FAL /models item as sent, page after page."""
    models: list[dict[str, Any]] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        body = client.http.get_json("/models", {"limit": _FAL_PAGE, "cursor": cursor})
        models += _items(body, "models", "/models")
        cursor = body.get("next_cursor")
        if not body.get("has_more") or not cursor:
            return models
        if cursor in seen:
            raise PaginationError("fal", "/models", f"cursor {cursor!r} repeated")
        seen.add(cursor)
    raise PaginationError("fal", "/models", f"more than {_MAX_PAGES} pages")


def _comet_catalog(client: Any) -> list[dict[str, Any]]:
    """Comet's public catalog as sent, every page of it when it pages."""
    body = client.http.get_json("/api/models", auth=False)
    entries = _items(body, "data", "/api/models")
    total, size = body.get("total"), body.get("page_size") or 0
    page = (body.get("page") or 1) + 1
    while isinstance(total, int) and size and len(entries) < total and page < _MAX_PAGES:
        more = _items(
            client.http.get_json("/api/models", {"page": page, "page_size": size}, auth=False),
            "data",
            "/api/models",
        )
        if not more:
            break
        entries += more
        page += 1
    return entries
