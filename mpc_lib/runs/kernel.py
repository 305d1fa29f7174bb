"""The Jupyter kernel of a run: it must exist, and it sees the caller's settings, not ours."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ConfigError
from ..providers import PROVIDERS

__all__ = ["check_kernel", "kernel_env", "kernel_manager_class"]


def check_kernel(kernel_name: str) -> None:
    """Raise ConfigError naming the installed kernels when `kernel_name` is not one."""
    from jupyter_client.kernelspec import KernelSpecManager  # optional: the notebooks extra

    specs = KernelSpecManager().find_kernel_specs()
    if kernel_name not in specs:
        known = ", ".join(sorted(specs)) or "(none)"
        raise ConfigError(f"no Jupyter kernel named {kernel_name!r}; available: {known}")


def kernel_env(settings: Settings) -> dict[str, str]:
    """The kernel's environment: ours, overlaid with the caller's settings (keys blank if unset)."""
    env = dict(os.environ)
    env.update(settings.public_env())  # absolute paths, MPC_HOME included
    if settings.sandbox_snapshot is None:
        env["MPC_SANDBOX_SNAPSHOT"] = ""  # blank beats one in the kernel's .env
    for name, spec in PROVIDERS.items():
        key = settings.key_for(name)
        for var in spec.key_vars:
            env[var] = ""  # blank beats a key in the kernel's .env: it mirrors the caller
        if key is not None:
            env[spec.key_var] = key.reveal()
    # The other secrets (gateway and MPC-API keys, Apidog token), blank when the caller has none.
    env.update(settings.secret_env())
    return env


def kernel_manager_class(
    env: dict[str, str], cwd: Path, on_start: Callable[[Any], None] | None = None
) -> type:
    """An AsyncKernelManager that starts its kernel with `env` in `cwd` (nothing process-global).

    CurveZMQ transport encryption is on whenever pyzmq and the kernelspec support it.
    `on_start(manager)` is called once the kernel process exists (the run's deadline
    watchdog uses it to find the process group to stop).
    """
    # optional: the notebooks extra, loaded only when a run starts a kernel
    import zmq
    from jupyter_client import AsyncKernelManager
    from traitlets import default

    class _RunKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _encrypt_when_possible(self) -> str:
            return "auto" if zmq.has("curve") else "disabled"

        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw["env"] = {**env, **kw.get("env", {})}
            kw.setdefault("cwd", str(cwd))
            await super().start_kernel(**kw)
            if on_start is not None:
                on_start(self)

    return _RunKernelManager
