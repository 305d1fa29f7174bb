"""A health report as Prometheus text exposition, for node_exporter's textfile collector."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from ..errors import ConfigError
from ..storage import atomic_write_bytes
from .models import STATUS_ORDER, HealthReport

__all__ = ["check_prometheus_path", "prometheus_text", "write_prometheus"]


def prometheus_text(report: HealthReport) -> bytes:
    """Gauges per check (up, status, latency) plus the registry's age, counts and unpriced share."""
    registry = CollectorRegistry()
    labels = ["check", "group"]
    up = Gauge("mpc_health_up", "1 unless the check failed (a skipped check is up)", labels,
               registry=registry)  # fmt: skip
    status = Gauge("mpc_health_status", "0 ok or skipped, 1 warning, 2 failure", labels,
                   registry=registry)  # fmt: skip
    latency = Gauge("mpc_health_latency_seconds", "How long the check took", labels,
                    registry=registry)  # fmt: skip
    models = Gauge("mpc_registry_models", "Models in the registry", ["provider"], registry=registry)
    unpriced = Gauge("mpc_registry_unpriced_ratio", "Share of models without a price",
                     ["provider"], registry=registry)  # fmt: skip
    age = Gauge("mpc_registry_age_seconds", "Seconds since the last successful sync",
                registry=registry)  # fmt: skip
    last = Gauge("mpc_health_last_run_timestamp_seconds", "When mpc health last ran",
                 registry=registry)  # fmt: skip
    overall = Gauge("mpc_health_overall_status", "Worst row: 0 ok, 1 warning, 2 failure",
                    registry=registry)  # fmt: skip
    for row in report.rows:
        status.labels(row.check, row.group).set(STATUS_ORDER[row.status])
        up.labels(row.check, row.group).set(0 if row.status == "fail" else 1)
        if row.latency_s is not None:
            latency.labels(row.check, row.group).set(row.latency_s)
        for name, value in row.metrics.items():
            if name.startswith("models_"):
                models.labels(name.removeprefix("models_")).set(value)
            elif name.startswith("unpriced_"):
                unpriced.labels(name.removeprefix("unpriced_")).set(value)
            elif name == "registry_age_seconds":
                age.set(value)
    last.set(datetime.fromisoformat(report.checked_at).timestamp())
    overall.set(STATUS_ORDER[report.status])
    return generate_latest(registry)


def check_prometheus_path(path: Path) -> Path:
    """The file to write, in a folder that exists: the collector's folder is made by whoever
    set the collector up, so a missing one is a typo, never created here (ConfigError)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--prom {path}: a folder; give the file to write in it")
    if not path.parent.is_dir():
        raise ConfigError(f"--prom {path}: no folder {path.parent}")
    return path


def write_prometheus(report: HealthReport, path: Path) -> Path:
    """Write the exposition atomically (the collector must never read half a file)."""
    return atomic_write_bytes(check_prometheus_path(path), prometheus_text(report))
