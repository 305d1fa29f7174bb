"""The LiteLLM config, generated from the registry: deployments, prices, pass-through routes.

`build_gateway_config(registry, upstreams, selection)` returns the config as a dict;
`write_gateway_config` writes it as YAML.  What it holds:
- one deployment per selected registry model (`selection.py` says which, in which
  LiteLLM mode, and why the others are left out): Comet models as OpenAI-compatible
  deployments (`openai/<id>`, `api_base` = the Comet base + `/v1`), FAL image and video
  models as `fal_ai/<endpoint_id>` with an `api_base` on FAL's run or queue host (live or
  the sandbox's), only where LiteLLM then reaches the model's own endpoint with input FAL
  reads (`litellm_fal.py`; the others are left out, never routed to another model);
  each deployment's `model_info` carries the LiteLLM mode, the registry's price as the
  cost keys LiteLLM's calculator for that mode reads (`pricing.cost_keys`; never an
  invented price, and `mpc_unpriced` saying why when LiteLLM cannot charge it), and
  `mpc_provider`/`mpc_model_id`, which tie it back to the registry;
- one pass-through route per provider (`/fal/...`, `/comet/...`) whose target is the
  provider's API, and one per host its models run on (`/fal-run/...` -> fal.run,
  `/fal-queue/...` -> queue.fal.run), whose `Authorization` the gateway adds itself;
- health checks that cost nothing: no background checks, so only an explicit
  `GET /health` would call the models;
- under `mpc`, what it was made from and what it leaves out: `left_out` (reason ->
  `provider:model_id`), `unpriced` (reason -> deployments LiteLLM cannot charge as the
  provider does) and `unknown_types` (Comet types served as chat, a guess);
- no secret values at all: keys are `os.environ/NAME` references.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from ..aliases import load_aliases
from ..config import Settings
from ..errors import ConfigError, StorageError
from ..pricing.cost_keys import litellm_cost_keys
from ..pricing.prices import price_of
from ..providers import PROVIDERS, ProviderSpec
from ..registry import RegistryStore
from ..storage import atomic_write_bytes
from ..upstreams import Upstream, live_upstream, record_gateway_upstreams
from .litellm_fal import fal_api_base
from .selection import (
    DEFAULT_CATEGORIES,
    DEFAULT_MAX_MODELS,
    PROVIDER_NOT_REACHED,
    GatewaySelection,
    choose_models,
    serving,
)

__all__ = [
    "DEFAULT_CATEGORIES",
    "DEFAULT_MAX_MODELS",
    "GatewaySelection",
    "build_gateway_config",
    "config_deployments",
    "default_config_path",
    "gateway_env",
    "load_gateway_config",
    "summary",
    "summary_lines",
    "with_required",
    "write_gateway_config",
    "write_live_config",
]

log = logging.getLogger("mpc_lib.gateway")


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


def _api_base(provider: str, model_id: str, upstream: Upstream) -> str | None:
    """The deployment's api_base: the provider's (Comet: its /v1), else LiteLLM's default."""
    spec = PROVIDERS[provider]
    if spec.gateway_api_base is not None:
        return spec.gateway_api_base.format(base_url=upstream.chat_url)
    return None


def _deployment(record: Mapping[str, Any], upstream: Upstream) -> dict[str, Any]:
    provider, model_id = str(record["provider"]), str(record["model_id"])
    spec = PROVIDERS[provider]
    served = serving(record)
    mode = str(served.mode)
    params: dict[str, Any] = {
        "model": spec.gateway_model.format(model_id=model_id),
        "api_key": f"os.environ/{upstream.key_var or spec.key_var}",
    }
    if spec.model_hosts:  # FAL: chosen only where LiteLLM reaches the model's own endpoint
        api_base: str | None = fal_api_base(mode, upstream.model_urls)
    else:
        api_base = _api_base(provider, model_id, upstream)
    if api_base is not None:
        params["api_base"] = api_base
    costs = litellm_cost_keys(price_of(record, None), mode)
    info: dict[str, Any] = {
        "mode": mode,
        **costs.keys,
        "mpc_provider": provider,
        "mpc_model_id": model_id,
    }
    if costs.unpriced is not None:
        info["mpc_unpriced"] = costs.unpriced
    if served.guess is not None:
        info["mpc_guess"] = f"{mode}: Comet type {served.guess!r} is not in the type table"
    pricing = record.get("pricing") or {}
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
    choice = choose_models(registry.get("models", []), selection)
    left_out = {reason: list(keys) for reason, keys in choice.left_out.items()}
    unpriced: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    deployments = []
    for record in choice.records:
        provider, model_id = str(record["provider"]), str(record["model_id"])
        if provider not in upstreams:
            left_out.setdefault(PROVIDER_NOT_REACHED, []).append(f"{provider}:{model_id}")
            continue
        if model_id in seen:
            raise ConfigError(
                f"gateway model name {model_id!r} is both {seen[model_id]}:{model_id} and "
                f"{provider}:{model_id}; exclude one (--exclude)"
            )
        seen[model_id] = provider
        deployment = _deployment(record, upstreams[provider])
        reason = deployment["model_info"].get("mpc_unpriced")
        if reason is not None:
            unpriced.setdefault(reason, []).append(f"{provider}:{model_id}")
        deployments.append(deployment)
    passthrough = [
        route
        for name, upstream in upstreams.items()
        for route in _passthrough(PROVIDERS[name], upstream)
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
            "left_out": left_out,
            "unpriced": unpriced,
            "unknown_types": choice.unknown_types,
        },
    }


