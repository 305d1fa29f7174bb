"""Where each outside service is reached: its live API, the LiteLLM gateway, or the sandbox.

This is the one place that decides, per service, live or sandbox, and the one module outside
`cli/` that imports `mpc_lib.sandbox`.  A command (or a notebook kernel) opens it once where it
starts and hands the result down; catalog, pricing, spec, gateway and Apidog code only read
the `Upstream`s they are given, and never start an emulator.

    with open_upstreams(settings, ("fal", "comet"), source="auto") as upstreams:
        sync_catalog(settings, upstreams)

The decision for a model provider: `sandbox` always; `gateway` through LiteLLM's pass-through
route (the gateway holds the provider key); `live` needs the provider's key; `auto` is live
when the key is set, else the sandbox.  Apidog is live when `APIDOG_ACCESS_TOKEN` is set.
The sandbox starts only when a service it serves is first used, without its fault and mode routes,
and serves generated data or a snapshot (`MPC_SANDBOX_SNAPSHOT`, or `snapshot=`).  Every
`Upstream` says what its data is, so sandbox data is labelled as such wherever it goes.

Its `kind` is what stands behind the data: live, sandbox, or, through the gateway, what the
gateway reaches.  `mpc gateway serve` and `mpc gateway config` record that per provider
(`record_gateway_upstreams`, `<outputs>/gateway/upstreams.json`, for the gateway's URL), and
the sandbox marks every answer (`SANDBOX_MARK`), which the gateway relays: `as_served` turns
a gateway answer carrying the mark into sandbox data whatever the record says.  With neither,
the kind is `unknown`, never live.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from .config import SOURCES, Secret, Settings
from .errors import ConfigError
from .providers import PROVIDERS, provider_spec
from .storage import atomic_write_json, read_json

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = [
    "GATEWAY_RECORD",
    "SERVICES",
    "SourceKind",
    "Upstream",
    "UpstreamSource",
    "Upstreams",
    "as_served",
    "container_upstreams",
    "kind_label",
    "live_upstream",
    "open_upstreams",
    "record_gateway_upstreams",
    "recorded_kind",
    "resolve_source",
    "sandbox_upstreams",
]

log = logging.getLogger("mpc_lib.upstreams")

UpstreamSource = Literal["live", "sandbox", "gateway"]
# What stands behind a provider's data: its live API, our sandbox, or (through a gateway
# whose upstream is not recorded, or an old registry's gateway records) unknown.
SourceKind = Literal["live", "sandbox", "unknown"]
_KINDS: tuple[str, ...] = ("live", "sandbox", "unknown")
# The model providers, then the SaaS the hub's spec lives in.
SERVICES: tuple[str, ...] = (*PROVIDERS, "apidog")
APIDOG_STORE = Path("apidog") / "sandbox-projects.json"
# Under outputs: what the workbook's gateway reaches per provider (`record_gateway_upstreams`).
GATEWAY_RECORD = Path("gateway") / "upstreams.json"

# Client options for a gateway hop: its key as a Bearer token on every call (public
# endpoints too), lists comma-joined (its pass-through keeps only the last repeated key).
_GATEWAY_HOP: dict[str, Any] = {"scheme": "Bearer", "query_lists": "comma", "key_on_public": True}
# The sandbox's origin of each provider's prices -> what the registry and reports call it.
_PRICE_LABELS = {
    "generated": "generated",
    "snapshot": "snapshot {path}",
    "synthetic": "synthetic prices over snapshot {path}",
}
# The sandbox's mark on an answer relayed by the gateway -> the prices label (no path known).
_MARKED_PRICES = {
    "generated": "generated",
    "snapshot": "snapshot (served through the gateway)",
    "synthetic": "synthetic prices over a snapshot",
}


@dataclass(frozen=True)
class Upstream:
    """One service as a client reaches it: base URL, key, and what stands behind them."""

    name: str
    source: UpstreamSource
    base_url: str
    key: Secret | None = field(default=None, repr=False)
    # What the data is: "live", "generated" (the sandbox's own), "snapshot <path>",
    # or "gateway <url>".
    data: str = "live"
    # Where prices come from: "live API", "generated", "snapshot <path>",
    # "synthetic prices over snapshot <path>" or "provider API via gateway <url>".
    prices: str = "live API"
    # The root a gateway deployment's api_base is made from (Comet: the sandbox's
    # OpenAI-compatible upstream when sandboxed); None: LiteLLM's own default.
    chat_url: str | None = None
    # Where the provider's models run, per host of its `model_hosts` (FAL: "run" and
    # "queue"): the live hosts, or the sandbox's stand-ins.  Empty through the gateway.
    model_urls: Mapping[str, str] = field(default_factory=dict)
    # Client options for whatever stands between us and the service (see _GATEWAY_HOP).
    options: Mapping[str, Any] = field(default_factory=dict)
    # The variable a gateway reads this upstream's key from; None: the provider's own
    # (`FAL_KEY`...).  The stack's sandbox container takes a key of its own.
    key_var: str | None = None
    # Apidog: the project to pull and push.
    project_id: str | None = None
    # One line for people: why this source, where the sandbox keeps its state.
    note: str = ""
    # Through the gateway: what the gateway reaches (live or sandbox); None: not known.
    served: Literal["live", "sandbox"] | None = None

    @property
    def kind(self) -> SourceKind:
        """What stands behind the data: live, sandbox, or (a gateway's, unrecorded) unknown."""
        if self.source != "gateway":
            return self.source
        return self.served or "unknown"

    @property
    def label(self) -> str:
        """`live`, `sandbox`, or through the gateway `sandbox via gateway` (and so on)."""
        return kind_label(self.source, self.kind)


class Upstreams(Mapping[str, Upstream]):
    """The services one command or kernel reaches, decided once; closing stops the sandbox.

    Services the sandbox serves start it on first use (`upstreams["fal"]`), so a command
    that ends up not calling them starts nothing.  A service that cannot be reached as
    configured (`source=live` without its key) raises that ConfigError when used, and
    `unreachable` lists it.
    """

    def __init__(
        self,
        upstreams: Mapping[str, Upstream],
        *,
        unreachable: Mapping[str, ConfigError] | None = None,
        sandboxed: Sequence[str] = (),
        start_sandbox: Callable[[], tuple[Sandbox, dict[str, Upstream]]] | None = None,
        order: Sequence[str] | None = None,
    ) -> None:
        self._upstreams = dict(upstreams)
        self._unreachable = dict(unreachable or {})
        self._sandboxed = tuple(name for name in sandboxed if name not in self._upstreams)
        self._order = tuple(order or (*self._upstreams, *self._sandboxed))
        self._start_sandbox = start_sandbox
        self._sandbox: Sandbox | None = None
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Upstream:
        if name in self._unreachable:
            raise self._unreachable[name]
        if name in self._sandboxed and name not in self._upstreams:
            self._start()
        try:
            return self._upstreams[name]
        except KeyError:
            opened = ", ".join(self) or "none"
            raise KeyError(f"{name!r} was not opened (opened: {opened})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def _start(self) -> None:
        with self._lock:
            if self._sandbox is not None or self._start_sandbox is None:
                return
            self._sandbox, served = self._start_sandbox()
            self._upstreams.update(served)

    @property
    def unreachable(self) -> Mapping[str, ConfigError]:
        """Services that cannot be reached as configured, with the reason."""
        return dict(self._unreachable)

    def sources(self) -> dict[str, str]:
        """Each service's source (live, sandbox, `<kind> via gateway`, or unreachable);
        starts nothing."""
        found = {name: up.label for name, up in self._upstreams.items()}
        found |= {name: "sandbox" for name in self._sandboxed}
        return {name: found[name] for name in self._order} | {
            name: "unreachable" for name in self._unreachable
        }

    def label(self) -> str:
        """`fal=sandbox, comet=live`: for banners, manifests and log lines."""
        return ", ".join(f"{name}={source}" for name, source in self.sources().items())

    def close(self) -> None:
        """Stop the sandbox, if one was started for these services."""
        with self._lock:
            sandbox, self._sandbox = self._sandbox, None
            self._start_sandbox = None  # closed: nothing starts any more
        if sandbox is not None:
            sandbox.stop()

    def keep_until_exit(self) -> Upstreams:
        """Close at interpreter exit (a notebook kernel keeps its upstreams for its lifetime)."""
        atexit.register(self.close)
        return self

    def __enter__(self) -> Upstreams:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Upstreams({self.label()})"


def resolve_source(settings: Settings, name: str, source: str | None = None) -> UpstreamSource:
    """Decide live, sandbox or gateway for one service; ConfigError when it cannot be reached.

    `source` overrides `MPC_SOURCE` (auto, live, sandbox, gateway).
    """
    chosen = source or settings.source
    if chosen not in SOURCES:
        raise ConfigError(f"source {chosen!r}: expected one of {', '.join(SOURCES)}")
    if name == "apidog":
        return _apidog_source(settings, chosen, explicit=source is not None)
    spec = provider_spec(name)
    if chosen == "sandbox":
        return "sandbox"
    if chosen == "gateway":
        if settings.gateway_key is None:
            raise ConfigError(
                "source is gateway but LITELLM_MASTER_KEY is not set "
                "(`mpc gateway serve` generates one into the workbook's .env)"
            )
        return "gateway"
    has_key = settings.key_for(name) is not None
    if chosen == "live":
        if not has_key:
            raise ConfigError(f"source is live but {spec.key_var} is not set for {name}")
        return "live"
    return "live" if has_key else "sandbox"


def _apidog_source(settings: Settings, chosen: str, *, explicit: bool) -> UpstreamSource:
    if chosen == "gateway":
        if explicit:
            raise ConfigError("source 'gateway': Apidog is reached live or on the sandbox")
        chosen = "auto"  # MPC_SOURCE=gateway is about the model providers
    if chosen == "sandbox":
        return "sandbox"
    if chosen == "live" and settings.apidog_token is None:
        raise ConfigError("source is live but APIDOG_ACCESS_TOKEN is not set")
    if settings.apidog_token is None:
        return "sandbox"
    if not settings.apidog_project_id:
        raise ConfigError("APIDOG_PROJECT_ID is not set (the Apidog project to pull and push)")
    return "live"


def live_upstream(settings: Settings, name: str) -> Upstream:
    """The service's live API with the configured key (which may be unset)."""
    if name == "apidog":
        return Upstream(
            "apidog", "live", settings.apidog_base_url, settings.apidog_token,
            project_id=settings.apidog_project_id,
        )  # fmt: skip
    url = settings.base_url_for(name)
    hosts = {host: str(getattr(settings, var)) for host, var in PROVIDERS[name].model_hosts.items()}
    return Upstream(name, "live", url, settings.key_for(name), chat_url=url, model_urls=hosts)


def _via_gateway(settings: Settings, name: str) -> Upstream:
    via = f"gateway {settings.gateway_url}"
    found = _gateway_record(settings).get(name)
    served = found.get("kind") if isinstance(found, Mapping) else None
    if served == "live":
        prices, note = "live API", f"the {via} reaches the live {name} API (its record says)"
    elif served == "sandbox":
        prices = str(found.get("prices") or "unknown") if isinstance(found, Mapping) else "unknown"
        note = f"the {via} reaches the sandbox, not {name} (its record says)"
    else:
        served, prices = None, "unknown"
        note = f"not recorded what the {via} reaches for {name}: unknown, unless the sandbox's"
        note += " mark shows on its answers"
    return Upstream(
        name, "gateway", settings.gateway_url + PROVIDERS[name].passthrough,
        settings.gateway_key, via, prices, options=_GATEWAY_HOP, note=note, served=served,
    )  # fmt: skip


def _gateway_record(settings: Settings) -> dict[str, Any]:
    """Per provider, what the gateway at MPC_GATEWAY_URL reaches, as recorded; {} if unknown."""
    path = Path(settings.outputs_dir) / GATEWAY_RECORD
    try:
        record = read_json(path)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable, so what the gateway reaches is unknown (%s)", path, exc)
        return {}
    if not isinstance(record, dict) or not _same_origin(
        str(record.get("gateway_url") or ""), settings.gateway_url
    ):
        return {}
    upstreams = record.get("upstreams")
    return dict(upstreams) if isinstance(upstreams, dict) else {}


def _same_origin(one: str, other: str) -> bool:
    def key(url: str) -> tuple[str, str, int | None]:
        parts = urlsplit(url)
        default = {"http": 80, "https": 443}.get(parts.scheme)
        return parts.scheme, (parts.hostname or "").lower(), parts.port or default

    return bool(one) and key(one) == key(other)


def record_gateway_upstreams(
    settings: Settings, gateway_url: str, upstreams: Mapping[str, Upstream]
) -> Path:
    """Record what the gateway at `gateway_url` reaches per provider (live, or the sandbox and
    its prices), in `<outputs>/gateway/upstreams.json`: a sync through that gateway reads it."""
    record = {
        "gateway_url": gateway_url,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "upstreams": {
            name: {"kind": upstream.kind, "data": upstream.data, "prices": upstream.prices}
            for name, upstream in upstreams.items()
            if name in PROVIDERS
        },
    }
    return atomic_write_json(Path(settings.outputs_dir) / GATEWAY_RECORD, record)


def as_served(upstream: Upstream, marks: Collection[str]) -> Upstream:
    """`upstream` as its answers showed it: through the gateway, answers carrying the sandbox's
    mark (`marks`, from `ProviderClient.sandbox_marks`) are the sandbox's, whatever the record
    says.  A direct upstream stays as its keys decided: a key and a base URL are live."""
    if upstream.source != "gateway" or not marks or upstream.served == "sandbox":
        return upstream
    if upstream.served == "live":
        log.warning(
            "%s: the gateway's record says live, but its answers carry the sandbox's mark (%s): "
            "labelled sandbox", upstream.name, ", ".join(sorted(marks)),
        )  # fmt: skip
    origins = sorted(marks)
    prices = _MARKED_PRICES.get(origins[0], "unknown") if len(origins) == 1 else "unknown"
    note = f"the {upstream.data} relayed answers marked as the sandbox's ({', '.join(origins)})"
    return replace(upstream, served="sandbox", prices=prices, note=note)


def recorded_kind(entry: Mapping[str, Any]) -> SourceKind:
    """The kind of source a registry's `sources.<provider>` entry records.

    A registry written before kinds were recorded: its `source` (a gateway's: unknown).
    """
    kind = entry.get("kind")
    if kind in _KINDS:
        return kind
    source = entry.get("source")
    return source if source in ("live", "sandbox") else "unknown"


def kind_label(source: str, kind: str) -> str:
    """`live`, `sandbox`, or through the gateway `sandbox via gateway` (`live via gateway`,
    `unknown via gateway`): the kind first, for banners, manifests and reports."""
    return f"{kind} via gateway" if source == "gateway" else kind


def open_upstreams(
    settings: Settings,
    services: Sequence[str] = tuple(PROVIDERS),
    *,
    source: str | None = None,
    snapshot: Path | str | None = None,
) -> Upstreams:
    """Decide each service's source; the sandbox starts when a service it serves is first used.

    `snapshot` (a registry or raw snapshot file) is what the sandbox serves, over
    `MPC_SANDBOX_SNAPSHOT`; neither: the sandbox's generated data.  Use the result as a
    context manager (or call `close()`); it stops the sandbox.  A notebook kernel keeps
    its upstreams open (`keep_until_exit()`).
    """
    for name in services:
        if name not in SERVICES:
            raise ValueError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")
    if source is not None and source not in SOURCES:
        raise ConfigError(f"source {source!r}: expected one of {', '.join(SOURCES)}")
    reached: dict[str, Upstream] = {}
    unreachable: dict[str, ConfigError] = {}
    sandboxed: list[str] = []
    for name in dict.fromkeys(services):
        try:
            where = resolve_source(settings, name, source)
        except ConfigError as exc:
            unreachable[name] = exc
            continue
        if where == "live":
            reached[name] = live_upstream(settings, name)
        elif where == "gateway":
            reached[name] = _via_gateway(settings, name)
        else:
            sandboxed.append(name)
    if not sandboxed:
        return Upstreams(reached, unreachable=unreachable)
    store = Path(settings.outputs_dir) / APIDOG_STORE
    path = snapshot if snapshot is not None else settings.sandbox_snapshot

    def start() -> tuple[Sandbox, dict[str, Upstream]]:
        sandbox = _start_sandbox(settings, path, store if "apidog" in sandboxed else None)
        try:
            return sandbox, sandbox_upstreams(sandbox, sandboxed, snapshot=path, apidog_store=store)
        except BaseException:
            sandbox.stop()
            raise

    order = [name for name in dict.fromkeys(services) if name not in unreachable]
    return Upstreams(
        reached, unreachable=unreachable, sandboxed=sandboxed, start_sandbox=start, order=order
    )


def _start_sandbox(
    settings: Settings, snapshot: Path | str | None, apidog_store: Path | None
) -> Sandbox:
    # The sandbox (emulators, data generator) loads only when some service resolves to it.
    from .sandbox import Sandbox, SandboxData
    from .sandbox.apidog import load_projects

    data = SandboxData.from_snapshot(snapshot) if snapshot is not None else SandboxData.generate()
    sandbox = Sandbox(data=data, latency_ms=settings.sandbox_latency_ms, control=False)
    if apidog_store is not None:
        load_projects(sandbox.state, apidog_store)
    log.info("sandbox: serving %s", "generated data" if snapshot is None else snapshot)
    return sandbox.start()


def sandbox_upstreams(
    sandbox: Sandbox,
    services: Sequence[str] = tuple(PROVIDERS),
    *,
    snapshot: Path | str | None = None,
    apidog_store: Path | None = None,
) -> dict[str, Upstream]:
    """Each service as the running `sandbox` serves it (tests build theirs from one sandbox).

    `snapshot` is the file the sandbox's data was loaded from, for the data labels;
    `apidog_store`, where the sandbox keeps its Apidog project, for the note.
    """
    from .sandbox.apidog import SANDBOX_PROJECT_ID  # only when a service is the sandbox's

    data = "generated" if snapshot is None else f"snapshot {snapshot}"
    served: dict[str, Upstream] = {}
    for name in services:
        if name == "apidog":
            kept = f" (its project is kept in {apidog_store})" if apidog_store else ""
            note = f"no APIDOG_ACCESS_TOKEN: using the built-in Apidog sandbox{kept}"
            served[name] = Upstream(
                name, "sandbox", sandbox.url(name), Secret(sandbox.key(name)), data, data,
                project_id=SANDBOX_PROJECT_ID, note=note,
            )  # fmt: skip
            continue
        origin = sandbox.data.price_origin.get(name, "")
        # Prices the sandbox made up over a snapshot must never pass for the snapshot's own.
        prices = _PRICE_LABELS.get(origin, "unknown").format(path=snapshot)
        note = "the built-in sandbox: no key set, or --source sandbox"
        served[name] = _sandboxed(name, sandbox.url, Secret(sandbox.key(name)), data, prices, note)
    return served


def _sandboxed(
    name: str, url: Callable[[str], str], key: Secret | None, data: str, prices: str, note: str,
    key_var: str | None = None,
) -> Upstream:  # fmt: skip
    """Provider `name` as a sandbox reaches it (`url(emulator)`: an emulator's base URL)."""
    spec = provider_spec(name)
    chat = url(spec.gateway_sandbox) if spec.gateway_sandbox else url(name)
    parts = urlsplit(url(name))
    hosts = {host: f"{parts.scheme}://{parts.netloc}/{host}" for host in spec.model_hosts}
    return Upstream(
        name, "sandbox", url(name), key, data, prices, chat_url=chat, model_urls=hosts,
        note=note, key_var=key_var,
    )  # fmt: skip


def container_upstreams(
    settings: Settings, keys: Mapping[str, str], sandbox_host: str, sandbox_key_var: str
) -> dict[str, Upstream]:
    """Each model provider as the compose stack's gateway container reaches it.

    Live where the containers get the provider's key (`keys`: the variables compose passes
    them, from compose/.env), else the sandbox upstream container (`mpc sandbox serve` at
    `sandbox_host`, on the emulators' fixed ports), whose key the gateway reads from
    `sandbox_key_var`.  `MPC_SOURCE` decides as for the workbook: sandbox always, live
    only with a key (ConfigError otherwise), auto by the key.
    """
    from .sandbox import served_url  # only the URLs' shape (nothing starts here)

    chosen = settings.source if settings.source in ("live", "sandbox") else "auto"
    found: dict[str, Upstream] = {}
    for name, spec in PROVIDERS.items():
        has_key = bool((keys.get(spec.key_var) or "").strip())
        if chosen == "live" and not has_key:
            raise ConfigError(f"source is live but {spec.key_var} is empty in compose/.env")
        if has_key and chosen != "sandbox":
            found[name] = replace(live_upstream(settings, name), key=None)
            continue
        note = f"no {spec.key_var} for the containers: the stack's sandbox upstream"
        found[name] = _sandboxed(
            name, lambda emulator: served_url(emulator, sandbox_host), None,
            "generated", _PRICE_LABELS["generated"], note, key_var=sandbox_key_var,
        )  # fmt: skip
    return found

