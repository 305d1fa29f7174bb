"""Test shorthands over the seam: a library call with upstreams opened the way a command does."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from mpc_lib.apidog import PullResult, PushOutcome, pull_spec, push_spec
from mpc_lib.catalog import SyncReport, sync_catalog
from mpc_lib.config import Settings
from mpc_lib.health import HealthReport, run_health
from mpc_lib.pricing import Estimate, estimate_job_mix
from mpc_lib.spec import RecordSet, load_records, records_source
from mpc_lib.upstreams import Upstreams, open_upstreams


def sync(settings: Settings, *, source: str | None = None, **options: Any) -> SyncReport:
    """`mpc sync` in-process: open the upstreams `settings` (and `source`) name, then sync."""
    providers = options.get("providers") or ("fal", "comet")
    known = [name for name in providers if name in ("fal", "comet")]
    with open_upstreams(settings, known, source=source) as upstreams:
        return sync_catalog(settings, upstreams, **options)


def health(settings: Settings, **options: Any) -> HealthReport:
    """`mpc health` in-process: the upstreams `settings` name, then every check."""
    with open_upstreams(settings) as upstreams:
        return run_health(settings, upstreams, **options)


def estimate_mix(settings: Settings, mix: Any = None, **options: Any) -> Estimate:
    """`mpc pricing estimate` in-process: FAL reached as `settings` say, for the check."""
    with open_upstreams(settings, ("fal",)) as upstreams:
        return estimate_job_mix(settings, mix, upstreams=upstreams, **options)


def data_upstreams(settings: Settings, data: str | Path) -> Upstreams:
    """The upstreams a spec command's `--data` opens (close them, or use `with`)."""
    return open_upstreams(settings, **records_source(settings, data)._asdict())


def records(settings: Settings, data: str | Path) -> RecordSet:
    """`--data` records, loaded as `mpc spec conform` loads them."""
    with data_upstreams(settings, data) as upstreams:
        return load_records(upstreams, settings)


def push(
    settings: Settings, spec: str | Path, *, data: str | Path | None = None, **options: Any
) -> PushOutcome:
    """`mpc apidog push` in-process: Apidog as `settings` say; `data` a `--data` choice or None."""
    with contextlib.ExitStack() as stack:
        records = None if data is None else stack.enter_context(data_upstreams(settings, data))
        apidog = stack.enter_context(open_upstreams(settings, ("apidog",)))["apidog"]
        return push_spec(settings, spec, apidog, data=records, **options)


def pull(settings: Settings, out: str | Path | None = None) -> PullResult:
    """`mpc apidog pull` in-process."""
    with open_upstreams(settings, ("apidog",)) as upstreams:
        return pull_spec(settings, upstreams["apidog"], out)
