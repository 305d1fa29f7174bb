"""The LiteLLM config, generated from the registry: deployments, prices, pass-through routes.

`build_gateway_config(registry, upstreams, selection)` returns the config as a dict;
`write_gateway_config` writes it as YAML.  What it holds:
- one deployment per selected registry model: Comet models as OpenAI-compatible
  deployments (`openai/<id>`, `api_base` = the Comet base + `/v1`), FAL image and
  video models as `fal_ai/<endpoint_id>`; each deployment's `model_info` carries the
  LiteLLM mode, the registry's price converted to LiteLLM's cost keys where the unit
  maps onto one (never an invented price), and `mpc_provider`/`mpc_model_id`, which
  tie it back to the registry;
- one pass-through route per provider (`/fal/...`, `/comet/...`) whose target is the
  provider's API and whose `Authorization` the gateway adds itself;
- health checks that cost nothing: no background checks, so only an explicit
  `GET /health` would call the models;
- no secret values at all: keys are `os.environ/NAME` references.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ..aliases import load_aliases
from ..config import Settings
from ..errors import ConfigError, StorageError
from ..providers import PROVIDERS, provider_spec
from ..registry import RegistryStore
from ..storage import atomic_write_bytes
from ..upstreams import Upstream, live_upstream, record_gateway_upstreams

__all__ = [
    "DEFAULT_CATEGORIES",
    "DEFAULT_MAX_MODELS",
    "GatewaySelection",
    "build_gateway_config",
    "config_deployments",
    "default_config_path",
    "gateway_env",
    "gateway_mode",
    "load_gateway_config",
    "with_required",
    "write_gateway_config",
    "write_live_config",
]

log = logging.getLogger("mpc_lib.gateway")

# The default selection: chat models and text-to-image models, at most 20 per provider
# (in model-id order), plus every model an MPC-API alias names.
DEFAULT_CATEGORIES: tuple[str, ...] = ("llm", "text-to-image")
DEFAULT_MAX_MODELS = 20

# Registry category (FAL's vocabulary) or Comet model type -> LiteLLM mode, per provider:
# only what LiteLLM's provider for it can serve.
_MODES: dict[str, dict[str, str]] = {
    "fal": {
        "text-to-image": "image_generation",
        "image-to-image": "image_edit",
        "text-to-video": "video_generation",
        "image-to-video": "video_generation",
    },
    "comet": {"llm": "chat", "text": "chat", "embedding": "embedding", "image": "image_generation"},
}
_TOKEN_UNITS = {"1M tokens": 1e6, "1K tokens": 1e3, "token": 1.0}
# FAL units -> (LiteLLM cost key, divisor): a price per megapixel is 1e6 pixels' worth.
_UNIT_COSTS = {
    "image": ("output_cost_per_image", 1.0),
    "images": ("output_cost_per_image", 1.0),
    "megapixels": ("output_cost_per_pixel", 1e6),
    "second": ("output_cost_per_second", 1.0),
    "seconds": ("output_cost_per_second", 1.0),
    "video_second": ("output_cost_per_second", 1.0),
    "minute": ("output_cost_per_second", 60.0),
}


@dataclass(frozen=True)
class GatewaySelection:
    """Which registry models become deployments.

    A model is chosen when its provider is in `providers`, its category (or Comet
    model type) in `categories` (empty: any LiteLLM can serve), its id matches an
    `include` pattern (empty: any) and no `exclude` pattern; then at most
    `max_models` per provider in id order (None: no cap).  Models named in
    `required` (`provider:model_id`, e.g. alias targets) are always added.
    """

    providers: tuple[str, ...] = tuple(PROVIDERS)
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_models: int | None = DEFAULT_MAX_MODELS
    required: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in self.providers:
            provider_spec(name)
        if self.max_models is not None and self.max_models < 0:
            raise ValueError(f"max_models must be >= 0 or None, got {self.max_models}")


def default_config_path(settings: Settings) -> Path:
    """`<outputs>/gateway/litellm.yaml`."""
    return Path(settings.outputs_dir) / "gateway" / "litellm.yaml"


def gateway_env(upstreams: Mapping[str, Upstream], master_key: str) -> dict[str, str]:
    """The variables the gateway process needs: the master key and each provider's key."""
    env = {"LITELLM_MASTER_KEY": master_key, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    for name, upstream in upstreams.items():
        if upstream.key is not None:
            env[PROVIDERS[name].key_var] = upstream.key.reveal()
    return env


def gateway_mode(record: Mapping[str, Any]) -> str | None:
    """The LiteLLM mode a registry record would be served in, or None if LiteLLM cannot."""
    modes = _MODES.get(str(record.get("provider")), {})
    category = record.get("category")
    if category in modes:
        return modes[category]
    model_type = (record.get("meta") or {}).get("model_type")
    return modes.get(model_type) if isinstance(model_type, str) else None


def _matches(model_id: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(model_id, pattern) for pattern in patterns)


def _kind(record: Mapping[str, Any]) -> set[str]:
    kinds = {str(record.get("category") or "")}
    model_type = (record.get("meta") or {}).get("model_type")
    if isinstance(model_type, str):
        kinds.add(model_type)
    return kinds - {""}


def select_models(
    models: Iterable[Mapping[str, Any]], selection: GatewaySelection
) -> list[Mapping[str, Any]]:
    """The registry records the selection picks, in (provider, model id) order."""
    by_key = {f"{m['provider']}:{m['model_id']}": m for m in models}
    chosen: dict[str, Mapping[str, Any]] = {}
    counts: dict[str, int] = {}
    for key in sorted(by_key, key=lambda k: (by_key[k]["provider"], by_key[k]["model_id"])):
        record = by_key[key]
        provider, model_id = str(record["provider"]), str(record["model_id"])
        if provider not in selection.providers or gateway_mode(record) is None:
            continue
        if selection.categories and not (_kind(record) & set(selection.categories)):
            continue
        if selection.include and not _matches(model_id, selection.include):
            continue
        if selection.exclude and _matches(model_id, selection.exclude):
            continue
        if selection.max_models is not None and counts.get(provider, 0) >= selection.max_models:
            continue
        counts[provider] = counts.get(provider, 0) + 1
        chosen[key] = record
    for key in selection.required:
        if key in by_key and key not in chosen:
            if gateway_mode(by_key[key]) is None:
                log.warning("gateway: %s is required but LiteLLM cannot serve it; left out", key)
                continue
            chosen[key] = by_key[key]
    return sorted(chosen.values(), key=lambda m: (m["provider"], m["model_id"]))


def _costs(record: Mapping[str, Any]) -> dict[str, float]:
    """The registry price as LiteLLM cost keys, where its unit maps onto one; else nothing."""
    pricing = record.get("pricing") or {}
    unit = pricing.get("unit")
    price, output = pricing.get("unit_price"), pricing.get("output_unit_price")
    if pricing.get("currency", "USD") != "USD" or unit is None:
        return {}
    costs: dict[str, float] = {}
    if unit in _TOKEN_UNITS:
        per = _TOKEN_UNITS[unit]
        if price is not None:
            costs["input_cost_per_token"] = _per(price, per)
        if output is not None:
            costs["output_cost_per_token"] = _per(output, per)
    elif unit in _UNIT_COSTS and price is not None:
        name, per = _UNIT_COSTS[unit]
        costs[name] = _per(price, per)
    return costs


def _per(price: float, count: float) -> float:
    """`price / count` without binary noise (2.11 / 1e6 is 2.11e-06, not 2.1099999999999997e-06)."""
    return float(f"{price / count:.12g}")


def _deployment(record: Mapping[str, Any], upstream: Upstream) -> dict[str, Any]:
    spec = PROVIDERS[str(record["provider"])]
    model_id = str(record["model_id"])
    params: dict[str, Any] = {
        "model": spec.gateway_model.format(model_id=model_id),
        "api_key": f"os.environ/{spec.key_var}",
    }
    if spec.gateway_api_base is not None:
        params["api_base"] = spec.gateway_api_base.format(base_url=upstream.chat_url)
    pricing = record.get("pricing") or {}
    info: dict[str, Any] = {
        "mode": gateway_mode(record),
        **_costs(record),
        "mpc_provider": record["provider"],
        "mpc_model_id": model_id,
    }
    if pricing:
        # The provider's own price, kept as sent, whether or not LiteLLM has a key for its unit.
        info["mpc_price"] = {
            k: pricing.get(k) for k in ("unit_price", "output_unit_price", "unit", "currency")
        }
    return {"model_name": model_id, "litellm_params": params, "model_info": info}


def build_gateway_config(
    registry: Mapping[str, Any],
    upstreams: Mapping[str, Upstream],
    selection: GatewaySelection | None = None,
) -> dict[str, Any]:
    """The LiteLLM config for the selected registry models (see the module docstring).

    Two chosen models with the same id (a deployment name) raise ConfigError naming both.
    """
    selection = selection or GatewaySelection()
    records = select_models(registry.get("models", []), selection)
    seen: dict[str, str] = {}
    deployments = []
    for record in records:
        provider, model_id = str(record["provider"]), str(record["model_id"])
        if provider not in upstreams:
            continue
        if model_id in seen:
            raise ConfigError(
                f"gateway model name {model_id!r} is both {seen[model_id]}:{model_id} and "
                f"{provider}:{model_id}; exclude one (--exclude)"
            )
        seen[model_id] = provider
        deployments.append(_deployment(record, upstreams[provider]))
    passthrough = [
        {
            "path": PROVIDERS[name].passthrough,
            "target": upstream.base_url,
            "include_subpath": True,
            "auth": True,
            "headers": {
                "Authorization": f"{PROVIDERS[name].scheme} os.environ/{PROVIDERS[name].key_var}"
            },
        }
        for name, upstream in upstreams.items()
    ]
    return {
        "model_list": deployments,
        "litellm_settings": {"drop_params": True, "num_retries": 0, "request_timeout": 600},
        "general_settings": {
            "master_key": "os.environ/LITELLM_MASTER_KEY",
            # /health would call every model and spend tokens; nothing calls it on a timer.
            "background_health_checks": False,
            "pass_through_endpoints": passthrough,
        },
        "mpc": {
            "generated_from": registry.get("generated_at"),
            "upstreams": {name: u.source for name, u in upstreams.items()},
            "selection": {
                "providers": list(selection.providers),
                "categories": list(selection.categories),
                "include": list(selection.include),
                "exclude": list(selection.exclude),
                "max_models": selection.max_models,
                "required": list(selection.required),
            },
        },
    }


_HEADER = (
    "# Generated by `mpc gateway config` from the registry; edits are overwritten.\n"
    "# Keys are os.environ/NAME references: this file holds no secret.\n"
)


def write_gateway_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Write the config as YAML, atomically."""
    text = _HEADER + yaml.safe_dump(dict(config), sort_keys=False, width=100)
    try:
        return atomic_write_bytes(Path(path), text.encode("utf-8"))
    except OSError as exc:
        raise StorageError(f"{path}: cannot write the gateway config ({exc})") from exc


def load_gateway_config(path: Path) -> dict[str, Any]:
    """A gateway config file; a missing or malformed one raises ConfigError naming it."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no gateway config (run `mpc gateway config`)") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: unreadable gateway config ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("model_list"), list):
        raise ConfigError(f"{path}: not a LiteLLM config (no model_list)")
    return data


