"""`mpc gateway config` and `mpc gateway serve`: LiteLLM, configured from the registry."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from ..gateway.config import (
    DEFAULT_CATEGORIES,
    DEFAULT_MAX_MODELS,
    GatewaySelection,
    summary,
    summary_lines,
)
from ..providers import PROVIDERS
from ..upstreams import open_upstreams
from ._common import cli_settings, reported_errors

__all__ = ["gateway_app"]

gateway_app = typer.Typer(no_args_is_help=True, help="The LiteLLM gateway for FAL and Comet.")

_ALL_PROVIDERS = ",".join(PROVIDERS)
_DEFAULT_CATEGORIES = ",".join(DEFAULT_CATEGORIES)
_Providers = Annotated[str, typer.Option(help=f"Comma-separated, from: {_ALL_PROVIDERS}.")]
_Categories = Annotated[
    str, typer.Option(help="Comma-separated categories or Comet model types ('' = any).")
]
_Include = Annotated[
    list[str] | None, typer.Option("--include", help="Model id pattern to keep (repeatable).")
]
_Exclude = Annotated[
    list[str] | None, typer.Option("--exclude", help="Model id pattern to drop (repeatable).")
]
_MaxModels = Annotated[
    int, typer.Option(help="At most this many per provider, in id order (0 = no cap).", min=0)
]
_Host = Annotated[str | None, typer.Option(help="Bind address.", show_default="MPC_GATEWAY_URL")]
_Port = Annotated[
    int | None, typer.Option(help="Port.", show_default="MPC_GATEWAY_URL", min=0, max=65535)
]


def _selection(
    providers: str, categories: str, include: list[str] | None, exclude: list[str] | None,
    max_models: int,
) -> GatewaySelection:  # fmt: skip
    return GatewaySelection(
        providers=tuple(p.strip() for p in providers.split(",") if p.strip()),
        categories=tuple(c.strip() for c in categories.split(",") if c.strip()),
        include=tuple(include or ()),
        exclude=tuple(exclude or ()),
        max_models=max_models or None,
    )


@gateway_app.command("config")
def gateway_config(
    providers: _Providers = _ALL_PROVIDERS,
    categories: _Categories = _DEFAULT_CATEGORIES,
    include: _Include = None,
    exclude: _Exclude = None,
    max_models: _MaxModels = DEFAULT_MAX_MODELS,
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write.", show_default="outputs/gateway/litellm.yaml"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="End with one JSON summary line.")
    ] = False,
) -> None:
    """Write the LiteLLM config for the registry's models, aimed at the live provider APIs."""
    from ..gateway.config import write_live_config

    with reported_errors():
        settings = cli_settings()
        chosen = _selection(providers, categories, include, exclude, max_models)
        path, config = write_live_config(settings, chosen, out)
    for line in summary_lines(config, path):
        typer.echo(line, err=line.startswith("warning:"))
    if as_json:
        typer.echo(json.dumps(summary(config, path)))


@gateway_app.command("serve")
def gateway_serve(
    host: _Host = None,
    port: _Port = None,
    providers: _Providers = _ALL_PROVIDERS,
    categories: _Categories = _DEFAULT_CATEGORIES,
    include: _Include = None,
    exclude: _Exclude = None,
    max_models: _MaxModels = DEFAULT_MAX_MODELS,
) -> None:
    """Start LiteLLM with a generated config (the sandbox for providers without a key)."""
    from ..gateway import run_gateway

    stop = threading.Event()
    # Both set explicitly: a shell that starts us in the background ignores SIGINT by default.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with reported_errors():
        settings = cli_settings()
        chosen = _selection(providers, categories, include, exclude, max_models)
        # The gateway reaches providers itself: MPC_SOURCE=gateway means auto for it.
        source = "auto" if settings.source == "gateway" else None
        with (
            open_upstreams(settings, source=source) as upstreams,
            run_gateway(settings, upstreams, selection=chosen, host=host, port=port) as run,
        ):
            if run.synced:
                typer.echo("no registry yet: synced the catalog first")
            if run.key_written_to is not None:
                typer.echo(f"generated LITELLM_MASTER_KEY and stored it in {run.key_written_to}")
            for name, upstream in run.upstreams.items():
                note = "" if upstream.source == "live" else f" (no {PROVIDERS[name].key_var} set)"
                typer.echo(f"{name}: {upstream.source}{note}: {upstream.base_url}")
            typer.echo(f"config: {run.config_path} ({run.models} deployments)")
            for line in summary_lines(run.config, run.config_path)[1:]:
                typer.echo(line, err=line.startswith("warning:"))
            typer.echo(f"log: {run.log_path}")
            typer.echo(f"gateway: {run.url} (Authorization: Bearer $LITELLM_MASTER_KEY); "
                       "Ctrl-C stops")  # fmt: skip
            while not stop.wait(0.5):
                if not run.process.running:
                    raise OSError(f"litellm exited unexpectedly; see {run.log_path}")
    typer.echo("gateway stopped")
