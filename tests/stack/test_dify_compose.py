"""Dify's services in compose/compose.yaml against Dify 1.13.3's official compose file.

The sandbox shares an internal network with the SSRF proxy alone and is reached through the
proxy's port 8194; worker beat runs; every healthcheck is the official file's or says why
not.  Nothing here can run a Dify container (no registry), so these check what compose
resolves and what compose/dify/squid.conf says.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from stackhelp import REPO

from mpc_lib.stack import ComposeService, StackModel, load_stack_model

COMPOSE = REPO / "compose" / "compose.yaml"
SQUID = REPO / "compose" / "dify" / "squid.conf"

# The probes of Dify 1.13.3's docker/docker-compose.yaml, with our service names for theirs
# (db_postgres -> dify-db...), as compose resolves them ("60s" reads "1m0s").  A service
# whose x-mpc says "as upstream" must carry exactly this; those Dify gives none are absent.
_CELERY_PING = ["CMD-SHELL", "celery -A celery_healthcheck.celery inspect ping"]
UPSTREAM: dict[str, dict[str, Any]] = {
    "dify-api": {
        "test": ["CMD", "curl", "-f", "http://localhost:5001/health"],
        "interval": "30s",
        "timeout": "5s",
        "retries": 3,
        "start_period": "30s",
    },
    "dify-worker": {
        "test": _CELERY_PING,
        "interval": "30s",
        "timeout": "30s",
        "retries": 3,
        "start_period": "1m0s",
        "disable": True,
    },
    "dify-worker-beat": {
        "test": _CELERY_PING,
        "interval": "30s",
        "timeout": "30s",
        "retries": 3,
        "start_period": "1m0s",
        "disable": True,
    },
    "dify-db": {
        "test": ["CMD", "pg_isready", "-h", "dify-db", "-U", "postgres", "-d", "dify"],
        "interval": "1s",
        "timeout": "3s",
        "retries": 60,
    },
    "dify-redis": {"test": ["CMD-SHELL", "redis-cli -a ${REDIS_PASSWORD} ping | grep -q PONG"]},
    "dify-sandbox": {"test": ["CMD", "curl", "-f", "http://localhost:8194/health"]},
}


@pytest.fixture(scope="module")
def model() -> StackModel:
    return load_stack_model(COMPOSE)


def _dify(model: StackModel) -> dict[str, ComposeService]:
    return {svc.name: svc for svc in model.for_profiles(["dify"])}


def test_worker_beat_is_the_worker_in_beat_mode(model: StackModel) -> None:
    services = _dify(model)
    worker, beat = services["dify-worker"], services["dify-worker-beat"]
    assert beat.image == worker.image == services["dify-api"].image
    assert beat.raw["environment"]["MODE"] == "beat"
    assert worker.raw["environment"]["MODE"] == "worker"
    same = {key: value for key, value in worker.raw["environment"].items() if key != "MODE"}
    assert {key: value for key, value in beat.raw["environment"].items() if key != "MODE"} == same
    assert beat.raw["depends_on"] == worker.raw["depends_on"]
    assert beat.networks == worker.networks == ("stack",)
    assert beat.restart == "unless-stopped"


def test_the_sandbox_shares_an_internal_network_with_the_proxy_alone(model: StackModel) -> None:
    assert model.internal_networks == ("dify-ssrf",)
    members = {svc.name for svc in model.services.values() if "dify-ssrf" in svc.networks}
    assert members == {"dify-sandbox", "dify-ssrf-proxy"}
    sandbox, proxy = model.services["dify-sandbox"], model.services["dify-ssrf-proxy"]
    assert sandbox.networks == ("dify-ssrf",) and not sandbox.ports
    # LiteLLM, MPC-API, the databases and Redis are all on networks the sandbox is not on
    for name in ("litellm", "mpc-api", "mpc-sandbox", "dify-db", "dify-redis", "dify-api"):
        assert not set(model.services[name].networks) & set(sandbox.networks), name
    # the proxy reaches out (the stack network) and starts after the sandbox, again with it
    assert set(proxy.networks) == {"stack", "dify-ssrf"}
    assert proxy.raw["depends_on"]["dify-sandbox"]["restart"] is True
    env = sandbox.raw["environment"]
    assert env["HTTP_PROXY"] == env["HTTPS_PROXY"] == "http://dify-ssrf-proxy:3128"
    assert env["SANDBOX_PORT"] == "8194"


def test_code_execution_goes_through_the_proxy_to_the_sandbox(model: StackModel) -> None:
    for name in ("dify-api", "dify-worker", "dify-worker-beat"):
        env = model.services[name].raw["environment"]
        assert env["CODE_EXECUTION_ENDPOINT"] == "http://dify-ssrf-proxy:8194", name
        assert env["SSRF_PROXY_HTTP_URL"] == "http://dify-ssrf-proxy:3128", name
    lines = [line.split("#")[0].strip() for line in SQUID.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    assert "http_port 3128" in lines
    assert "http_port 8194 accel vhost name=sandbox_accel" in lines
    assert "acl to_sandbox myportname sandbox_accel" in lines
    peer = [line for line in lines if line.startswith("cache_peer ")]
    assert peer == [
        "cache_peer dify-sandbox parent 8194 0 no-query no-digest originserver name=sandbox"
    ]
    # port 8194 goes to the sandbox and nowhere else; nothing else goes to the sandbox
    assert lines.index("cache_peer_access sandbox allow to_sandbox") < lines.index(
        "cache_peer_access sandbox deny all"
    )
    assert "never_direct allow to_sandbox" in lines
    # squid takes the first http_access that matches: the sandbox's port first, then the
    # refusal of private destinations before anything is allowed, and a final deny
    access = [line for line in lines if line.startswith("http_access ")]
    assert access[:2] == ["http_access allow to_sandbox localnet", "http_access deny to_sandbox"]
    assert access.index("http_access deny internal_dst") < access.index(
        "http_access allow localnet"
    )
    assert access[-1] == "http_access deny all"
    internal = next(line for line in lines if line.startswith("acl internal_dst dst "))
    for block in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"):
        assert block in internal.split(), block


def test_every_dify_healthcheck_is_upstreams_or_says_why(model: StackModel) -> None:
    for name, svc in _dify(model).items():
        if svc.one_shot:
            assert svc.healthcheck is None and svc.healthcheck_note is None, name
            continue
        note = " ".join(str(svc.healthcheck_note or "").split())
        if note == "as upstream":
            assert svc.healthcheck == UPSTREAM[name], name
        else:
            assert re.fullmatch(r"(ours|disabled): .{20,}", note), (name, note)
        if svc.healthcheck_disabled:
            # disabled only where Dify disables it, and then Dify's own probe
            assert note.startswith("disabled: as in Dify's compose"), name
            assert svc.healthcheck == UPSTREAM[name], name
        elif name not in UPSTREAM:
            assert note.startswith("ours: Dify's compose has none"), name


def test_the_web_probe_asks_the_address_next_listens_on(model: StackModel) -> None:
    web = model.services["dify-web"]
    assert web.raw["environment"]["HOSTNAME"] == "0.0.0.0"
    assert "http://127.0.0.1:3000/" in " ".join(web.healthcheck["test"])
    nginx = model.services["dify-nginx"]
    assert nginx.raw["depends_on"]["dify-web"]["condition"] == "service_healthy"
