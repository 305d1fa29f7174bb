"""MPC-API's chat relay: one code path through FastAPI, and hang-ups on plain calls.

Chats are routed like every other request (the app's middleware sees them and the
documented route answers them), and a caller who leaves while the gateway is still
working on a plain (unstreamed) answer closes the gateway call too.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from mpc_lib.api import create_app
from mpc_lib.api.routes.chat import chat_completions
from mpc_lib.sandbox.server import SandboxServer

HELLO = [{"role": "user", "content": "hello from the relay tests"}]


class _Recorder:
    """An app middleware noting each request's path and the endpoint that answered it."""

    def __init__(self, app: ASGIApp, seen: list[tuple[str, Any]]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.seen.append((scope["root_path"] + scope["path"], scope.get("endpoint")))


def test_chats_take_the_documented_route_like_every_other_request(mpc_api: Any) -> None:
    seen: list[tuple[str, Any]] = []
    app = create_app(mpc_api.settings)
    app.add_middleware(_Recorder, seen=seen)
    with SandboxServer(app, name="mpc-api-recorded") as server:
        url = f"{server.url}/v1/chat/completions"
        headers = mpc_api.headers(**{"x-request-id": "routed-1"})
        plain = httpx.post(url, json={"model": "gpt-4o", "messages": HELLO}, headers=headers)
        with httpx.stream("POST", url, headers=mpc_api.headers(),
                          json={"model": "text_general_draft", "messages": HELLO,
                                "stream": True}) as streamed:  # fmt: skip
            lines = [line for line in streamed.iter_lines() if line.startswith("data: ")]
        unknown = httpx.post(url, json={"model": "nope", "messages": HELLO}, headers=headers)
        mounted = httpx.post(f"{server.url}/mpc/api/chat/completions", headers=headers,
                             json={"model": "gpt-4o-mini", "messages": HELLO})  # fmt: skip
        fetched = httpx.get(url, headers=headers)
    assert plain.status_code == 200, plain.text
    assert plain.json()["model"] == "gpt-4o"
    assert plain.headers["x-request-id"] == "routed-1"
    assert streamed.status_code == 200 and lines[-1] == "data: [DONE]"
    assert json.loads(lines[0][6:])["object"] == "chat.completion.chunk"
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        "message": "Unknown model alias: nope", "type": "invalid_request_error",
        "code": "unknown_model", "request_id": "routed-1",
    }  # fmt: skip
    assert mounted.status_code == 200 and mounted.json()["model"] == "gpt-4o-mini"
    assert fetched.status_code == 405 and fetched.headers["allow"] == "POST"
    assert fetched.json()["error"]["request_id"] == "routed-1"  # the envelope, as elsewhere
    chat = "/v1/chat/completions"
    assert seen == [(chat, chat_completions)] * 3 + [
        ("/mpc/api/chat/completions", chat_completions),
        (chat, chat_completions),
    ]


class _SilentGateway:
    """Takes one request and never answers; notes when the caller closes the connection."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.request = b""
        self.closed = threading.Event()  # set when the caller has closed the connection
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
            try:
                while connection.recv(65536):
                    pass
            except OSError:
                pass
            self.closed.set()

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
            closed_while_serving = gateway.closed.wait(10)  # not by the shutdown
    finally:
        gateway.close()
    assert gateway.request.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nx-request-id: leaver-1\r\n" in gateway.request
    assert closed_while_serving  # MPC-API hung up on the gateway in turn
    assert any(
        "caller left leaver-1" in record.getMessage() for record in caplog.records
    ), "the relay should say the caller left"
