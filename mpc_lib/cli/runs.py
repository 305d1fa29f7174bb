"""`mpc run`: execute a notebook headless, as papermill's CLI does."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import cli_settings, reported_errors

__all__ = ["run"]


def _parameters(args: list[str]) -> dict[str, str]:
    """`-p NAME VALUE` pairs (papermill's spelling), repeated; anything else is a usage error."""
    params: dict[str, str] = {}
    rest = list(args)
    while rest:
        flag = rest.pop(0)
        if flag not in ("-p", "--parameter") or len(rest) < 2:
            raise ValueError(f"expected -p NAME VALUE, got {' '.join([flag, *rest[:2]])!r}")
        name, value = rest.pop(0), rest.pop(0)
        params[name] = value
    return params


def run(
    ctx: typer.Context,
    notebook: Annotated[str, typer.Argument(help="A notebook in notebooks/, e.g. catalog_sync.")],
) -> None:
    """Execute a notebook with papermill into outputs/runs/<date>/ (plus an HTML copy).

    Pass parameters as -p NAME VALUE (repeatable); values are read as the
    notebook's declared types.
    """
    from ..runs import run_notebook

    with reported_errors():
        params = _parameters(ctx.args)
        result = run_notebook(notebook, params, settings=cli_settings())
    if result.sources:
        used = ", ".join(f"{name}={source}" for name, source in result.sources.items())
        typer.echo(f"sources:  {used}")
    typer.echo(f"notebook: {result.output_path}")
    typer.echo(f"html:     {result.html_path}")
    typer.echo(f"manifest: {result.manifest_path}")
    typer.echo(f"ok in {result.duration_s:.1f}s")