def _passthrough(spec: ProviderSpec, upstream: Upstream) -> list[dict[str, Any]]:
    """The provider's pass-through routes: its API (`/fal`), and each host its models run on
    (`/fal-run`, `/fal-queue`); the gateway adds the key, so callers never hold it."""
    targets = {spec.passthrough: upstream.base_url}
    targets |= {spec.host_route(host): url for host, url in upstream.model_urls.items()}
    auth = {"Authorization": f"{spec.scheme} os.environ/{upstream.key_var or spec.key_var}"}
    return [
        {"path": path, "target": target, "include_subpath": True, "auth": True, "headers": auth}
        for path, target in targets.items()
    ]


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


_SHOWN_IDS = 5


def summary(config: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """`mpc gateway config --json`: deployments per provider, routes, and what is left out."""
    mpc = config.get("mpc") or {}
    counts = dict.fromkeys((mpc.get("selection") or {}).get("providers", []), 0)
    for entry in config.get("model_list", []):
        provider = entry["model_info"]["mpc_provider"]
        counts[provider] = counts.get(provider, 0) + 1
    routes = [route["path"] for route in config["general_settings"]["pass_through_endpoints"]]
    return {
        "path": str(path),
        "deployments": len(config.get("model_list", [])),
        "counts": counts,
        "passthrough": routes,
        "left_out": dict(mpc.get("left_out") or {}),
        "unpriced": dict(mpc.get("unpriced") or {}),
        "unknown_types": dict(mpc.get("unknown_types") or {}),
    }


def _ids(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:_SHOWN_IDS])
    return shown + (f", ... ({len(keys) - _SHOWN_IDS} more)" if len(keys) > _SHOWN_IDS else "")


def summary_lines(config: Mapping[str, Any], path: Path) -> list[str]:
    """What `mpc gateway config` prints: the deployments, then every model it left out by
    reason, every deployment LiteLLM cannot charge, and a warning per unknown Comet type."""
    found = summary(config, path)
    shown = ", ".join(f"{name}={count}" for name, count in found["counts"].items())
    lines = [f"{path}: {found['deployments']} deployments ({shown}); "
             f"pass-through {', '.join(found['passthrough'])}"]  # fmt: skip
    left_out = found["left_out"]
    if left_out:
        total = sum(len(keys) for keys in left_out.values())
        lines.append(f"left out {total} registry model(s):")
        lines += [f"  {reason} ({len(keys)}): {_ids(keys)}" for reason, keys in left_out.items()]
    unpriced = found["unpriced"]
    if unpriced:
        total = sum(len(keys) for keys in unpriced.values())
        lines.append(f"unpriced: LiteLLM cannot charge {total} deployment(s) as the provider "
                     "does (it logs its own bundled price, or $0):")  # fmt: skip
        lines += [f"  {reason} ({len(keys)}): {_ids(keys)}" for reason, keys in unpriced.items()]
    guessed = {f"{e['model_info']['mpc_provider']}:{e['model_name']}"
               for e in config.get("model_list", []) if "mpc_guess" in e["model_info"]}  # fmt: skip
    for model_type, keys in found["unknown_types"].items():
        what = "no type" if model_type == "(none)" else f"type {model_type!r}"
        deployed = sum(key in guessed for key in keys)
        lines.append(f"warning: {len(keys)} Comet model(s) with {what}, not in the gateway's "
                     f"type table, taken for chat models (a guess; {deployed} deployed): "
                     f"{_ids(keys)}")  # fmt: skip
    return lines


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
    registry = store.require()
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