def config_deployments(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Deployment name -> its model_info (with `mode`, costs and the registry link)."""
    found: dict[str, dict[str, Any]] = {}
    for entry in config.get("model_list", []):
        if isinstance(entry, dict) and isinstance(entry.get("model_name"), str):
            found[entry["model_name"]] = dict(entry.get("model_info") or {})
    return found


def write_live_config(
    settings: Settings, selection: GatewaySelection, out: Path | None = None
) -> tuple[Path, dict[str, Any]]:
    """`mpc gateway config`: the registry's config aimed at the live provider APIs, written.

    Every model an MPC-API alias names is added to the selection.
    """
    store = RegistryStore(settings.outputs_dir)
    registry = store.load()
    if registry is None:
        raise ConfigError(f"{store.path}: no registry yet (run `mpc sync`)")
    required = tuple(load_aliases().targets(registry["models"]).values())
    chosen = with_required(selection, required)
    upstreams = {name: live_upstream(settings, name) for name in selection.providers}
    config = build_gateway_config(registry, upstreams, chosen)
    path = write_gateway_config(out or default_config_path(settings), config)
    # The gateway at MPC_GATEWAY_URL serving this config reaches the live APIs.
    record_gateway_upstreams(settings, settings.gateway_url, upstreams)
    return path, config


def with_required(selection: GatewaySelection, required: Sequence[str]) -> GatewaySelection:
    """The selection with `required` models added (kept once, in order)."""
    return replace(selection, required=tuple(dict.fromkeys((*selection.required, *required))))
