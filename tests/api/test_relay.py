"""MPC-API's chat relay: its front door, the documented route, and hang-ups on plain calls.

Chat POSTs skip FastAPI's routing (the relay's hot path); these tests pin that the
documented route leads to the same relay, and that a caller who leaves while the gateway
is still working on a plain (unstreamed) answer closes the gateway call too.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from mpc_lib.api import create_app
from mpc_lib.sandbox.server import SandboxServer

HELLO = [{"role": "user", "content": "hello from the relay tests"}]


def test_the_documented_route_leads_to_the_same_relay(mpc_api: Any) -> None:
    """With the front door off, FastAPI's own route answers chats exactly alike."""
    app = create_app(mpc_api.settings)
    app.chat = None  # every request through FastAPI's routing, as before the front door
    with SandboxServer(app, name="mpc-api-routed") as server:
        url = f"{server.url}/v1/chat/completions"
        headers = mpc_api.headers(**{"x-request-id": "routed-1"})
        plain = httpx.post(url, json={"model": "gpt-4o", "messages": HELLO}, headers=headers)
        with httpx.stream("POST", url, headers=mpc_api.headers(),
                          json={"model": "text_general_draft", "messages": HELLO,
                                "stream": True}) as streamed:  # fmt: skip
            lines = [line for line in streamed.iter_lines() if line.startswith("data: ")]
        unknown = httpx.post(url, json={"model": "nope", "messages": HELLO}, headers=headers)
    assert plain.status_code == 200, plain.text
    assert plain.json()["model"] == "gpt-4o"
    assert plain.headers["x-request-id"] == plain.headers["x-litellm-call-id"] == "routed-1"
    assert streamed.status_code == 200 and lines[-1] == "data: [DONE]"
    assert json.loads(lines[0][6:])["object"] == "chat.completion.chunk"
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        "message": "Unknown model alias: nope", "type": "invalid_request_error",
        "code": "unknown_model", "request_id": "routed-1",
    }  # fmt: skip


class _SilentGateway:
    """Takes one request and never answers; notes when the caller closes the connection."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.request = b""
        self.closed_after: float | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        connection.settimeout(20)
        with connection:
            while b"\r\n\r\n" not in self.request:
                self.request += connection.recv(65536)
            started = time.monotonic()
            try:
                while connection.recv(65536):
                    pass
            except OSError:
                pass
            self.closed_after = time.monotonic() - started

    def close(self) -> None:
        self.listener.close()
        self._thread.join(20)


def test_a_caller_who_leaves_a_plain_call_closes_the_gateway_call(
    mpc_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mpc_lib.api")
    gateway = _SilentGateway()
    settings = mpc_api.settings.with_(gateway_url=gateway.url)
    try:
        with SandboxServer(create_app(settings), name="mpc-api-silent") as server:
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(
                    f"{server.url}/v1/chat/completions",
                    json={"model": "gpt-4o", "messages": HELLO},
                    headers=mpc_api.headers(**{"x-request-id": "leaver-1"}),
                    timeout=httpx.Timeout(10, read=1.0),
                )  # the caller gives up and hangs up
            deadline = time.monotonic() + 10
            while gateway.closed_after is None and time.monotonic() < deadline:
                time.sleep(0.05)
            closed_while_serving = gateway.closed_after is not None  # not by the shutdown
    finally:
        gateway.close()
    assert gateway.request.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nx-request-id: leaver-1\r\n" in gateway.request
    assert closed_while_serving  # MPC-API hung up on the gateway in turn
    assert any(
        "caller left leaver-1" in record.getMessage() for record in caplog.records
    ), "the relay should say the caller left"
