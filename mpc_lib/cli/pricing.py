"""`mpc pricing`: job-mix estimates, cheapest models, price history and changes, gateway drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import SOURCES
from ..errors import ConfigError
from ..upstreams import open_upstreams
from ._common import cli_settings, reported_errors, stderr

__all__ = ["pricing_app"]

pricing_app = typer.Typer(
    no_args_is_help=True,
    help="Prices from the registry: estimates, cheapest models, history, gateway drift.",
)

_JSON = typer.Option("--json", help="Print one JSON object instead of the text report.")


def _emit(report: Any, as_json: bool) -> None:
    if not as_json:
        typer.echo(report.summary())
        return
    typer.echo(json.dumps(report.model_dump(mode="json")))


@pricing_app.command()
def estimate(
    mix: Annotated[
        Path | None,
        typer.Argument(
            help="Job mix, YAML or JSON.", show_default="the shipped example (sandbox model ids)"
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(help="Ask FAL's estimate endpoint to agree with the FAL lines."),
    ] = True,
    source: Annotated[
        str | None,
        typer.Option(help="Which FAL to ask: auto, live or sandbox.", show_default="MPC_SOURCE"),
    ] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Price a job mix: one row per line on both bases, a total, and FAL's own estimate.

    Exits 2 on a bad job mix (nothing printed); when FAL's check fails the report is
    printed with the check marked ERROR and the command exits with that error's code.
    """
    from ..pricing import estimate_job_mix

    with reported_errors():
        if source is not None and source not in SOURCES:
            raise ConfigError(f"--source {source!r}: expected one of {', '.join(SOURCES)}")
        settings = cli_settings()
        with open_upstreams(settings, ("fal",), source=source) as upstreams:
            report = estimate_job_mix(settings, mix, upstreams=upstreams if check else None)
    _emit(report, as_json)
    if not report.complete:
        left_out = len(report.missing)
        stderr.print(
            f"[yellow]warning:[/] the total leaves out {left_out} line(s) without a price",
            highlight=False,
        )
    failed = report.check_failed
    if failed is not None:
        stderr.print(f"[bold red]error:[/] FAL's estimate failed: {failed.reason}", highlight=False)
        raise typer.Exit(failed.exit_code or 3)


@pricing_app.command()
def cheapest(
    category: Annotated[
        list[str] | None,
        typer.Option(help="Category (repeatable, or comma-separated).", show_default="every one"),
    ] = None,
    basis: Annotated[
        str | None, typer.Option(help="per_unit or per_token.", show_default="both")
    ] = None,
    top: Annotated[int, typer.Option(help="How many models per unit group.")] = 5,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """The cheapest models per category, comparing like units only."""
    from ..pricing import cheapest_models, load_price_book

    with reported_errors():
        report = cheapest_models(
            load_price_book(cli_settings()), categories=category, basis=basis, top=top
        )
    _emit(report, as_json)


@pricing_app.command()
def history(
    model_id: Annotated[str, typer.Argument(help="A model id, or provider:model_id.")],
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """One model's price and unit over the registry's snapshots."""
    from ..pricing import price_history

    with reported_errors():
        report = price_history(cli_settings(), model_id)
    _emit(report, as_json)


@pricing_app.command()
def changes(
    since: Annotated[
        str | None,
        typer.Option(
            help="A date (YYYY-MM-DD), an ISO time, or a snapshot name or path.",
            show_default="the previous sync",
        ),
    ] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """What changed in price since a date or snapshot: old -> new, %, and when."""
    from ..pricing import price_changes

    with reported_errors():
        report = price_changes(cli_settings(), since)
    _emit(report, as_json)


@pricing_app.command()
def drift(
    tolerance: Annotated[
        float, typer.Option(help="Relative difference allowed (0.05 = 5%).")
    ] = 0.05,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the overrides.", show_default="outputs/gateway/cost_overrides.yaml"
        ),
    ] = None,
    cost_map: Annotated[
        Path | None,
        typer.Option(
            help="Another cost map file.", show_default="the installed litellm's bundled map"
        ),
    ] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Compare prices with LiteLLM's cost map and write the model_info overrides that fix it."""
    from ..pricing import gateway_drift, load_cost_map, load_price_book, write_cost_overrides

    with reported_errors():
        settings = cli_settings()
        report = gateway_drift(
            load_price_book(settings), tolerance=tolerance, cost_map=load_cost_map(cost_map)
        )
        target = out or settings.outputs_dir / "gateway" / "cost_overrides.yaml"
        report = report.with_overrides_path(write_cost_overrides(report, target))
    _emit(report, as_json)


@pricing_app.command()
def spend(
    since: Annotated[
        str | None,
        typer.Option(help="How far back: 7d, 12h, 30m, 2w.", show_default="the whole usage log"),
    ] = None,
    mix: Annotated[
        Path | None,
        typer.Option(help="A job mix (YAML or JSON) to compare the spend with, per model."),
    ] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """What model calls through MPC-API cost, per model, from outputs/usage/ (and, given a
    job mix, its estimate beside each model)."""
    from ..pricing import estimate_job_mix, parse_since, read_usage, spend_by_model

    with reported_errors():
        settings = cli_settings()
        window = parse_since(since) if since is not None else None
        lines, problems = read_usage(settings.outputs_dir, since=window)
        estimate = estimate_job_mix(settings, mix) if mix is not None else None
        report = spend_by_model(lines, estimate=estimate, since=since, problems=problems)
    _emit(report, as_json)
