"""HttpCore over loopback: redirects, long waits, epoch resets, the deadline, logging, payloads.

The emulators give 429/5xx/drops/latency/malformed answers; the answers they cannot give
(a 3xx with a Location, an epoch x-ratelimit-reset, a key echoed in a broken body) come
from a tiny Starlette app served by the sandbox's own `SandboxServer`.  Retry waits go to
the `clock` fixture, which notes each wait asked for and moves its time on at once.
"""

from __future__ import annotations

import ast
import importlib.metadata
import logging
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import mpc_lib
from mpc_lib.catalog import FalClient
from mpc_lib.config import Secret, Settings
from mpc_lib.errors import (
    MpcError,
    ProviderError,
    RateLimited,
    Redirected,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from mpc_lib.http import HttpCore, RetryPolicy, build_client
from mpc_lib.sandbox import Fault
from mpc_lib.sandbox.server import SandboxServer

ODD_KEY = "odd-key:s3cr/t+value"
HTTP_PACKAGE = Path(mpc_lib.__file__).with_name("http")


class _OddAnswers:
    """Answers the emulators cannot give, and a count of what each path was asked."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.server = SandboxServer(
            Starlette(
                routes=[
                    Route("/moved/{status:int}", self.moved),
                    Route("/landing", self.landing),
                    Route("/reset/{name}", self.reset),
                    Route("/echo-key", self.echo_key),
                    Route("/echo-agent", self.echo_agent),
                ]
            ),
            name="odd-answers",
        )

    @property
    def url(self) -> str:
        return self.server.url

    async def moved(self, request: Request) -> Response:
        self.hits[request.url.path] += 1
        headers = {"x-request-id": "odd-1"}
        if "to" in request.query_params:
            headers["Location"] = request.query_params["to"]
        return Response(status_code=request.path_params["status"], headers=headers)

    async def landing(self, request: Request) -> Response:
        self.hits["/landing"] += 1
        return JSONResponse({"landed": True, "auth": request.headers.get("authorization")})

    async def reset(self, request: Request) -> Response:
        """First call per name: 429 with `x-ratelimit-reset: <at>`; later calls: 200."""
        self.hits[request.url.path] += 1
        count = self.hits[request.url.path]
        if count == 1:
            headers = {"x-ratelimit-reset": request.query_params["at"]}
            return JSONResponse({"error": {"message": "slow down"}}, 429, headers=headers)
        return JSONResponse({"hits": count})

    async def echo_key(self, request: Request) -> Response:
        """A broken body that quotes the caller's credentials, as some proxies' error pages do."""
        auth = request.headers.get("authorization", "")
        body = f'{{"seen": "{auth}", "again": "{quote(auth.split(" ")[-1], safe="")}", '
        return PlainTextResponse(body, media_type="application/json")

    async def echo_agent(self, request: Request) -> Response:
        return JSONResponse({"user_agent": request.headers.get("user-agent")})


@pytest.fixture(scope="module")
def odd() -> Iterator[_OddAnswers]:
    answers = _OddAnswers()
    with answers.server:
        yield answers


def _odd_core(odd: _OddAnswers, **kwargs) -> HttpCore:
    return HttpCore("odd", odd.url, key=Secret(ODD_KEY), scheme="Bearer", **kwargs)


def _fal_core(sandbox, **kwargs) -> HttpCore:
    return HttpCore("fal", sandbox.fal_url, key=Secret(sandbox.fal_key), scheme="Key", **kwargs)


def _statuses(sandbox, path: str = "/v1/models") -> list[int]:
    return [r.status for r in sandbox.requests("fal") if r.path == path]


# --- 1. a 3xx is an error that names the Location, and is never followed ---------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_an_error_naming_the_location_and_is_not_followed(odd, status) -> None:
    target = f"{odd.url}/landing"
    before = odd.hits["/landing"]
    with _odd_core(odd) as core, pytest.raises(Redirected) as info:
        core.get_json(f"/moved/{status}", {"to": target})
    err = info.value
    assert isinstance(err, ProviderError) and isinstance(err, MpcError)
    assert (err.status, err.location, err.request_id, err.exit_code) == (status, target, "odd-1", 3)
    assert str(err) == f"odd: {status} GET /moved/{status} -> {target} (request_id=odd-1)"
    assert odd.hits["/landing"] == before  # the key never travelled to the Location
    assert odd.hits[f"/moved/{status}"] >= 1


def test_redirect_is_not_followed_even_by_a_client_that_would(odd) -> None:
    before = odd.hits["/landing"], odd.hits["/moved/302"]
    client = httpx.Client(follow_redirects=True)
    with _odd_core(odd, client=client) as core, pytest.raises(Redirected):
        core.get_json("/moved/302", {"to": f"{odd.url}/landing"})
    client.close()
    assert (odd.hits["/landing"], odd.hits["/moved/302"]) == (before[0], before[1] + 1)


def test_relative_location_is_named_in_full_and_a_missing_one_is_said(odd) -> None:
    with _odd_core(odd) as core:
        with pytest.raises(Redirected) as relative:
            core.get_json("/moved/301", {"to": "/v2/models"})
        with pytest.raises(Redirected) as missing:
            core.get_json("/moved/300")
    assert relative.value.location == f"{odd.url}/v2/models"
    assert missing.value.location is None
    assert (
        str(missing.value) == "odd: 300 GET /moved/300 -> (no Location header) (request_id=odd-1)"
    )


# --- 2. a Retry-After beyond the cap fails fast as RateLimited -------------------------------


def test_retry_after_beyond_the_cap_fails_fast_with_the_wait(sandbox, clock) -> None:
    sandbox.faults.add(Fault("rate_limit", provider="fal", path="/v1/models", retry_after=3600))
    policy = RetryPolicy(max_retries=4, max_retry_after_s=60)
    with _fal_core(sandbox, retry=policy, clock=clock) as core, pytest.raises(RateLimited) as info:
        core.get_json("/models")
    err = info.value
    assert err.retry_after_s == 3600
    assert "asked to retry after 3600 s, more than the 60 s cap" in str(err)
    assert str(err).startswith("fal: 429 GET /models: rate_limited: Rate limit exceeded; asked")
    assert (clock.sleeps, _statuses(sandbox)) == ([], [429])  # no sleep, no second try


def test_retry_after_at_the_cap_is_honoured(sandbox, clock) -> None:
    sandbox.faults.add(Fault("rate_limit", provider="fal", path="/v1/models", retry_after=1))
    policy = RetryPolicy(max_retry_after_s=1, backoff_base_s=0)
    with _fal_core(sandbox, retry=policy, clock=clock) as core:
        assert core.get_json("/models")["models"]
    assert clock.sleeps == [1.0]
    assert _statuses(sandbox) == [429, 200]


def test_rate_limited_after_the_budget_carries_the_last_wait(sandbox, clock) -> None:
    sandbox.faults.add(Fault("rate_limit", provider="fal", retry_after=0, times=None))
    policy = RetryPolicy(max_retries=1)
    with _fal_core(sandbox, retry=policy, clock=clock) as core, pytest.raises(RateLimited) as info:
        core.get_json("/models")
    assert info.value.retry_after_s == 0
    assert clock.sleeps == [0.0]
    assert _statuses(sandbox) == [429, 429]


def test_backoff_grows_with_bounded_jitter_between_tries(sandbox, clock) -> None:
    sandbox.faults.add(Fault("server_error", provider="fal", status=503, times=3))
    policy = RetryPolicy(max_retries=3, backoff_base_s=0.5, jitter=0.5)
    with _fal_core(sandbox, retry=policy, clock=clock) as core:
        assert core.get_json("/models")["models"]
    assert _statuses(sandbox) == [503, 503, 503, 200]
    assert len(clock.sleeps) == 3
    for wait, base in zip(clock.sleeps, (0.5, 1.0, 2.0), strict=True):
        assert base <= wait <= base * 1.5


# --- 3. an epoch x-ratelimit-reset is a moment, a small one a number of seconds ---------------


def test_epoch_reset_in_the_near_future_is_waited_for(odd, clock) -> None:
    with _odd_core(odd, clock=clock) as core:
        answer = core.get_json("/reset/soon", {"at": f"{clock.time() + 1.5:.3f}"})
    assert answer == {"hits": 2}
    assert clock.sleeps == [1.5]  # the moment less now, not 1.8e9 seconds


def test_epoch_reset_in_milliseconds_is_a_moment_too(odd, clock) -> None:
    with _odd_core(odd, clock=clock) as core:
        answer = core.get_json("/reset/soon-ms", {"at": str(int(clock.time() * 1000) + 2500)})
    assert answer == {"hits": 2}
    assert clock.sleeps == [2.5]


def test_epoch_reset_in_the_past_means_retry_at_once(odd, clock) -> None:
    with _odd_core(odd, clock=clock) as core:
        assert core.get_json("/reset/past", {"at": str(int(clock.time()) - 120)}) == {"hits": 2}
    assert clock.sleeps == [0.0]


def test_epoch_reset_far_ahead_fails_fast(odd, clock) -> None:
    with _odd_core(odd, clock=clock) as core, pytest.raises(RateLimited) as info:
        core.get_json("/reset/far", {"at": str(int(clock.time()) + 3600)})
    assert info.value.retry_after_s == 3600
    assert "asked to retry after 3600 s, more than the 60 s cap" in str(info.value)
    assert clock.sleeps == [] and odd.hits["/reset/far"] == 1


def test_small_reset_is_seconds_until_the_reset(odd, clock) -> None:
    with _odd_core(odd, clock=clock) as core:
        assert core.get_json("/reset/seconds", {"at": "1"}) == {"hits": 2}
    assert clock.sleeps == [1.0]


# --- 4. one overall deadline per call --------------------------------------------------------


def test_backoff_that_would_cross_the_deadline_stops_with_the_last_error(sandbox, clock) -> None:
    sandbox.faults.add(Fault("server_error", provider="fal", status=503, times=None))
    policy = RetryPolicy(max_retries=10, backoff_base_s=0.5, jitter=0, deadline_s=1.2)
    with _fal_core(sandbox, retry=policy, clock=clock) as core, pytest.raises(ServerError) as info:
        core.get_json("/models")
    # try 1, 0.5 s backoff, try 2; the next 1.0 s backoff would end past 1.2 s
    assert clock.sleeps == [0.5]
    assert _statuses(sandbox) == [503, 503]
    assert info.value.status == 503
    assert (
        "; gave up after 2 attempt(s): the 1.2 s deadline for this call was reached"
        " (0.7 s left, next try due in 1 s)" in str(info.value)
    )


def test_retry_after_past_the_deadline_stops_at_once(sandbox, clock) -> None:
    sandbox.faults.add(Fault("rate_limit", provider="fal", retry_after=2, times=None))
    policy = RetryPolicy(max_retries=10, deadline_s=1)
    with _fal_core(sandbox, retry=policy, clock=clock) as core, pytest.raises(RateLimited) as info:
        core.get_json("/models")
    assert (clock.sleeps, _statuses(sandbox)) == ([], [429])
    assert info.value.retry_after_s == 2
    assert "the 1 s deadline for this call was reached" in str(info.value)


def test_dropped_connections_stop_at_the_deadline_as_a_transport_error(sandbox, clock) -> None:
    sandbox.faults.add(Fault("drop", provider="fal", path="/v1/models", times=None))
    policy = RetryPolicy(max_retries=10, backoff_base_s=0.4, jitter=0, deadline_s=1)
    with (
        _fal_core(sandbox, retry=policy, clock=clock) as core,
        pytest.raises(TransportError) as info,
    ):
        core.get_json("/models")
    assert clock.sleeps == [0.4]  # the next, 0.8 s, would end past the deadline
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)
    assert "RemoteProtocolError" in str(info.value)
    assert "gave up after 2 attempt(s): the 1 s deadline" in str(info.value)
    assert info.value.exit_code == 4


def test_each_attempt_timeout_is_clipped_to_the_time_left(sandbox, clock) -> None:
    # 1 s of latency is well inside the client's 30 s read timeout: only the clip can cut it
    sandbox.faults.add(Fault("latency", provider="fal", path="/v1/models", latency_ms=1000))
    client = build_client(Settings(timeout_s=30))
    policy = RetryPolicy(deadline_s=0.3, backoff_base_s=1, jitter=0)
    with (
        _fal_core(sandbox, client=client, retry=policy, clock=clock) as core,
        pytest.raises(TransportError) as info,
    ):
        core.get_json("/models")
    client.close()
    assert "ReadTimeout" in str(info.value)
    assert "gave up after 1 attempt(s): the 0.3 s deadline for this call was reached" in str(
        info.value
    )
    assert clock.sleeps == []


def test_deadline_comes_from_settings(sandbox) -> None:
    core = HttpCore.for_settings(
        "fal",
        Settings(deadline_s=7.5, max_retries=2),
        base_url=sandbox.fal_url,
        key=None,
        scheme="Key",
    )
    with core:
        assert (core.retry.deadline_s, core.retry.max_retries) == (7.5, 2)
    assert Settings.from_env({"MPC_DEADLINE_S": "45"}, env_file=None).deadline_s == 45.0
    assert Settings(deadline_s=45).public_env()["MPC_DEADLINE_S"] == "45"


# --- 5. one INFO line per answered attempt, at most one WARNING per retry decision ------------


def _our_lines(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("mpc_lib")]


def test_a_plain_call_logs_exactly_one_info_line(sandbox, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with _fal_core(sandbox) as core:
        core.get_json("/models", {"limit": 3})
    lines = _our_lines(caplog)
    assert len(lines) == 1
    level, message = lines[0]
    assert level == "INFO"
    assert message.startswith(f"GET {sandbox.fal_url}/models?limit=3 -> 200 (request_id=sbx-")
    assert message.endswith("attempt 1)")
    assert sandbox.fal_key not in message


def test_a_call_retried_once_logs_two_answers_and_one_retry(sandbox, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.faults.add(Fault("rate_limit", provider="fal", retry_after=0))
    with _fal_core(sandbox) as core:
        core.get_json("/models")
    lines = _our_lines(caplog)
    assert [level for level, _ in lines] == ["INFO", "WARNING", "INFO"]
    assert "-> 429" in lines[0][1] and "attempt 1" in lines[0][1]
    assert lines[1][1] == f"GET {sandbox.fal_url}/models -> 429; retry 1/4 in 0.00s"
    assert "-> 200" in lines[2][1] and "attempt 2" in lines[2][1]


def test_a_dropped_attempt_logs_only_its_retry_and_giving_up_logs_nothing(sandbox, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.faults.add(Fault("drop", provider="fal", path="/v1/models"))
    sandbox.faults.add(Fault("server_error", provider="fal", path="/v1/models/pricing", times=None))
    policy = RetryPolicy(max_retries=1, backoff_base_s=0)
    with _fal_core(sandbox, retry=policy) as core:
        core.get_json("/models")
        dropped = _our_lines(caplog)
        caplog.clear()
        with pytest.raises(ServerError):
            core.get_json("/models/pricing", {"endpoint_id": "x"})
    assert [level for level, _ in dropped] == ["WARNING", "INFO"]
    assert "RemoteProtocolError" in dropped[0][1] and "retry 1/1" in dropped[0][1]
    assert [level for level, _ in _our_lines(caplog)] == ["INFO", "WARNING", "INFO"]


# --- 6. the version comes from package metadata; mpc_lib.http never imports the package root


def test_version_is_the_installed_distribution_version_and_the_user_agent(odd, tmp_path) -> None:
    assert mpc_lib.__version__ == importlib.metadata.version("mpc-workbench")
    with build_client(Settings(home=tmp_path)) as client:
        agent = client.get(f"{odd.url}/echo-agent").json()["user_agent"]
    assert agent == f"mpc-workbench/{mpc_lib.__version__}"


def test_version_falls_back_when_the_package_is_not_installed(tmp_path) -> None:
    # -S hides site-packages and tmp_path holds no egg-info: no metadata to be found
    code = "import runpy, sys; print(runpy.run_path(sys.argv[1])['__version__'])"
    version_py = str(HTTP_PACKAGE.with_name("_version.py"))
    out = subprocess.run(
        [sys.executable, "-S", "-c", code, version_py],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "0+unknown"


def test_the_http_package_does_not_import_the_package_root() -> None:
    imports = [
        node
        for module in sorted(HTTP_PACKAGE.glob("*.py"))
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
        if isinstance(node, (ast.Import, ast.ImportFrom))
    ]
    assert len(imports) > 20  # every module was read
    from_root = [
        node
        for node in imports
        if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module is None
    ]
    absolute_root = [
        alias.name
        for node in imports
        for alias in node.names
        if isinstance(node, ast.Import) and alias.name == "mpc_lib"
    ]
    absolute_from = [
        node for node in imports if isinstance(node, ast.ImportFrom) and node.module == "mpc_lib"
    ]
    assert (from_root, absolute_root, absolute_from) == ([], [], [])


# --- 7. payloads of malformed answers go under the outputs folder, key redacted ---------------

_STAMPED = re.compile(r"^fal-\d{8}T\d{6}\.\d{6}Z(-\d+)?\.txt$")


def test_malformed_payload_is_saved_under_the_payload_dir(sandbox, tmp_path) -> None:
    sandbox.faults.add(Fault("malformed", provider="fal", path="/v1/models"))
    folder = tmp_path / "payloads"
    with _fal_core(sandbox, payload_dir=folder) as core:
        with pytest.raises(ResponseFormatError) as info:
            core.get_json("/models", {"limit": 5})
        whole = core.request("GET", "/models", params={"limit": 5}).content
    saved = info.value.saved_to
    assert saved is not None and saved.parent == folder and _STAMPED.match(saved.name)
    assert saved.read_bytes() == whole[: len(whole) // 2]  # the half the emulator sent
    assert f"(payload saved to {saved})" in str(info.value)
    assert [p.name for p in folder.iterdir()] == [saved.name]


def test_without_a_payload_dir_nothing_is_saved_and_the_message_says_so(sandbox, tmp_path) -> None:
    sandbox.faults.add(Fault("malformed", provider="fal", path="/v1/models"))
    with _fal_core(sandbox) as core, pytest.raises(ResponseFormatError) as info:
        core.get_json("/models")
    assert info.value.saved_to is None
    assert "payload not saved (no payload folder set)" in str(info.value)


def test_settings_put_payloads_under_the_outputs_dir(sandbox, tmp_path) -> None:
    sandbox.faults.add(Fault("malformed", provider="fal", path="/v1/models"))
    settings = Settings(outputs_dir=tmp_path / "outputs", max_retries=0)
    client = FalClient(sandbox.fal_url, Secret(sandbox.fal_key), settings=settings)
    assert client.http.payload_dir == tmp_path / "outputs" / "payloads"
    with client, pytest.raises(ResponseFormatError) as info:
        client.get_page(None)
    saved = info.value.saved_to
    assert saved is not None and saved.parent == tmp_path / "outputs" / "payloads"
    assert saved.read_bytes()


def test_a_saved_payload_never_holds_the_key(odd, tmp_path) -> None:
    with _odd_core(odd, payload_dir=tmp_path) as core, pytest.raises(ResponseFormatError) as info:
        core.get_json("/echo-key")
    saved = info.value.saved_to
    assert saved is not None
    text = saved.read_text()
    assert ODD_KEY not in text and quote(ODD_KEY, safe="") not in text
    assert text.startswith('{"seen": "Bearer ***", "again": "***"')
    assert ODD_KEY not in str(info.value)


def test_an_unusable_payload_dir_keeps_the_format_error(sandbox, tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    sandbox.faults.add(Fault("malformed", provider="fal", path="/v1/models"))
    core = _fal_core(sandbox, payload_dir=blocker / "payloads")
    with core, pytest.raises(ResponseFormatError) as info:
        core.get_json("/models")
    assert info.value.saved_to is None
    assert "body is not valid JSON" in str(info.value)
    assert "; payload not saved (" in str(info.value)
