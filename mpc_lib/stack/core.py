"""The core profile as local processes: the one place that says how local mode runs it.

- `gateway`: `mpc gateway serve` on MPC_GATEWAY_URL's host and port.  It writes the
  LiteLLM config from the registry (syncing first when there is none) and starts
  LiteLLM; for providers without a key it serves the sandbox's emulators, the
  OpenAI-compatible chat upstream among them, inside the same supervised process tree.
- `mpc-api`: `mpc api serve` on MPC_API_URL's host and port, started as soon as the
  registry and the gateway config it reads exist (not after LiteLLM's 8-11 s start:
  its deep `/health` answers 503 until the gateway does, and recovers by itself).

Both are the workbook's own CLI (`python -m mpc_lib.cli`), with the caller's settings.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..config import Settings
from ..extras import install_hint
from ..providers import PROVIDERS
from .local import LocalStack, ServiceSpec
from .model import StackPaths

__all__ = ["core_services", "local_stack"]


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def _cli(settings: Settings) -> list[str]:
    """`python -m mpc_lib.cli [--env-file F]`: the workbook's CLI with the caller's env file."""
    argv = [sys.executable, "-m", "mpc_lib.cli"]
    if settings.env_file is not None:
        argv += ["--env-file", str(settings.env_file)]
    return argv


def core_services(settings: Settings) -> list[ServiceSpec]:
    """The core profile's services, in start order."""
    env = {"MPC_OUTPUTS_DIR": str(settings.outputs_dir)}
    if settings.home is not None:
        env["MPC_HOME"] = str(settings.home)
    cwd = Path(settings.home) if settings.home is not None else None
    gw_url, mpc_url = settings.gateway_url, settings.api_url
    gw_host, gw_port = _host_port(gw_url, 4000)
    api_host, api_port = _host_port(mpc_url, 3000)
    outputs = Path(settings.outputs_dir)
    return [
        ServiceSpec(
            name="gateway",
            title="LiteLLM gateway",
            argv=(*_cli(settings), "gateway", "serve", "--host", gw_host, "--port", str(gw_port)),
            health_url=f"{gw_url}/health/liveliness",
            url=gw_url,
            port=gw_port,
            env=env,
            cwd=cwd,
            requires=(("litellm", install_hint("gateway")),),
        ),
        ServiceSpec(
            name="mpc-api",
            title="MPC-API",
            argv=(*_cli(settings), "api", "serve", "--host", api_host, "--port", str(api_port)),
            health_url=f"{mpc_url}/health/liveliness",
            url=f"{mpc_url}/docs",
            port=api_port,
            # MPC-API holds no provider key: the gateway adds them (a blank value also hides
            # the workbook .env's)
            env={**env, **{var: "" for spec in PROVIDERS.values() for var in spec.key_vars}},
            cwd=cwd,
            needs_files=(
                outputs / "registry" / "models.json",
                outputs / "gateway" / "litellm.yaml",
            ),
        ),
    ]


def local_stack(settings: Settings, *, grace_s: float = 10.0) -> LocalStack:
    """The core, supervised under `outputs/stack/local/`."""
    paths = StackPaths.for_settings(settings)
    return LocalStack(
        paths.state_dir / "local", core_services(settings), settings=settings, grace_s=grace_s
    )
