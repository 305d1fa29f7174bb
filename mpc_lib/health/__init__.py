"""`mpc health`: is the hub up, reachable with our keys, and is its registry sane?

Every check is a read that costs nothing: provider listings and pricing reads, the
registry on disk, and (where configured) the gateway's liveliness, readiness and
model list — never a completion, never LiteLLM's token-spending `/health`.
`run_health()` runs them concurrently, each within one timeout, and returns a
`HealthReport` that renders as a table, JSON, or Prometheus text.
"""

from .checks import CHECKS, Check, CheckContext, Finding
from .exposition import check_prometheus_path, prometheus_text, write_prometheus
from .models import HealthReport, HealthRow, Status
from .runner import (
    DEFAULT_HEALTH_RETRIES,
    MAX_HEALTH_RETRIES,
    append_history,
    read_history,
    run_health,
)

__all__ = [
    "CHECKS",
    "DEFAULT_HEALTH_RETRIES",
    "MAX_HEALTH_RETRIES",
    "Check",
    "CheckContext",
    "Finding",
    "HealthReport",
    "HealthRow",
    "Status",
    "append_history",
    "check_prometheus_path",
    "prometheus_text",
    "read_history",
    "run_health",
    "write_prometheus",
]
