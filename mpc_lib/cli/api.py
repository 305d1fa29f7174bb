"""`mpc api serve`: MPC-API in front of the gateway."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import cli_settings, reported_errors

__all__ = ["api_app"]

api_app = typer.Typer(no_args_is_help=True, help="MPC-API: registry models, aliases, chat.")


@api_app.command("serve")
def api_serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address.", show_default="from MPC_API_URL")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port.", show_default="from MPC_API_URL", min=0, max=65535),
    ] = None,
) -> None:
    """Serve MPC-API until Ctrl-C; without MPC_API_KEY only on loopback."""
    from ..api.server import api_address, serve_api

    with reported_errors():
        settings = cli_settings()
        bind_host, bind_port = api_address(settings, host, port)
        typer.echo(f"MPC-API: http://{bind_host}:{bind_port} -> gateway {settings.gateway_url};"
                   " Ctrl-C stops")  # fmt: skip
        serve_api(settings, host=host, port=port)
