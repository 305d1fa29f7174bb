"""Notebook views of the gateway: its config, its models against the registry, a latency run.

pandas and plotly are imported inside the functions, so `import mpc_lib` stays light.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..extras import require
from ..views import new_figure
from .client import GatewayClient, Message

__all__ = [
    "LatencyRun",
    "comparison_summary",
    "config_summary",
    "gateway_vs_registry",
    "latency_figure",
    "measure_latency",
]


def config_summary(config: Mapping[str, Any]) -> Any:
    """One row per provider and mode: deployments, and how many carry a LiteLLM price."""
    pd = require("pandas", "notebook views")
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in config.get("model_list", []):
        info = entry.get("model_info") or {}
        key = (str(info.get("mpc_provider", "?")), str(info.get("mode", "?")))
        row = rows.setdefault(key, {"provider": key[0], "mode": key[1], "deployments": 0,
                                    "priced": 0})  # fmt: skip
        row["deployments"] += 1
        row["priced"] += any("cost" in name for name in info)
    return pd.DataFrame(sorted(rows.values(), key=lambda r: (r["provider"], r["mode"])))


def gateway_vs_registry(
    model_info: Sequence[Mapping[str, Any]], registry: Mapping[str, Any]
) -> Any:
    """Each gateway model with the registry record behind it, and whether the prices agree."""
    pd = require("pandas", "notebook views")
    records = {f"{m['provider']}:{m['model_id']}": m for m in registry.get("models", [])}
    rows = []
    for item in model_info:
        info = item.get("model_info") or {}
        key = f"{info.get('mpc_provider')}:{info.get('mpc_model_id')}"
        record = records.get(key)
        pricing = (record or {}).get("pricing") or {}
        expected = pricing.get("unit_price")
        cost = info.get("input_cost_per_token")
        agree = None
        if pricing.get("unit") == "1M tokens" and expected is not None and cost is not None:
            agree = abs(cost * 1e6 - expected) < 1e-9 * max(1.0, expected)
        rows.append({"gateway_model": item.get("model_name"), "registry_key": key,
                     "in_registry": record is not None, "mode": info.get("mode"),
                     "registry_price": expected, "unit": pricing.get("unit"),
                     "gateway_input_cost_per_1M": None if cost is None else cost * 1e6,
                     "prices_agree": agree})  # fmt: skip
    return pd.DataFrame(rows)


def comparison_summary(compared: Any) -> str:
    """One line: how many gateway models there are, how many the registry has, prices agreeing."""
    in_registry = int(compared["in_registry"].sum()) if len(compared) else 0
    agree = int((compared["prices_agree"] == True).sum()) if len(compared) else 0  # noqa: E712
    compared_prices = int(compared["prices_agree"].notna().sum()) if len(compared) else 0
    return (
        f"gateway models: {len(compared)} | in the registry: {in_registry} | "
        f"prices agree: {agree} of {compared_prices} compared"
    )


@dataclass(frozen=True)
class LatencyRun:
    """Per-request latencies (ms) of one model at a fixed concurrency, and the throughput."""

    model: str
    stream: bool
    latencies_ms: list[float]
    wall_s: float
    concurrency: int

    @property
    def median_ms(self) -> float:
        """The median latency."""
        return statistics.median(self.latencies_ms)

    @property
    def p95_ms(self) -> float:
        """The 95th percentile latency."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def throughput_rps(self) -> float:
        """Requests per second over the whole run."""
        return len(self.latencies_ms) / self.wall_s if self.wall_s > 0 else 0.0


def measure_latency(
    client: GatewayClient,
    model: str,
    messages: Sequence[Message],
    *,
    requests: int = 20,
    concurrency: int = 4,
    stream: bool = False,
) -> LatencyRun:
    """Send `requests` chats at `concurrency` through `client`; time each one (to its end)."""

    def one(_: int) -> float:
        started = time.perf_counter()
        if stream:
            for _chunk in client.chat_stream(model, messages):
                pass
        else:
            client.chat(model, messages)
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(one, range(requests)))
    return LatencyRun(model, stream, latencies, time.perf_counter() - started, concurrency)


def latency_figure(runs: Sequence[LatencyRun]) -> Any:
    """A box plot of each run's latencies (ms)."""
    go = require("plotly.graph_objects", "notebook views")
    figure = new_figure()
    for run in runs:
        label = f"{run.model} ({'stream' if run.stream else 'plain'})"
        figure.add_trace(go.Box(y=run.latencies_ms, name=label, boxpoints="all"))
    figure.update_layout(
        title="Chat latency through the gateway (ms)", yaxis_title="ms", showlegend=False,
    )  # fmt: skip
    return figure
