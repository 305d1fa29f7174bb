"""AsyncHttpCore, MPC-API's relay to the gateway, over real loopback sockets.

Each test runs a raw asyncio server in the same event loop as the client, under both
loops MPC-API may run on (asyncio, and uvloop when installed), and looks at what went
over the wire: our headers, kept connections, back-pressure, timeouts, cuts.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mpc_lib.config import Secret
from mpc_lib.errors import TransportError
from mpc_lib.http import AsyncHttpCore

LOOPS = ["asyncio"] + (["uvloop"] if importlib.util.find_spec("uvloop") else [])
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _run(loop_name: str, main: Callable[[], Awaitable[Any]]) -> Any:
    if loop_name == "uvloop":
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


async def _serve(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one request with a content-length."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


def _answer(body: bytes, *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"content-type: application/json", *extra]
    head.append(b"content-length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_request_carries_our_headers_and_its_connection_is_kept(loop_name: str) -> None:
    """The key, the caller's request id and the body arrive; the connection is reused."""
    arrivals: list[bytes] = []
    connections = 0

    class Recorder(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            nonlocal connections
            connections += 1
            self.transport = transport
            self.seen = b""

        def data_received(self, data: bytes) -> None:
            self.seen += data
            if self.seen.endswith(b'"hi"}'):  # the whole request is here
                arrivals.append(self.seen)
                self.seen = b""
                self.transport.write(_answer(b'{"ok": true}'))

    async def main() -> list[tuple[int, bytes, dict[str, str]]]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Recorder, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        core = AsyncHttpCore("gateway", url, key=Secret("sk-relay"))
        answers = []
        try:
            for rid in ("first", "second"):
                upstream = await core.open(
                    "POST", "/v1/chat/completions", content=b'{"say": "hi"}',
                    headers={"x-request-id": rid, "content-type": "application/json"},
                )  # fmt: skip
                answers.append((upstream.status, await upstream.read(), dict(upstream.headers)))
                await upstream.aclose()
        finally:
            await core.aclose()
            server.close()
        return answers

    answers = _run(loop_name, main)
    assert [(status, body) for status, body, _ in answers] == [(200, b'{"ok": true}')] * 2
    assert connections == 1
    assert len(arrivals) == 2
    for arrival, rid in zip(arrivals, ("first", "second"), strict=True):
        head, _, body = arrival.partition(b"\r\n\r\n")
        assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert b"\r\nauthorization: Bearer sk-relay\r\n" in head
        assert f"\r\nx-request-id: {rid}".encode() in head
        assert body == b'{"say": "hi"}'


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_megabyte_each_way_arrives_whole(loop_name: str) -> None:
    """Big bodies pass the write and read-ahead limits intact, in order."""
    sent = bytes(range(256)) * 4096  # 1 MiB
    answer = hashlib.sha256(sent).digest() * 40_000  # ~1.3 MB back, chunked

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _head, body = await _read_request(reader)
        assert body == sent
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for start in range(0, len(answer), 50_000):
            piece = answer[start : start + 50_000]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def main() -> bytes:
        server, url = await _serve(handler)
        core = AsyncHttpCore("gateway", url)
        try:
            upstream = await core.open("POST", "/big", content=sent)
            got = b""
            async for chunk in upstream.chunks():
                got += chunk
                await asyncio.sleep(0.001)  # a slow reader: the gateway must wait for us
            await upstream.aclose()
            return got
        finally:
            await core.aclose()
            server.close()

    assert _run(loop_name, main) == answer


@pytest.mark.parametrize("loop_name", LOOPS)
def test_chunks_are_passed_on_as_they_arrive(loop_name: str) -> None:
    """The gateway sends its second chunk only after the first reached the caller."""

    async def main() -> list[bytes]:
        first_seen = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await asyncio.wait_for(first_seen.wait(), 5)  # a relay that buffers never gets here
            writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
            await writer.drain()

        server, url = await _serve(handler)
        core = AsyncHttpCore("gateway", url)
        chunks = []
        try:
            upstream = await core.open("POST", "/stream", content=b"{}")
            async for chunk in upstream.chunks():
                chunks.append(chunk)
                first_seen.set()
            await upstream.aclose()
        finally:
            await core.aclose()
            server.close()
        return chunks

    assert _run(loop_name, main) == [b"first", b"second"]


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_gateway_that_never_answers_is_a_read_timeout(loop_name: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(10)  # says nothing

    async def main() -> TransportError:
        server, url = await _serve(handler)
        core = AsyncHttpCore("gateway", url, key=Secret("sk-hidden"), timeout_s=0.3)
        try:
            with pytest.raises(TransportError) as caught:
                await core.open("POST", "/v1/chat/completions", content=b"{}")
            return caught.value
        finally:
            await core.aclose()
            server.close()

    error = _run(loop_name, main)
    assert error.detail.startswith("ReadTimeout")  # MPC-API answers 504 on "...Timeout"
    assert "sk-hidden" not in str(error)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_nobody_listening_is_a_connect_error(loop_name: str, port_factory: Any) -> None:
    async def main() -> TransportError:
        core = AsyncHttpCore("gateway", f"http://127.0.0.1:{port_factory()}")
        try:
            with pytest.raises(TransportError) as caught:
                await core.open("GET", "/health/readiness")
            return caught.value
        finally:
            await core.aclose()

    error = _run(loop_name, main)
    assert error.detail.startswith("ConnectError") and error.provider == "gateway"


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_connection_the_gateway_dropped_while_idle_is_not_reused(loop_name: str) -> None:
    """The gateway closes kept connections on its own timer; the next call opens a new one."""
    connections = 0
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _read_request(reader)
        writer.write(_answer(b'{"n": %d}' % connections))  # keep-alive, as far as it says
        await writer.drain()
        writer.close()  # ...and then it closes anyway
        await writer.wait_closed()
        closed.set()

    async def main() -> list[bytes]:
        server, url = await _serve(handler)
        core = AsyncHttpCore("gateway", url)
        bodies = []
        try:
            for _ in range(2):
                upstream = await core.open("POST", "/v1/chat/completions", content=b"{}")
                bodies.append(await upstream.read())
                await upstream.aclose()
                await asyncio.wait_for(closed.wait(), 10)  # closed while ours sits idle
                closed.clear()
        finally:
            await core.aclose()
            server.close()
        return bodies

    assert _run(loop_name, main) == [b'{"n": 1}', b'{"n": 2}']
    assert connections == 2


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_body_cut_short_is_a_transport_error(loop_name: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b")
        await writer.drain()
        writer.close()

    async def main() -> tuple[bytes, TransportError]:
        server, url = await _serve(handler)
        core = AsyncHttpCore("gateway", url)
        got = b""
        try:
            upstream = await core.open("POST", "/v1/chat/completions", content=b"{}")
            with pytest.raises(TransportError) as caught:
                async for chunk in upstream.chunks():
                    got += chunk
            await upstream.aclose()
            return got, caught.value
        finally:
            await core.aclose()
            server.close()

    got, error = _run(loop_name, main)
    assert got == b"only ten b"
    assert error.detail.startswith("RemoteProtocolError")
