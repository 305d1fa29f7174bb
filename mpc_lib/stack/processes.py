"""Process plumbing for local mode: detached starts, stack tokens, tree stops, log rotation.

Cross-platform through psutil: a service starts in its own session (its own process
group on Windows), so it outlives the `mpc` that started it and ignores our Ctrl-C.
Its environment carries `MPC_STACK_TOKEN`, which every process it starts inherits;
`find_tokened()` finds them all again, even orphans in other sessions.
`terminate()` is SIGTERM, a grace period, then SIGKILL.  Logs rotate by copy and
truncate, so a service appending to its log never loses a line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from ..errors import StackError

__all__ = [
    "LOG_KEEP",
    "LOG_MAX_BYTES",
    "TOKEN_VAR",
    "check_port_free",
    "child_environment",
    "detached_options",
    "find_tokened",
    "port_holder",
    "port_in_use",
    "rotate_log",
    "run_tool",
    "terminate",
]

LOG_MAX_BYTES = 5_000_000
LOG_KEEP = 3
TOKEN_VAR = "MPC_STACK_TOKEN"


def run_tool(
    argv: Sequence[str],
    what: str,
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion; StackError naming `what` and its last words on failure."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, check=False,
            env=dict(env) if env is not None else None,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise StackError(f"{what}: no result within {timeout_s:g} s") from None
    except OSError as exc:
        raise StackError(f"{what}: {exc}") from exc
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])[-500:]
        raise StackError(f"{what} failed (exit {done.returncode}): {tail}")
    return done


def child_environment(extra: Mapping[str, str], token: str) -> dict[str, str]:
    """Our environment (PATH, keys, MPC_*), the service's additions, and the token."""
    env = dict(os.environ)  # the child runs as we would: it inherits, we only add
    env.update(extra)
    env[TOKEN_VAR] = token
    env["PYTHONUNBUFFERED"] = "1"
    return env


def detached_options() -> dict[str, Any]:
    """Popen options that keep a service running after we exit, and out of our Ctrl-C."""
    if os.name == "posix":
        return {"start_new_session": True}
    flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(
        subprocess, "DETACHED_PROCESS", 0
    )
    return {"creationflags": flags}


def port_in_use(port: int) -> str | None:
    """`port 3000 is in use by pid 12 (python3)` when a loopback bind fails, else None."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            holder = port_holder(port)
            return f"port {port} is in use" + (f" by {holder}" if holder else "")
    return None


def check_port_free(name: str, port: int) -> None:
    """StackError naming `name`, the port and who holds it, unless the port is free."""
    busy = port_in_use(port)
    if busy is not None:
        raise StackError(f"{name}: {busy}; stop it or choose another port")


def port_holder(port: int) -> str | None:
    """`pid 123 (python3)` listening on `port`, when the OS lets us see it."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return "another process"
            try:
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return None


def find_tokened(prefix: str) -> list[psutil.Process]:
    """Every process whose environment carries a stack token starting with `prefix`."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            token = proc.environ().get(TOKEN_VAR, "")
        except (psutil.Error, OSError):
            continue
        if token.startswith(prefix):
            found.append(proc)
    return found


def terminate(procs: Sequence[psutil.Process], grace_s: float) -> bool:
    """SIGTERM all, SIGKILL what is left after `grace_s`; True when something was killed."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    alive = _wait_gone(procs, grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    if alive:
        _wait_gone(alive, 5.0)
    return bool(alive)


def _gone(proc: psutil.Process) -> bool:
    """Exited: no such process, or a zombie waiting for a parent that is not us."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def _wait_gone(procs: Sequence[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait up to `timeout_s` for `procs` to exit; the ones still running."""
    deadline = time.monotonic() + timeout_s
    alive = list(procs)
    while alive:
        # Reaps our own children as they exit; other processes' zombies count as gone.
        _done, alive = psutil.wait_procs(alive, timeout=0)
        alive = [proc for proc in alive if not _gone(proc)]
        if not alive or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return alive


def rotate_log(path: Path, max_bytes: int = LOG_MAX_BYTES, keep: int = LOG_KEEP) -> bool:
    """Past `max_bytes`: shift `.1`..`.keep`, copy the log to `.1`, truncate it in place.

    The service keeps its file open in append mode, so its next line lands at the start
    of the emptied file and nothing it writes is lost.
    """
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except OSError:
        return False
    for index in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{index + 1}"))
    shutil.copyfile(path, path.with_name(f"{path.name}.1"))
    with path.open("r+b") as handle:
        handle.truncate(0)
    return True
