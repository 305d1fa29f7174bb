"""The CLI under careless input (issue 17, items 9-13): each probe as a row of command ->
exit code -> the one error line, and no row prints the key it was given.

9 a `.env` line that is not NAME=value, 10 a URL setting that does not parse, 11 a port
taken before `stack up --local`, 12 `api serve`'s order (checks, port, then banner), health's
usage errors and the missing registry, 13 health's options.  Health's retries and its
MPC-API row are tests/health's; the stack's cleanup is tests/stack/test_local.py's.
"""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import mpc

SECRET = "fal-supersecret-123456"
SPEC = str(Path(__file__).resolve().parents[2] / "openapi" / "api-hub.oas.json")
BAD_PORT = "http://127.0.0.1:abc"
NOT_A_PORT = "port 'abc' is not a number from 1 to 65535"
NEEDS_LITELLM = pytest.mark.skipif(
    importlib.util.find_spec("litellm") is None, reason="local mode needs the gateway extra"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another socket listens on for the whole test."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield int(held.getsockname()[1])


def _env_file(text: str) -> Callable[[Path, int], dict[str, str]]:
    def setup(tmp: Path, _busy: int) -> dict[str, str]:
        (tmp / ".env").write_text(text, encoding="utf-8")
        return {}

    return setup


def _env(**values: str) -> Callable[[Path, int], dict[str, str]]:
    return lambda _tmp, _busy: values


def _busy_api_port(_tmp: Path, busy: int) -> dict[str, str]:
    free = _free_port()
    return {
        "MPC_API_URL": f"http://127.0.0.1:{busy}",
        "MPC_GATEWAY_URL": f"http://127.0.0.1:{free}",
    }


Setup = Callable[[Path, int], dict[str, str]]
# (id, argv, setup, exit code, text of the error line); `usage` rows are typer's own usage
# errors, whose box item 18 (another change) makes one line.
ROWS: list[Any] = [
    ("env line with a key", ("sync",), _env_file(f"A=1\nFAL_KEY: {SECRET}\n"), 2,
     ".env:2: expected NAME=value (line starts 'FAL_KEY')"),
    ("env unterminated quote", ("sync",), _env_file(f'FAL_KEY="{SECRET}\n'), 2,
     '.env:1: FAL_KEY: unterminated " quote'),
    ("env key alone", ("sync",), _env_file(f"{SECRET}\n"), 2, ".env:1: expected NAME=value"),
    ("gateway url", ("sync", "--source", "gateway"),
     _env(MPC_GATEWAY_URL=BAD_PORT, LITELLM_MASTER_KEY=SECRET), 2,
     f"MPC_GATEWAY_URL='{BAD_PORT}': {NOT_A_PORT}"),
    ("fal url", ("sync", "--providers", "fal"), _env(MPC_FAL_BASE_URL=BAD_PORT, FAL_KEY=SECRET), 2,
     f"MPC_FAL_BASE_URL='{BAD_PORT}': {NOT_A_PORT}"),
    ("comet url with a password", ("sync",),
     _env(MPC_COMET_BASE_URL=f"http://user:{SECRET}@127.0.0.1:abc/v1"), 2,
     f"MPC_COMET_BASE_URL='http://***@127.0.0.1:abc/v1': {NOT_A_PORT}"),
    ("apidog url", ("sync",), _env(MPC_APIDOG_BASE_URL="https://api.apidog.com:99999"), 2,
     "MPC_APIDOG_BASE_URL='https://api.apidog.com:99999': port '99999' is not a number"),
    ("url without a host", ("sync",), _env(MPC_GATEWAY_URL="http://:4000"), 2,
     "MPC_GATEWAY_URL='http://:4000': the URL names no host"),
    ("health: a bad url is UNKNOWN", ("health",), _env(MPC_GATEWAY_URL=BAD_PORT), 3,
     f"MPC_GATEWAY_URL='{BAD_PORT}': {NOT_A_PORT}"),
    ("api serve: a bad url", ("api", "serve"),
     _env(MPC_API_URL=BAD_PORT, LITELLM_MASTER_KEY=SECRET), 2,
     f"MPC_API_URL='{BAD_PORT}': {NOT_A_PORT}"),
    pytest.param(("stack", "up", "--local", "--no-smoke"), _busy_api_port, 1,
                 "is in use by pid", marks=NEEDS_LITELLM, id="stack up: a port taken"),
    ("api serve: no registry", ("api", "serve"), _env(LITELLM_MASTER_KEY=SECRET), 5,
     "no registry yet; run `mpc sync` first"),
    ("pricing: no registry", ("pricing", "estimate"), _env(), 5,
     "no registry yet; run `mpc sync` first"),
    ("gateway config: no registry", ("gateway", "config"), _env(), 5,
     "no registry yet; run `mpc sync` first"),
    ("spec conform: no registry", ("spec", "conform", SPEC, "--data", "registry"), _env(), 5,
     "--data registry: "),
    ("health: unknown option", ("health", "--bogus"), _env(), 3, "usage:No such option: --bogus"),
    ("health: a timeout that is no number", ("health", "--timeout", "abc"), _env(), 3,
     "usage:'abc' is not a valid float"),
    ("health: too many retries", ("health", "--retries", "9"), _env(), 3,
     "usage:9 is not in the range 0<=x<=5"),
    ("health: an endless timeout", ("health", "--timeout", "inf"), _env(), 3,
     "--timeout inf: must be a finite number more than 0"),
]  # fmt: skip


def _rows() -> list[Any]:
    return [row if isinstance(row, type(pytest.param())) else pytest.param(*row[1:], id=row[0])
            for row in ROWS]  # fmt: skip


@pytest.mark.parametrize(("args", "setup", "code", "message"), _rows())
def test_careless_input_gets_its_exit_code_and_one_line(
    tmp_path: Path, busy_port: int, args: tuple[str, ...], setup: Setup, code: int, message: str
) -> None:
    env = setup(tmp_path, busy_port)
    result = mpc(*args, env={"MPC_HOME": str(tmp_path), **env}, cwd=tmp_path)
    shown = result.stdout + result.stderr
    assert result.returncode == code, result.stderr[-2000:]
    assert SECRET not in shown and "Traceback" not in shown
    if message.startswith("usage:"):
        assert message.removeprefix("usage:") in result.stderr
        return
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr
    assert message in errors[0]


@NEEDS_LITELLM
def test_stack_up_with_a_port_taken_starts_nothing(tmp_path: Path, busy_port: int) -> None:
    """Item 11: the port of the second service is taken; the first one used to start first."""
    from mpc_lib.config import Settings
    from mpc_lib.stack import local_stack

    env = {"MPC_HOME": str(tmp_path), **_busy_api_port(tmp_path, busy_port)}
    try:
        result = mpc("stack", "up", "--local", "--no-smoke", env=env, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert f"error: mpc-api: port {busy_port} is in use" in result.stderr
        assert local_stack(Settings(home=tmp_path)).recorded() == []  # no pid file: none started
    finally:
        local_stack(Settings(home=tmp_path), grace_s=2).down()  # a regression's half stack


@pytest.mark.parametrize(
    ("env", "code", "message"),
    [
        ({"LITELLM_MASTER_KEY": SECRET, "MPC_API_URL": "busy"}, 1,
         "error: MPC-API cannot listen on 127.0.0.1:{port}: address already in use"),
        ({"LITELLM_MASTER_KEY": ""}, 2, "error: LITELLM_MASTER_KEY is not set"),
        ({"LITELLM_MASTER_KEY": SECRET, "MPC_API_URL": "http://0.0.0.0:{port}"}, 2,
         "error: MPC_API_KEY is not set: refusing to serve MPC-API on 0.0.0.0"),
    ],
    ids=["busy port", "no gateway key", "no key beyond loopback"],
)  # fmt: skip
def test_api_serve_prints_its_banner_only_once_everything_passed(
    gateway: Any, busy_port: int, env: dict[str, str], code: int, message: str
) -> None:
    """On a workbook MPC-API could serve (the session gateway's): each refusal is one line
    and its exit code, and no banner before it (uvicorn never starts)."""
    url = f"http://127.0.0.1:{busy_port}"
    env = {k: v.replace("busy", url).format(port=busy_port) for k, v in env.items()}
    result = mpc("api", "serve", env={"MPC_HOME": str(gateway.home), **env}, cwd=gateway.home)
    assert result.returncode == code, result.stderr
    assert result.stdout == ""  # no banner
    assert result.stderr.startswith(message.format(port=busy_port))
    assert SECRET not in result.stderr and len(result.stderr.strip().splitlines()) == 1
