"""Run an ASGI app with uvicorn in a daemon thread on a loopback socket bound up front.

Stopping is prompt: uvicorn polls its exit flag every 0.1 s and then waits 0.1 s more for
connections to close; `_PromptServer` wakes at once when asked to stop, and skips that wait
when no connection is open (with one, uvicorn's own graceful shutdown runs).  Every command
that used the sandbox ends 0.2 s sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from ..http import origin
from ._app import install_drop_filter

__all__ = ["DEFAULT_START_TIMEOUT_S", "SandboxServer"]

DEFAULT_START_TIMEOUT_S = 10.0


class _PromptServer(uvicorn.Server):
    """uvicorn's server, woken at once by `wake()` (from any thread) rather than by its tick."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)  # uvicorn's tick, or woken
            should_exit = await self.on_tick(counter)

    def wake(self) -> None:
        """Ask the server to exit now (thread-safe)."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wake.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.server_state.connections or self.server_state.tasks:
            await super().shutdown(sockets)  # a connection open: uvicorn's graceful way
            return
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


class SandboxServer:
    """One uvicorn server in a thread: `start()` waits until it serves, `stop()` joins."""

    def __init__(
        self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, name: str = "sandbox"
    ) -> None:
        self.app = app
        self.host = host
        self.name = name
        self._requested_port = port
        self._port: int | None = None
        self._socket: socket.socket | None = None
        self._server: _PromptServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (known once started; kept after stop)."""
        if self._port is None:
            raise RuntimeError(f"{self.name} server was never started")
        return self._port

    @property
    def url(self) -> str:
        """`http://host:port`, without a trailing slash."""
        return origin(self.host, self.port)

    @property
    def running(self) -> bool:
        """Whether the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> SandboxServer:
        """Bind, launch the thread and wait until uvicorn has started."""
        if self.running:
            return self
        install_drop_filter()
        # proto=IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted sockets (else ~40 ms stalls).
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self._port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
        server = _PromptServer(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"mpc-{self.name}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.name} server did not start on {self.host}:{self._requested_port}"
                )
            time.sleep(0.002)
        return self

    def request_stop(self) -> None:
        """Ask the server to shut down without waiting (pair with `join`)."""
        if self._server is not None:
            self._server.wake()

    def join(self, timeout_s: float = 10.0) -> None:
        """Wait for the server thread to finish, then release the socket."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout_s)
        self._thread = None
        self._server = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def stop(self) -> None:
        """Graceful shutdown: finish in-flight requests, then join the thread."""
        self.request_stop()
        self.join()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"SandboxServer({self.name!r}, {where})"
