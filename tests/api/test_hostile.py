"""MPC-API against hostile or careless callers (issue 17, items 1-8), over loopback.

The server is the one `mpc api serve` runs (`api_server`: the bounded protocol and the
drain), in a thread of this process or, for SIGTERM, as a real `mpc api serve` process, in
front of the session's real LiteLLM.  Every loop is bounded; nothing really sleeps long.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from cli_runner import mpc_env, mpc_script
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mpc_lib.api import create_app
from mpc_lib.api.server import api_server
from mpc_lib.config import Settings
from mpc_lib.gateway import process as gateway_process
from mpc_lib.sandbox import Fault, Sandbox
from mpc_lib.sandbox.server import SandboxServer

HELLO = [{"role": "user", "content": "hello from the hostile tests"}]


class _Served:
    """MPC-API's own uvicorn server (`api_server`) in a thread, on a bound loopback socket."""

    def __init__(self, settings: Settings, **limits: Any) -> None:
        self.settings = settings.with_(**limits)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = api_server(create_app(self.settings), self.settings, port=self.port,
                                 log_config=None, lifespan="off")  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)  # fmt: skip

    def __enter__(self) -> _Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.server.started
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()


@pytest.fixture(scope="module")
def served(mpc_api: Any) -> Iterator[_Served]:
    """One bounded MPC-API for the module: a short head timeout and a small connection cap."""
    with _Served(mpc_api.settings, api_header_timeout_s=0.5, api_limit_concurrency=64) as s:
        yield s


@pytest.fixture
def http(served: _Served, mpc_api: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, headers=mpc_api.headers(), timeout=30) as client:
        yield client


def _error(answer: httpx.Response, status: int) -> dict[str, Any]:
    """The envelope of an error answer, checked for its status, type and request id."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    error: dict[str, Any] = answer.json()["error"]
    assert error["request_id"] == answer.headers["x-request-id"]
    assert isinstance(error["code"], str) and isinstance(error["type"], str)
    return error


def _raw(port: int, data: bytes, *, read_s: float = 5.0) -> bytes:
    """Send `data` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_s) as conn:
        with contextlib.suppress(OSError):
            conn.sendall(data)
        return _read_all(conn)


def _read_all(conn: socket.socket) -> bytes:
    answer = b""
    with contextlib.suppress(OSError):
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


# --- 1. the chat body: only OpenAI's chat parameters -------------------------------------------


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"extra_headers": {"Authorization": "Basic x"}}, "extra_headers"),
        ({"num_retries": 30}, "num_retries"),
        ({"api_key": "sk-mine"}, "api_key"),
        ({"api_base": "http://127.0.0.1:1"}, "api_base"),
        ({"timeout": 600}, "timeout"),
        ({"metadata": {"a": 1}}, "metadata"),
        ({"fallbacks": ["gpt-4o-mini"]}, "fallbacks"),
        ({"n": 500}, "n: must be from 1 to 8"),
        ({"temperature": "hot"}, "temperature: must be a number"),
        ({"stream": "yes"}, "stream: must be true or false"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content: must be"),
        ({"messages": [{"role": "user", "content": "x", "x_mpc": 1}]}, "messages[0].x_mpc"),
        ({"messages": []}, "messages: must be an array of 1 to"),
    ],
)
def test_a_field_the_chat_does_not_document_is_a_400_naming_it(
    http: httpx.Client, extra: dict[str, Any], named: str
) -> None:
    answer = http.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO, **extra})
    error = _error(answer, 400)
    assert error["message"].startswith(named), error


