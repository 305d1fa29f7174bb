"""Records to check a spec against, as the providers send them: live, sandbox, registry, file.

Records are fetched raw through the shared HTTP core from the upstreams the caller opened
(the catalog clients' parsed models drop fields a spec may describe).  A registry file or
a snapshot (our `models.json`, or a raw list such as the 2025 snapshot) is served by the
sandbox (`records_source` says how to open the upstreams for a `--data` choice); prices
and catalog entries the sandbox had to make up are never checked as data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..catalog import CometClient, FalClient
from ..config import SOURCES, Settings, workbook_path
from ..errors import ConfigError, PaginationError, RegistryError, ResponseFormatError
from ..registry import RegistryStore
from ..upstreams import Upstream, Upstreams

__all__ = ["DATA_CHOICES", "RecordSet", "RecordsSource", "load_records", "records_source"]

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


class RecordsSource(NamedTuple):
    """How to open the upstreams for a `--data` choice (`open_upstreams(..., **it._asdict())`)."""

    source: str
    snapshot: Path | None = None


def records_source(settings: Settings, data: str | Path) -> RecordsSource:
    """`auto`/`live`/`sandbox`/`gateway` as they are; `registry` (ours) or a file: the sandbox
    serving that file.  ConfigError for anything else."""
    choice = str(data)
    if choice in SOURCES:
        return RecordsSource(choice)
    if choice == "registry":
        path = RegistryStore(settings.outputs_dir).path
        if not path.is_file():
            raise RegistryError(f"--data registry: {path}: no registry yet; run `mpc sync` first")
        return RecordsSource("sandbox", path)
    path = workbook_path(settings, choice)
    if not path.is_file():
        raise ConfigError(
            f"--data {choice!r}: expected {', '.join(DATA_CHOICES)} or a registry/snapshot file"
        )
    return RecordsSource("sandbox", path)


def load_records(upstreams: Upstreams, settings: Settings) -> RecordSet:
    """FAL's and Comet's records as `upstreams` serve them, page after page."""
    fal, comet = upstreams["fal"], upstreams["comet"]
    with FalClient(fal.base_url, fal.key, settings=settings, **fal.options) as client:
        models = _fal_models(client)
        ids = [str(m["endpoint_id"]) for m in models if isinstance(m, dict)]
        prices = [p.model_dump() for p in client.get_all_prices(ids).values()]
    with CometClient(comet.base_url, comet.key, settings=settings, **comet.options) as client:
        comet_models = _items(client.http.get_json("/v1/models"), "data", "/v1/models")
        catalog = _comet_catalog(client)
    collections = {"fal.models": models, "comet.models": comet_models}
    notes: list[str] = []
    # What the sandbox made up over a snapshot without prices is not the providers' data.
    if fal.prices.startswith("synthetic"):
        notes.append("fal.prices: the file carries no FAL prices; not checked")
    else:
        collections["fal.prices"] = prices
    if comet.prices.startswith("synthetic"):
        notes.append("comet.catalog: the file carries no Comet catalog; not checked")
    else:
        collections["comet.catalog"] = catalog
        if comet.data.startswith("snapshot"):
            notes.append("comet.catalog: entries rebuilt from registry records")
    sources = {"fal": _origin(fal), "comet": _origin(comet)}
    files = {source for source in sources.values() if source.startswith("snapshot")}
    label = files.pop() if len(files) == 1 and len(set(sources.values())) == 1 else ", ".join(
        f"{name}={where}" for name, where in sources.items()
    )
    return RecordSet(label, collections, sources, notes)


def _origin(upstream: Upstream) -> str:
    """live, sandbox, gateway; or the snapshot file the sandbox serves."""
    return upstream.data if upstream.data.startswith("snapshot") else upstream.source


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
