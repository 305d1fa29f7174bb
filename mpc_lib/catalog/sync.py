"""`sync_catalog`: fetch both providers, normalise, diff against the last sync, write.

The recipe, top to bottom:
1. take each provider's upstream as the caller opened it (`mpc_lib.upstreams`: live,
   through the gateway, or the sandbox over loopback);
2. fetch the providers concurrently, reading the previous registry meanwhile; FAL
   lists pages ahead and prices batches of 50 as ids arrive;
3. under the registry lock: re-read the registry if another sync replaced it; records
   of another kind (sandbox over live, live over sandbox: `upstreams.as_served` says what
   each provider's answers were) are refused unless `replace` (nothing written); a
   provider that failed fails the sync (nothing written), unless `allow_partial`,
   which keeps its previous records marked stale;
4. still under the lock: diff against the previous registry, write the snapshot,
   `models.json` and `diff.json` atomically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import Field, computed_field, field_serializer

from ..config import Settings
from ..errors import ConfigError, EmptyCatalog, MpcError, SyncError
from ..http import build_client
from ..models import MpcModel
from ..providers import PROVIDERS, check_providers
from ..registry import RegistryDiff, RegistryStore, diff_registries
from ..upstreams import Upstream, Upstreams, as_served, recorded_kind
from .comet import CometClient, join_catalog
from .fal import FAL_PRICING_BATCH, FalClient, normalise_fal
from .models import CometCatalogEntry, CometModel, FalModel, FalPrice, ModelRecord

__all__ = ["ProgressCallback", "SyncReport", "sync_catalog"]

log = logging.getLogger("mpc_lib.catalog")

# (provider, stage, done, total or None); stages: "models", "prices", "done".
ProgressCallback = Callable[[str, str, int, int | None], None]


# How many warnings per provider the JSON and `summary()` show, and the registry keeps.
_WARNINGS_SHOWN = 3
_WARNINGS_KEPT = 50
# What the summary adds after a source that is not the provider's live API.
_SOURCE_NOTES = {
    "sandbox": " (emulator: no key set or --source sandbox)",
    "sandbox via gateway": " (the gateway reaches the sandbox's emulator, not the provider)",
    "unknown via gateway": " (not known whether the gateway reaches the provider or a sandbox)",
}


class SyncReport(MpcModel):
    """What a sync did: per-provider sources and counts, the diff, where it wrote.

    Its JSON is the one-line summary `mpc sync --json` prints last.
    """

    status: Literal["ok", "failed"]
    sources: dict[str, str]
    counts: dict[str, int]
    diff: RegistryDiff = Field(exclude=True)
    stale: list[str] = Field(default_factory=list)
    duration_s: float
    registry_path: Path | None = Field(default=None, serialization_alias="registry")
    snapshot_path: Path | None = Field(default=None, exclude=True)
    errors: dict[str, str] = Field(default_factory=dict, exclude=True)
    timings: dict[str, float] = Field(default_factory=dict, exclude=True)
    # Per provider: odd answers that did not fail the sync (an entry dropped, has_more, ...).
    warnings: dict[str, list[str]] = Field(default_factory=dict)
    # Per provider whose records of another kind this sync replaced (`replace`): that kind.
    replaced: dict[str, str] = Field(default_factory=dict)
    # The snapshot that holds the registry as it was before the replace.
    replaced_snapshot: Path | None = None

    @computed_field
    @property
    def added(self) -> int:
        """How many models the sync added (`diff.added` names them)."""
        return len(self.diff.added)

    @computed_field
    @property
    def removed(self) -> int:
        """How many models it removed."""
        return len(self.diff.removed)

    @computed_field
    @property
    def changed(self) -> int:
        """How many models changed."""
        return len(self.diff.changed)

    @computed_field
    @property
    def error(self) -> str | None:
        """All provider errors in one line, each named once, or None."""
        if not self.errors:
            return None
        return "; ".join(
            message if message.startswith(f"{name}:") else f"{name}: {message}"
            for name, message in self.errors.items()
        )

    @field_serializer("duration_s")
    def _to_the_millisecond(self, duration_s: float) -> float:
        return round(duration_s, 3)

    @field_serializer("warnings")
    def _first_warnings(self, warnings: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
        return {
            name: {"count": len(found), "first": found[:_WARNINGS_SHOWN]}
            for name, found in warnings.items()
            if found
        }

    def summary(self) -> str:
        """A few human lines: sources, counts, the diff in brief."""
        lines = []
        for name, source in self.sources.items():
            note = _SOURCE_NOTES.get(source, "")
            stale = " [STALE: kept previous records]" if name in self.stale else ""
            lines.append(f"{name}: {self.counts.get(name, 0)} models from {source}{note}{stale}")
        for name, old in self.replaced.items():
            lines.append(
                f"{name}: replaced its {old} records (the registry before: "
                f"{self.replaced_snapshot}; `mpc registry restore` with that file puts it back)"
            )
        lines.append(
            f"diff: +{len(self.diff.added)} added, -{len(self.diff.removed)} removed, "
            f"~{len(self.diff.changed)} changed"
        )
        for key, old, new in self.diff.price_changes()[:10]:
            lines.append(f"  price {key}: {old} -> {new}")
        for name, found in self.warnings.items():
            if found:
                lines.append(f"{name}: {len(found)} warning(s)")
                lines.extend(f"  {message}" for message in found[:_WARNINGS_SHOWN])
                if len(found) > _WARNINGS_SHOWN:
                    lines.append(f"  ... {len(found) - _WARNINGS_SHOWN} more in the registry")
        for name, message in self.errors.items():
            lines.append(f"{name} failed: {message}")
        if self.registry_path:
            lines.append(f"registry: {self.registry_path} ({self.duration_s:.2f}s)")
        return "\n".join(lines)


@dataclass
class _Fetched:
    records: list[ModelRecord]
    priced: int
    warnings: list[str] = field(default_factory=list)
    # The sandbox marks the provider's answers carried (see `upstreams.as_served`).
    marks: set[str] = field(default_factory=set)


def _fetch_fal(
    endpoint: Upstream,
    settings: Settings,
    http: httpx.Client,
    progress: ProgressCallback,
    expected: int | None = None,
) -> tuple[list[FalModel], dict[str, FalPrice], list[str], set[str]]:
    """List FAL models with pages ahead, pricing each batch of 50 ids as soon as it fills.

    `expected` (the last sync's count) lets every page be requested at once.  A batch
    answered 404 is split inside `FalClient.get_prices`, so unpriced ids cost requests
    only in batches that name one; the warnings and sandbox marks come back with the data.
    """
    # Each page of 100 feeds two price batches, so pages look ahead half as wide as prices run.
    window = max(settings.concurrency // 2, 1)
    with FalClient(
        endpoint.base_url, endpoint.key, settings=settings, client=http, concurrency=window,
        **endpoint.options,
    ) as client:  # fmt: skip
        pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="fal-prices")
        futures: list[Future[list[FalPrice]]] = []
        pending: list[str] = []
        seen: set[str] = set()

        def on_page(models: list[FalModel], more: bool) -> None:
            for model in models:
                if model.endpoint_id not in seen:
                    seen.add(model.endpoint_id)
                    pending.append(model.endpoint_id)
            while len(pending) >= FAL_PRICING_BATCH or (pending and not more):
                futures.append(pool.submit(client.get_prices, pending[:FAL_PRICING_BATCH]))
                del pending[:FAL_PRICING_BATCH]
            progress("fal", "models", len(seen), None)

        try:
            models = client.list_models(on_page=on_page, expected=expected)
            prices: dict[str, FalPrice] = {}
            for done, future in enumerate(as_completed(futures), start=1):
                prices.update((price.endpoint_id, price) for price in future.result())
                progress("fal", "prices", done, len(futures))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    warnings = list(client.warnings)
    if models and not prices:
        warnings.append(f"no price for any of {len(models)} models: is the pricing API reachable?")
    return models, prices, warnings, set(client.sandbox_marks)


def _fetch_comet(
    endpoint: Upstream,
    settings: Settings,
    http: httpx.Client,
    progress: ProgressCallback,
    expected: int | None = None,
) -> tuple[list[CometModel], list[CometCatalogEntry], list[str], set[str]]:
    """Comet's model list and its public catalog, fetched side by side, with their warnings
    and sandbox marks."""
    with (
        CometClient(
            endpoint.base_url, endpoint.key, settings=settings, client=http, **endpoint.options
        ) as client,
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="comet") as pool,
    ):
        models_future = pool.submit(client.list_models)
        catalog_future = pool.submit(client.list_catalog)
        models = models_future.result()
        progress("comet", "models", len(models), None)
        catalog = catalog_future.result()
        progress("comet", "prices", 1, 1)
    return models, catalog, list(client.warnings), set(client.sandbox_marks)


def _fetch_all(
    endpoints: dict[str, Upstream],
    settings: Settings,
    progress: ProgressCallback,
    expected: dict[str, int] | None = None,
) -> tuple[dict[str, Any], dict[str, MpcError]]:
    """Raw answers per provider, fetched concurrently; MpcErrors collected per provider.

    `expected` holds the last sync's model counts, which size each provider's look-ahead.
    """
    fetchers = {"fal": _fetch_fal, "comet": _fetch_comet}
    raw: dict[str, Any] = {}
    failures: dict[str, MpcError] = {}
    with (
        build_client(settings) as http,
        ThreadPoolExecutor(max_workers=len(endpoints), thread_name_prefix="sync") as pool,
    ):
        futures = {
            pool.submit(
                fetchers[name], endpoint, settings, http, progress, (expected or {}).get(name)
            ): name
            for name, endpoint in endpoints.items()
        }
        for future in as_completed(futures):
            name = futures[future]
            try:
                raw[name] = future.result()
            except MpcError as exc:
                log.info("%s failed: %s", name, exc)  # reported by SyncError or SyncReport
                failures[name] = exc
    return raw, failures


def _wipes(previous: dict[str, Any] | None, fetched: dict[str, _Fetched]) -> dict[str, MpcError]:
    """Providers that came back with no models, or no prices, where the last sync had some.

    Either would wipe good data on the strength of one odd answer, so it is a failure.
    The refused providers are removed from `fetched`.
    """
    if previous is None:
        return {}
    refused: dict[str, MpcError] = {}
    for name, found in list(fetched.items()):
        before = previous.get("counts", {}).get(name, 0)
        priced_before = (previous.get("sources", {}).get(name) or {}).get("priced") or 0
        if before and not found.records:
            detail = f"0 models where the previous sync had {before}; not replacing them"
            refused[name] = EmptyCatalog(name, PROVIDERS[name].list_path, detail)
        elif priced_before and not found.priced:
            detail = (
                f"no price for any of {len(found.records)} models where the previous sync "
                f"had {priced_before}; not replacing them"
            )
            refused[name] = EmptyCatalog(name, "pricing", detail)
        else:
            continue
        del fetched[name]
    return refused


def _normalise(name: str, raw: Any) -> _Fetched:
    if name == "fal":
        models, prices, warnings, marks = raw
        records = [normalise_fal(model, prices.get(model.endpoint_id)) for model in models]
    else:
        models, catalog, warnings, marks = raw
        records = join_catalog(models, catalog)
    priced = sum(record.pricing is not None for record in records)
    return _Fetched(records, priced, warnings, marks)


def _kind_changes(
    previous: dict[str, Any] | None, served: dict[str, Upstream]
) -> dict[str, tuple[str, str]]:
    """Providers whose previous records came from another kind of source: (old, new) kinds."""
    if previous is None:
        return {}
    changes: dict[str, tuple[str, str]] = {}
    for name, upstream in served.items():
        entry = previous.get("sources", {}).get(name)
        if not isinstance(entry, dict) or not previous.get("counts", {}).get(name):
            continue  # nothing of this provider's to protect
        old = recorded_kind(entry)
        if old != upstream.kind:
            changes[name] = (old, upstream.kind)
    return changes


def _refusal(changes: dict[str, tuple[str, str]], store: RegistryStore) -> ConfigError:
    what = "; ".join(
        f"{name}: the registry holds {old} records, this sync fetched {new} ones"
        for name, (old, new) in changes.items()
    )
    return ConfigError(
        f"sync refused, registry left untouched. {what}. Pass --replace to replace them "
        f"(the catalog_sync notebook: -p replace true); the registry replaced stays in "
        f"{store.snapshots_dir}"
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _no_progress(provider: str, stage: str, done: int, total: int | None) -> None:
    return None


def sync_catalog(
    settings: Settings,
    upstreams: Upstreams,
    *,
    providers: Sequence[str] = tuple(PROVIDERS),
    allow_partial: bool = False,
    replace: bool = False,
    progress: ProgressCallback | None = None,
) -> SyncReport:
    """Sync the chosen providers, reached through `upstreams`, into `<outputs>/registry`.

    Raises SyncError if a provider failed.  With `allow_partial`, a failed provider keeps
    its previous records, marked stale, and the sync succeeds.  Providers not chosen keep
    their records as they are.  Records of another kind of source (sandbox over live, live
    over sandbox, unknown over either) raise ConfigError unless `replace`; the registry
    replaced is kept in the snapshots.  The registry lock is held only to re-read, compare
    and write, not while fetching.
    """
    started = time.perf_counter()
    chosen = check_providers(providers)
    # Every provider that cannot be reached as configured, named at once (a missing key each).
    unreachable = upstreams.unreachable
    if missing := [str(unreachable[name]) for name in chosen if name in unreachable]:
        raise ConfigError("; ".join(missing))
    endpoints = {name: upstreams[name] for name in chosen}
    report_progress = progress or _no_progress
    store = RegistryStore(
        settings.outputs_dir, keep=settings.snapshot_keep, lock_timeout_s=settings.lock_timeout_s
    )
    # The previous registry is read while the network works; it is re-read under the
    # lock only if another sync replaced it in the meantime.
    expected = store.peek_counts()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry") as reader:
        previous_future = reader.submit(store.load_stamped)
        raw, failures = _fetch_all(endpoints, settings, report_progress, expected)
        previous, stamp = previous_future.result()
    fetched_s = time.perf_counter() - started
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    fetched = {name: _normalise(name, raw[name]) for name in chosen if name in raw}
    # What each provider's answers showed (through the gateway: the sandbox's mark or not).
    served = {name: as_served(endpoints[name], fetched[name].marks) for name in fetched}

    with store.locked():
        if store.stamp() != stamp:
            log.info("registry changed during the fetch; comparing against the new one")
            previous = store.load()
        changes = _kind_changes(previous, served)
        if changes and not replace:
            raise _refusal(changes, store)
        failures.update(_wipes(previous, fetched))
        if failures and not allow_partial:
            raise SyncError(failures)
        moment = datetime.now(UTC)
        kept = store.keep_current(moment) if changes else None
        registry = _assemble(previous, fetched, failures, {**endpoints, **served}, moment)
        diff = diff_registries(previous["models"] if previous else None, registry["models"])
        snapshot = store.commit(registry, diff, moment=moment, keep_also=kept)
    for name in chosen:
        report_progress(name, "done", registry["counts"].get(name, 0), None)
    return SyncReport(
        status="ok",
        sources={name: served.get(name, endpoints[name]).label for name in chosen},
        counts={name: registry["counts"].get(name, 0) for name in chosen},
        diff=diff,
        duration_s=time.perf_counter() - started,
        registry_path=store.path,
        snapshot_path=snapshot,
        stale=sorted(failures),
        errors={name: str(exc) for name, exc in failures.items()},
        warnings={name: found.warnings for name, found in fetched.items()},
        replaced={name: old for name, (old, _new) in changes.items() if name in fetched},
        replaced_snapshot=kept,
        timings={
            "fetch_s": fetched_s,
            "process_wall_s": time.perf_counter() - wall_started,
            "process_cpu_s": time.process_time() - cpu_started,
        },
    )


def _assemble(
    previous: dict[str, Any] | None,
    fetched: dict[str, _Fetched],
    failures: dict[str, MpcError],
    endpoints: dict[str, Upstream],
    moment: datetime,
) -> dict[str, Any]:
    """The new registry: fresh records, stale ones for failed providers, others carried over."""
    previous = previous or {"sources": {}, "models": []}
    old_by_provider: dict[str, list[dict[str, Any]]] = {}
    for record in previous["models"]:
        old_by_provider.setdefault(record["provider"], []).append(record)
    sources: dict[str, Any] = dict(previous.get("sources", {}))
    models: list[dict[str, Any]] = []
    for name in PROVIDERS:
        if name in fetched:
            models.extend(record.model_dump() for record in fetched[name].records)
            endpoint = endpoints[name]
            found = fetched[name]
            sources[name] = {
                "source": endpoint.source,
                # live, sandbox, or through the gateway what it reaches (unknown if unsure)
                "kind": endpoint.kind,
                "data": endpoint.data,
                "prices": endpoint.prices,
                "status": "ok",
                "fetched_at": _iso(moment),
                "models": len(found.records),
                "priced": found.priced,
                "unpriced": len(found.records) - found.priced,
                "error": None,
                "warnings": found.warnings[:_WARNINGS_KEPT],
                "warnings_count": len(found.warnings),
            }
        elif name in failures:
            # The kept records keep the label of the sync that fetched them (source, time);
            # the failed attempt is recorded beside it.
            kept = [{**record, "stale": True} for record in old_by_provider.get(name, [])]
            models.extend(kept)
            sources[name] = {
                **sources.get(name, {}),
                "status": "stale",
                "error": str(failures[name]),
                "models": len(kept),
                "failed_attempt": {
                    "source": endpoints[name].source,
                    "kind": endpoints[name].kind,
                    "at": _iso(moment),
                },
            }
        else:
            models.extend(old_by_provider.get(name, []))
    models.sort(key=lambda record: (record["provider"], record["model_id"]))
    counts = {name: 0 for name in PROVIDERS}
    for record in models:
        counts[record["provider"]] = counts.get(record["provider"], 0) + 1
    return {"generated_at": _iso(moment), "sources": sources, "counts": counts, "models": models}
