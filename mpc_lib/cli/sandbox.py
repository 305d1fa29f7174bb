"""`mpc sandbox serve`: the provider emulators on fixed loopback ports, until interrupted."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from ._common import reported_errors

__all__ = ["sandbox_app"]

sandbox_app = typer.Typer(no_args_is_help=True, help="Run the FAL/Comet/Apidog emulators.")


# The defaults are the emulators' `serve_port`s (sandbox/runner.py: the stack's gateway config
# reaches a served sandbox there); literal here, so that `mpc` starts without the sandbox.
@sandbox_app.command("serve")
def sandbox_serve(
    host: Annotated[str, typer.Option(help="Bind address (loopback by default).")] = "127.0.0.1",
    fal_port: Annotated[
        int, typer.Option(help="FAL emulator port (0 = any free).", min=0, max=65535)
    ] = 8801,
    comet_port: Annotated[
        int, typer.Option(help="Comet emulator port (0 = any free).", min=0, max=65535)
    ] = 8802,
    openai_port: Annotated[
        int, typer.Option(help="OpenAI-compatible chat upstream port (0 = any free).", min=0,
                          max=65535)
    ] = 8803,
    apidog_port: Annotated[
        int, typer.Option(help="Apidog emulator port (0 = any free).", min=0, max=65535)
    ] = 8804,
    latency_ms: Annotated[
        float, typer.Option(help="Added latency per request.", min=0, max=600_000)
    ] = 0.0,
    snapshot: Annotated[
        Path | None, typer.Option(help="Serve a registry snapshot instead of generated data.")
    ] = None,
) -> None:
    """Serve the FAL, Comet, OpenAI-compatible and Apidog emulators until interrupted;
    any key with the right scheme works."""
    from ..sandbox import Sandbox, SandboxData
    from ..sandbox.apidog import SANDBOX_PROJECT_ID

    with reported_errors():
        data = SandboxData.from_snapshot(snapshot) if snapshot else SandboxData.generate()
        sandbox = Sandbox(
            data=data, latency_ms=latency_ms, accept_any_key=True,
            host=host, fal_port=fal_port, comet_port=comet_port,
            ports={"openai": openai_port, "apidog": apidog_port},
        )  # fmt: skip
        sandbox.start()
    typer.echo(f"FAL emulator:   {sandbox.fal_url}   (Authorization: Key <anything>)")
    typer.echo(f"Comet emulator: {sandbox.comet_url}   (Authorization: Bearer <anything>)")
    typer.echo(f"OpenAI upstream: {sandbox.url('openai')}/v1   (chat with Comet's model ids)")
    apidog = f"{sandbox.url('apidog')}   (Bearer <anything>, project {SANDBOX_PROJECT_ID})"
    typer.echo(f"Apidog emulator: {apidog}")
    typer.echo(f"faults: POST {sandbox.fal_url.rsplit('/v1', 1)[0]}/_sandbox/faults; Ctrl-C stops")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
