"""A TCP relay that can be pulled out and put back: a service down and up again, to whoever
calls through it, without stopping the real process behind it."""

from __future__ import annotations

import contextlib
import socket
import threading


class Plug:
    """Relays loopback connections on `port` to `target_port`, byte for byte, both ways.

    `pull_out()` stops listening and cuts every open connection (a caller meets a refused
    connect, or a reset on a kept one, as when the process behind it died); `plug_in()` listens
    on the same port again.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        probe = socket.create_server(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def plug_in(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR on POSIX
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def pull_out(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
            listener.close()
        with self._lock:
            cut, self._open = self._open, set()
        for sock in cut:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                caller, _ = listener.accept()
            except OSError:
                return  # pulled out
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                caller.close()
                continue
            with self._lock:
                self._open |= {caller, upstream}
            for source, sink in ((caller, upstream), (upstream, caller)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