def test_a_header_injection_never_puts_the_model_in_cooldown(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    for _ in range(3):
        injected = {"model": "gpt-4o", "messages": HELLO,
                    "extra_headers": {"Authorization": "Basic x"}}  # fmt: skip
        assert http.post("/v1/chat/completions", json=injected).status_code == 400
    assert sandbox.requests("openai") == []  # nothing reached the upstream
    fine = http.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": HELLO})
    assert fine.status_code == 200, fine.text


@pytest.mark.parametrize(
    ("path", "raw", "status", "said"),
    [
        ("/v1/chat/completions", b'{"model":"gpt-4o","messages":[],"temperature":NaN}', 400,
         "NaN is not a JSON number"),
        ("/v1/chat/completions", b'{"model":"gpt-4o","temperature":Infinity}', 400,
         "Infinity is not a JSON number"),
        ("/v1/chat/completions", b'{"model":"gpt-4o","messages":[{"role":"user"}],'
         b'"temperature":1e999}', 400, "temperature: must be a finite number"),
        ("/v1/chat/completions", b'{"model":"gpt-4o","messages":' + b"[" * 100_000, 400,
         "nested too deeply"),
        ("/v1/chat/completions", b'{"model":"\\ud800","messages":[{"role":"user"}]}', 400,
         "model: invalid unicode"),
        ("/v1/chat/completions", b'{"model":"gpt-4o","messages":[{"role":"user",'
         b'"content":"\\udfff"}]}', 400, "messages[0].content: invalid unicode"),
        ("/api/select-model", b'{"task_type":' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400,
         ""),
        ("/api/orchestrate", b'{"job_type":"\\ud800"}', 400, "Unsupported job_type"),
        ("/api/orchestrate", b"{}", 400, "job_type is required; known:"),
        ("/api/select-model", b'{"task_type":"chat","weights":1}', 400, "invalid request: body"),
    ],
)  # fmt: skip
def test_malformed_bodies_are_4xx_in_the_envelope_never_a_500(
    http: httpx.Client, path: str, raw: bytes, status: int, said: str
) -> None:
    answer = http.post(path, content=raw, headers={"content-type": "application/json"})
    error = _error(answer, status)
    assert said in error["message"], error


def test_a_chunked_body_over_the_limit_is_a_413_on_every_route(
    http: httpx.Client, mpc_api: Any
) -> None:
    limit = mpc_api.settings.api_max_body_bytes

    def chunks() -> Iterator[bytes]:  # no content-length: counted as it arrives
        yield b'{"task_type":"'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    for path in ("/api/select-model", "/api/orchestrate", "/v1/chat/completions"):
        answer = http.post(path, content=chunks(), headers={"content-type": "application/json"})
        assert _error(answer, 413)["code"] == "request_too_large", path


# --- 2. limits before authentication ------------------------------------------------------------


def test_a_silent_or_half_sent_connection_is_closed_within_the_head_timeout(
    served: _Served,
) -> None:
    started = time.monotonic()
    assert _raw(served.port, b"") == b""  # silent: closed without a word
    half = _raw(served.port, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")  # never ends its head
    took = time.monotonic() - started
    assert took < 3, took  # two waits of 0.5 s, not forever
    head, _, body = half.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_huge_heads_are_431_and_cost_no_memory(served: _Served) -> None:
    """Eight connections each sending a 48 MB head: each answered 431 once past the limit,
    and the process's memory stays within 20 MB of where it was."""
    me = psutil.Process()
    before = me.memory_info().rss
    line = b"X-Big: " + b"a" * 65536 + b"\r\n"

    def send_huge() -> bytes:
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as conn:
            conn.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")
            sent = 0
            with contextlib.suppress(OSError):  # the server closes on us: that is the point
                while sent < 48 * 1024 * 1024:
                    conn.sendall(line)
                    sent += len(line)
            return _read_all(conn)

    threads_out: list[bytes] = []
    threads = [threading.Thread(target=lambda: threads_out.append(send_huge())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    grown = me.memory_info().rss - before
    assert grown < 20 * 1024 * 1024, f"RSS grew {grown / 1e6:.0f} MB"
    assert len(threads_out) == 8
    for answer in threads_out:
        if answer:  # a reset may beat the answer to the caller; when it arrives, it is a 431
            assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    many = b"GET /v1/models HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(10_000))
    assert _raw(served.port, many + b"\r\n").startswith(b"HTTP/1.1 431 ")
    one_big = b"GET /v1/models HTTP/1.1\r\nX-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n"
    answer = _raw(served.port, one_big)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ") and b"x-request-id: mpc-" in head
    assert json.loads(body)["error"]["type"] == "request_header_fields_too_large"


def test_connections_past_the_limit_get_a_503_envelope(mpc_api: Any) -> None:
    with _Served(mpc_api.settings, api_limit_concurrency=2, api_header_timeout_s=5) as served:
        held = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(2)]
        try:
            answer = _raw(served.port, b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\n\r\n")
        finally:
            for conn in held:
                conn.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1" in head
    assert "MPC_API_LIMIT_CONCURRENCY" in json.loads(body)["error"]["message"]


# --- 3. the relay pool: 503 at once when full, health on its own connection -----------------


def test_a_full_relay_is_a_503_at_once_and_health_still_sees_the_gateway(
    sandbox: Sandbox, mpc_api: Any
) -> None:
    sandbox.set_modes(openai_chunk_delay_ms=300)
    stream = {"model": "gpt-4o", "messages": HELLO, "stream": True}
    with (
        _Served(mpc_api.settings, api_max_upstream=2) as served,
        httpx.Client(base_url=served.url, headers=mpc_api.headers(), timeout=30) as http,
        contextlib.ExitStack() as open_streams,
    ):
        for _ in range(2):  # both relay connections busy with a slow stream
            answer = open_streams.enter_context(
                http.stream("POST", "/v1/chat/completions", json=stream)
            )
            assert answer.status_code == 200
        started = time.monotonic()
        full = http.post("/v1/chat/completions", json=stream)
        waited = time.monotonic() - started
        health = http.get("/health")
    error = _error(full, 503)
    assert error["code"] == "relay_full" and "MPC_API_MAX_UPSTREAM" in error["message"]
    assert full.headers["retry-after"] == "1" and waited < 1.0, waited
    assert health.status_code == 200 and health.json()["gateway"]["status"] == "ok"


# --- 7. status mapping ---------------------------------------------------------------------------

# What LiteLLM answers in each case, by the request id MPC-API passes on.
_GATEWAY_ANSWERS: dict[str, tuple[int, dict[str, str], Any]] = {
    "our-key": (401, {}, {"error": {"message": "Authentication Error, Invalid proxy server "
                                    "token passed.", "type": "auth_error", "code": "401"}}),
    "provider-key": (401, {}, {"error": {"message": "litellm.AuthenticationError: "
                                         "OpenAIException - Incorrect API key provided",
                                         "type": None, "code": "401"}}),
    "rejected": (401, {}, {"error": {"message": "Authentication Error, Rejected Request: "
                                     "api_base is not allowed in request body.",
                                     "type": "auth_error", "code": "401"}}),
    "model-denied": (401, {}, {"error": {"message": "key not allowed to access model",
                                         "type": "key_model_access_denied", "code": "401"}}),
    "garbage": (500, {}, {"error": {"message": "litellm.APIError: could not parse the "
                                    "upstream's answer", "type": None, "code": "500"}}),
    "limited": (429, {"retry-after": "7"}, {"error": {"message": "Rate limit exceeded",
                                                      "type": None, "code": "429"}}),
    "unavailable": (503, {"retry-after": "3"}, {"error": {"message": "upstream unavailable"}}),
    "not-json": (502, {}, "<html>bad gateway</html>"),
}  # fmt: skip


async def _fake_litellm(request: Request) -> Response:
    status, headers, body = _GATEWAY_ANSWERS[request.headers["x-request-id"]]
    if isinstance(body, str):
        return Response(body, status, headers, media_type="text/html")
    return JSONResponse(body, status, {**headers, "x-litellm-version": "1.0",
                                       "x-litellm-key-spend": "12.5"})  # fmt: skip


@pytest.fixture(scope="module")
def mapped_api(mpc_api: Any) -> Any:
    """An MPC-API in front of a fake LiteLLM answering each case's error (one pair of
    servers for every case)."""
    fake = Starlette(routes=[Route("/v1/chat/completions", _fake_litellm, methods=["POST"])])
    with SandboxServer(fake, name="fake-litellm") as gateway:
        settings = mpc_api.settings.with_(gateway_url=gateway.url)
        with SandboxServer(create_app(settings), name="mpc-api-mapped") as server:
            yield server.url


@pytest.mark.parametrize(
    ("case", "status", "kind", "retry_after"),
    [
        ("our-key", 502, "gateway_auth", None),
        ("provider-key", 502, "upstream_auth", None),
        ("rejected", 403, "request_refused", None),
        ("model-denied", 403, "request_refused", None),
        ("garbage", 502, "gateway_error", None),
        ("limited", 429, None, "7"),
        ("unavailable", 503, None, "3"),
        ("not-json", 502, None, None),
    ],
)
def test_gateway_errors_keep_their_meaning(
    mpc_api: Any, mapped_api: str, case: str, status: int, kind: str | None,
    retry_after: str | None,
) -> None:  # fmt: skip
    answer = httpx.post(f"{mapped_api}/v1/chat/completions",
                        json={"model": "gpt-4o", "messages": HELLO},
                        headers=mpc_api.headers(**{"x-request-id": case}))  # fmt: skip
    error = _error(answer, status)
    if kind is not None:
        assert error["type"] == kind
    assert answer.headers.get("retry-after") == retry_after
    assert not [name for name in answer.headers if name.startswith("x-litellm-")]


# --- 8. disclosure ---------------------------------------------------------------------------


def test_answers_disclose_no_gateway_headers_or_server_paths(
    http: httpx.Client, mpc_api: Any
) -> None:
    for body in ({"model": "gpt-4o", "messages": HELLO},
                 {"model": "gpt-4o", "messages": HELLO, "stream": True}):  # fmt: skip
        answer = http.post("/v1/chat/completions", json=body)
        assert answer.status_code == 200
        assert not [name for name in answer.headers if name.startswith("x-litellm-")]
    health = http.get("/health")
    assert health.status_code == 200
    home = str(mpc_api.settings.home)
    assert home not in health.text and "path" not in health.json()["registry"]


def test_the_gateway_log_is_private_and_rotated(gateway: Any, tmp_path: Path) -> None:
    mode = stat.S_IMODE(gateway.process.log_path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    # the same writer on a child that prints 2.5 times the bound: three files, none past it
    log_path = tmp_path / "litellm.log"
    child = subprocess.Popen(
        ["python3", "-c", "import sys\nfor i in range(2500): sys.stdout.write('x' * 1023 + '\\n')"],
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    writer = gateway_process._RotatingLog(log_path, child.stdout, max_bytes=1024 * 1024)
    child.wait(30)
    writer.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["litellm.log", "litellm.log.1", "litellm.log.2"]
    sizes = [(tmp_path / name).stat().st_size for name in files]
    assert all(size <= 1024 * 1024 for size in sizes) and sum(sizes) == 2500 * 1024
    assert all(stat.S_IMODE((tmp_path / n).stat().st_mode) == 0o600 for n in files)


# --- 6. SIGTERM: drain, end what is left, exit 0 ---------------------------------------------


def test_sigterm_drains_ends_streams_with_an_event_and_exits_0(
    sandbox: Sandbox, gateway: Any, mpc_api: Any, port_factory: Any
) -> None:
    port = port_factory()
    env = mpc_env({
        "MPC_HOME": str(gateway.home), "MPC_API_URL": f"http://127.0.0.1:{port}",
        "MPC_GATEWAY_URL": gateway.url, "LITELLM_MASTER_KEY": gateway.settings.gateway_key.reveal(),
        "MPC_API_KEY": mpc_api.key, "MPC_API_DRAIN_S": "1",
    })  # fmt: skip
    served = subprocess.Popen([mpc_script(), "api", "serve"], env=env, cwd=gateway.home,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health/liveliness", timeout=1).status_code == 200:
                    break
            assert served.poll() is None, served.stderr.read() if served.stderr else ""
            time.sleep(0.05)
        sandbox.set_modes(openai_chunk_delay_ms=400)  # a stream of ~10 chunks: 4 s > the drain
        sandbox.faults.add(
            Fault("latency", provider="openai", latency_ms=8000, model="gpt-4o")
        )  # the plain call: 8 s
        results: dict[str, Any] = {}

        def plain() -> None:
            results["plain"] = httpx.post(f"{url}/v1/chat/completions", timeout=30,
                                          headers=mpc_api.headers(),
                                          json={"model": "gpt-4o", "messages": HELLO})  # fmt: skip

        caller = threading.Thread(target=plain)
        caller.start()
        deadline = time.monotonic() + 15
        while not sandbox.faults.describe()[0]["fired"]:  # the plain call reached the upstream
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with httpx.stream("POST", f"{url}/v1/chat/completions", headers=mpc_api.headers(),
                          json={"model": "gpt-4o-mini", "messages": HELLO, "stream": True},
                          timeout=30) as streamed:  # fmt: skip
            assert streamed.status_code == 200
            lines = streamed.iter_lines()
            first = next(line for line in lines if line.startswith("data: "))
            served.send_signal(signal.SIGTERM)
            rest = [line for line in lines if line.startswith("data: ")]
        caller.join(30)
        code = served.wait(30)
    finally:
        if served.poll() is None:
            served.kill()
            served.wait(10)
    assert "chat.completion.chunk" in first
    last = json.loads(rest[-1][6:])
    assert (
        last["error"]["code"] == "shutting_down" and "MPC_API_DRAIN_S" in last["error"]["message"]
    )
    plain_answer = results["plain"]
    assert _error(plain_answer, 503)["code"] == "shutting_down"
    assert code == 0, served.stderr.read() if served.stderr else ""
