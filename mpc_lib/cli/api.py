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
    """Serve MPC-API until Ctrl-C; without MPC_API_KEY only on loopback.

    Exits 2 on a bad setting or a missing key, 5 without a registry, and 1 when the port
    is in use; the banner prints only once every check passed and the port is taken.
    """
    from ..api.server import serve_api

    with reported_errors():
        settings = cli_settings()

        def banner(bind_host: str, bind_port: int) -> None:
            typer.echo(f"MPC-API: http://{bind_host}:{bind_port} -> gateway"
                       f" {settings.gateway_url}; Ctrl-C stops")  # fmt: skip

        serve_api(settings, host=host, port=port, on_listening=banner)
