"""`mpc sync` and `mpc registry`: the catalog sync and the registry it writes."""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ..config import SOURCES
from ..errors import ConfigError, MpcError
from ..providers import PROVIDERS, check_providers
from ..upstreams import open_upstreams
from ._common import cli_settings, fail, reported_errors, stderr

__all__ = ["registry_app", "sync"]

registry_app = typer.Typer(no_args_is_help=True, help="Look after outputs/registry.")


class _Bars:
    """Rich progress bars on stderr, one pair per provider, fed by sync progress events."""

    def __init__(self, providers: tuple[str, ...]) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=False,
        )
        self.tasks: dict[tuple[str, str], TaskID] = {}
        for name in providers:
            for stage in ("models", "prices"):
                self.tasks[name, stage] = self.progress.add_task(f"{name} {stage}", total=None)
        self.lock = threading.Lock()

    def __call__(self, provider: str, stage: str, done: int, total: int | None) -> None:
        with self.lock:
            if stage == "done":
                for key in ("models", "prices"):
                    task = self.tasks[provider, key]
                    current = self.progress.tasks[task].completed
                    self.progress.update(task, total=max(current, 1), completed=max(current, 1))
                return
            self.progress.update(self.tasks[provider, stage], completed=done, total=total)


def sync(
    source: Annotated[
        str | None,
        typer.Option(
            help="auto (live where a key is set), live, sandbox, or gateway (through the "
            "LiteLLM gateway's pass-through routes).",
            show_default="MPC_SOURCE",
        ),
    ] = None,
    providers: Annotated[
        str, typer.Option(help=f"Comma-separated, from: {', '.join(PROVIDERS)}.")
    ] = ",".join(PROVIDERS),
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial", help="Keep a failed provider's previous records, marked stale."
        ),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Replace a provider's records that came from another kind of source (sandbox "
            "over live, live over sandbox); the registry replaced stays in the snapshots.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="End with one JSON summary line.")
    ] = False,
) -> None:
    """Sync FAL and Comet into outputs/registry and report what changed."""
    from ..catalog import sync_catalog

    started = time.perf_counter()
    sources: dict[str, str] = {}
    try:
        if source is not None and source not in SOURCES:
            raise ConfigError(f"--source {source!r}: expected one of {', '.join(SOURCES)}")
        chosen = check_providers(providers.split(","))  # before any progress bar is drawn
        settings = cli_settings()
        with open_upstreams(settings, chosen, source=source) as upstreams:
            sources = upstreams.sources()
            bars = _Bars(tuple(sources))
            with bars.progress:
                report = sync_catalog(
                    settings, upstreams, providers=chosen, allow_partial=allow_partial,
                    replace=replace, progress=bars,
                )  # fmt: skip
    except (MpcError, ValueError, OSError) as exc:
        if as_json:
            failed = {
                "status": "failed", "sources": sources, "counts": {}, "added": 0, "removed": 0,
                "changed": 0, "stale": [], "duration_s": round(time.perf_counter() - started, 3),
                "registry": None, "error": str(exc), "warnings": {}, "replaced": {},
                "replaced_snapshot": None,
            }  # fmt: skip
            typer.echo(json.dumps(failed))
        raise fail(exc) from None
    typer.echo(report.summary())
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json")))


@registry_app.command("restore")
def registry_restore(
    snapshot: Annotated[
        str | None,
        typer.Argument(
            help="A snapshot file, or its name in outputs/registry/snapshots/.",
            show_default="the newest snapshot that parses",
        ),
    ] = None,
) -> None:
    """Put a registry snapshot back as models.json; the file it replaces goes to
    outputs/registry/replaced/, timestamped (every one is kept)."""
    from ..registry import RegistryStore

    with reported_errors():
        settings = cli_settings()
        store = RegistryStore(
            settings.outputs_dir,
            keep=settings.snapshot_keep,
            lock_timeout_s=settings.lock_timeout_s,
        )
        done = store.restore(snapshot)
    typer.echo(f"restored {store.path} from {done.snapshot}")
    if done.replaced is not None:
        typer.echo(f"the file it replaced is kept as {done.replaced}")
