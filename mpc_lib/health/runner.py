"""`run_health()`: every check at once, each bounded by the same timeout, then the report.

A check that hangs costs its timeout, not the sum: the runner stops waiting for it
when the timeout is up and reports it failed.  Every HTTP call inside a check is
bounded by the same timeout, and retried once (`retries`) after a transient answer
(429, 5xx, a dropped connection), so one blip does not make a check flap.
Each run is appended to `outputs/health/history.jsonl` (rotated past a size limit).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from ..config import Settings
from ..errors import ConfigError, MpcError
from ..http import build_client
from ..providers import PROVIDERS
from ..upstreams import Upstreams
from .checks import CHECKS, DERIVED, Check, CheckContext, Finding, provider_failure, registry_drift
from .models import HealthReport, HealthRow

__all__ = [
    "DEFAULT_HEALTH_RETRIES",
    "HISTORY_MAX_BYTES",
    "MAX_HEALTH_RETRIES",
    "append_history",
    "read_history",
    "run_health",
]

log = logging.getLogger("mpc_lib.health")

HISTORY_MAX_BYTES = 2_000_000
# Retries per HTTP call after a transient answer: one, enough for a blip, within the timeout.
DEFAULT_HEALTH_RETRIES = 1
MAX_HEALTH_RETRIES = 5


def run_health(
    settings: Settings,
    upstreams: Upstreams,
    *,
    timeout_s: float | None = None,
    retries: int = DEFAULT_HEALTH_RETRIES,
    checks: Sequence[Check] = CHECKS,
    history: bool = True,
) -> HealthReport:
    """Run `checks` concurrently, each within `timeout_s`, and return the report.

    Providers are asked where `upstreams` says; one it lists as unreachable (a live
    source without its key) fails its checks with that reason.  Each HTTP call is retried
    up to `retries` times after a transient answer, within the same timeout.
    """
    timeout = timeout_s if timeout_s is not None else settings.health_timeout_s
    if not 0 < timeout < math.inf:
        raise ConfigError(f"--timeout {timeout!r}: must be a finite number more than 0")
    if not 0 <= retries <= MAX_HEALTH_RETRIES:
        raise ConfigError(f"--retries {retries!r}: must be from 0 to {MAX_HEALTH_RETRIES}")
    started, clock = datetime.now(UTC), time.monotonic()
    # The runner's wait is the authority: HTTP calls get a little longer, so a slow answer
    # reads "timed out after N s" every time, and an abandoned thread still ends soon after.
    grace = timeout + min(1.0, timeout)
    bounded = settings.with_(
        timeout_s=min(settings.timeout_s, grace), deadline_s=grace, max_retries=retries
    )
    unreachable = upstreams.unreachable
    rows: dict[str, HealthRow] = {}
    with build_client(bounded) as http:
        context = CheckContext(bounded, upstreams, http)
        runnable = []
        for check in checks:
            provider = _provider(check)
            if provider is not None and provider in unreachable:
                failure = provider_failure(provider, unreachable[provider])
                rows[check.name] = _row(check, failure, None)
            else:
                runnable.append(check)
        rows.update(_run_all(runnable, context, timeout))
        registry = _registry_quietly(context)
    for name, group in DERIVED:
        if name == "registry.drift":
            rows[name] = _row_named(name, group, registry_drift(settings, registry, rows), None)
    ordered = [rows[check.name] for check in checks] + [rows[name] for name, _ in DERIVED]
    report = HealthReport(
        checked_at=started.isoformat(timespec="seconds"),
        duration_s=time.monotonic() - clock,
        rows=ordered,
        sources={name: source for name, source in upstreams.sources().items() if name in PROVIDERS},
    )
    if history:
        append_history(settings.outputs_dir, report)
    return report


def _run_all(checks: list[Check], context: CheckContext, timeout: float) -> dict[str, HealthRow]:
    """Every check in its own thread; the ones still running after `timeout` fail."""
    if not checks:
        return {}
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="health")
    futures: dict[Future[tuple[Finding, float]], Check] = {
        pool.submit(_timed, check, context): check for check in checks
    }
    done, _late = wait(futures, timeout=timeout)
    rows: dict[str, HealthRow] = {}
    for future, check in futures.items():
        if future in done:
            finding, latency = future.result()
            rows[check.name] = _row(check, finding, latency)
        else:
            late = Finding("fail", f"timed out after {timeout:g} s")
            rows[check.name] = _row(check, late, timeout)
    # A late check's thread is not waited for: its HTTP calls end at their own deadline.
    pool.shutdown(wait=False, cancel_futures=True)
    return rows


def _timed(check: Check, context: CheckContext) -> tuple[Finding, float]:
    started = time.monotonic()
    try:
        finding = check.run(context)
    except MpcError as exc:
        provider = _provider(check)
        finding = provider_failure(provider, exc) if provider else Finding("fail", str(exc))
    except Exception as exc:  # a check must report, never take the others down
        log.debug("check %s raised", check.name, exc_info=True)
        finding = Finding("fail", f"{type(exc).__name__}: {exc}")
    return finding, time.monotonic() - started


def _provider(check: Check) -> str | None:
    """The service a check talks to, so its errors read as auth / down / error answer."""
    prefix = check.name.split(".", 1)[0]
    return prefix if prefix in PROVIDERS or prefix in ("gateway", "api") else None


def _row(check: Check, finding: Finding, latency: float | None) -> HealthRow:
    return _row_named(check.name, check.group, finding, latency)


def _row_named(name: str, group: str, finding: Finding, latency: float | None) -> HealthRow:
    return HealthRow(
        check=name, group=group, status=finding.status, reason=finding.reason,
        latency_s=latency, metrics=dict(finding.metrics),
    )  # fmt: skip


def _registry_quietly(context: CheckContext) -> dict[str, Any] | None:
    try:
        return context.registry()
    except MpcError:
        return None


# --- history ---------------------------------------------------------------------------


def _history_path(outputs_dir: Path) -> Path:
    return Path(outputs_dir) / "health" / "history.jsonl"


def append_history(
    outputs_dir: Path, report: HealthReport, *, max_bytes: int = HISTORY_MAX_BYTES
) -> Path:
    """Append one line per run; past `max_bytes` the file moves to `history.jsonl.1` first."""
    path = _history_path(outputs_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = report.model_dump(mode="json")
    line = (json.dumps(data, separators=(",", ":")) + "\n").encode("utf-8")
    with FileLock(path.with_name(".history.lock"), timeout=30):
        if path.exists() and path.stat().st_size + len(line) > max_bytes:
            os.replace(path, path.with_name(path.name + ".1"))
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    return path


def read_history(outputs_dir: Path, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Past reports, oldest first (the rotated file too); a damaged line is skipped."""
    path = _history_path(outputs_dir)
    entries: list[dict[str, Any]] = []
    for part in (path.with_name(path.name + ".1"), path):
        if not part.is_file():
            continue
        for line in part.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
    return entries[-limit:] if limit else entries
