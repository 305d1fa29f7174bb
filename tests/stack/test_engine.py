"""The python-on-whales wrapper and the mode choice, against this machine's real engine CLIs.

With no engine answering (the `no_engine` fixture hides this machine's: podman off PATH,
the docker CLI aimed at a socket nobody serves) every engine call must end in one clear
EngineUnavailable, and `auto` must choose local mode for the core.  Real containers are
tests/stack/test_containers.py's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mpc_lib.config import load_env_file
from mpc_lib.errors import ConfigError, EngineUnavailable
from mpc_lib.stack import (
    ComposeStack,
    StackPaths,
    choose_engine,
    choose_mode,
    init_env,
    validate_compose,
)
from mpc_lib.stack.compose import compose_environment

pytest.importorskip("python_on_whales")


def test_auto_runs_the_core_locally_and_says_why(no_engine: None, paths: StackPaths) -> None:
    mode, reason = choose_mode("auto", ["core"], paths)
    assert mode == "local"
    assert reason.startswith("no container engine answers (docker: ")
    assert reason.endswith("local mode for the core")


def test_auto_refuses_profiles_beyond_the_core_without_an_engine(
    no_engine: None, paths: StackPaths
) -> None:
    with pytest.raises(EngineUnavailable, match="dify, langflow need a container engine") as err:
        choose_mode("auto", ["core", "dify", "langflow"], paths)
    assert err.value.exit_code == 4


def test_auto_passes_over_podman_without_the_core_images(
    paths: StackPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Podman answers without a daemon wherever it is installed: an empty image store of its
    # own (CONTAINERS_STORAGE_CONF) is a machine where podman is there and nothing was built.
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed here")
    storage = tmp_path / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path / "graph"}"\n'
        f'runroot = "{tmp_path / "run"}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(storage))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
    choice = choose_engine(["core"], paths)
    assert choice.kind is None and choice.probes["podman"].reachable
    assert choice.reason.startswith("no container engine can run the core (docker: ")
    assert choice.reason.endswith(
        "; podman: answers, but the core's images are not built (mpc stack images))"
    )
    assert choose_mode("auto", ["core"], paths) == (
        "local", f"{choice.reason}: local mode for the core"
    )  # fmt: skip
    with pytest.raises(EngineUnavailable, match="dify need a container engine: no container"):
        choose_mode("auto", ["core", "dify"], paths)
    # Without the core there is nothing of ours to build: podman answering is enough.
    assert choose_engine(["dify"], paths).kind == "podman"


def test_local_mode_is_the_core_only(paths: StackPaths) -> None:
    with pytest.raises(ConfigError, match="local mode runs only the core; activepieces"):
        choose_mode("local", ["core", "activepieces"], paths)
    assert choose_mode("podman", ["dify"], paths) == ("podman", "podman, as asked")
    with pytest.raises(ConfigError, match="expected auto, local, docker or podman"):
        choose_mode("kubernetes", ["core"], paths)


def test_the_client_is_built_from_our_files_and_plugin(paths: StackPaths) -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI")
    init_env(paths.template, paths.env_file)
    stack = ComposeStack(paths, ("core", "langflow"), "docker")
    argv = [str(part) for part in stack.client.client_config.docker_compose_cmd]
    assert argv[argv.index("--file") + 1] == str(paths.compose_file)
    assert argv[argv.index("--env-file") + 1] == str(paths.env_file)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--profile"] == ["core", "langflow"]
    assert argv[argv.index("--project-name") + 1] == "mpc"
    if "--config" in argv:  # no system plugin: ours, linked under outputs/stack/docker
        assert argv[argv.index("--config") + 1] == str(paths.docker_config)
        assert (paths.docker_config / "cli-plugins" / "docker-compose").exists()


def test_compose_env_beats_the_callers_variables(
    paths: StackPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A notebook kernel carries blank secrets (so that its own .env cannot speak for the
    # caller), and a shell may export LITELLM_MASTER_KEY for the local gateway: neither may
    # reach compose, which would let them beat compose/.env.
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI")
    init_env(paths.template, paths.env_file)
    keys = load_env_file(paths.env_file)
    monkeypatch.setenv("LITELLM_MASTER_KEY", "")
    monkeypatch.setenv("MPC_API_KEY", "exported-for-something-else")
    environment = compose_environment(paths.env_file)
    assert "LITELLM_MASTER_KEY" not in environment and "MPC_API_KEY" not in environment
    assert environment["PATH"] == os.environ["PATH"]
    assert validate_compose(paths.compose_file, paths.env_file, ["core"])  # no "missing a value"
    stack = ComposeStack(paths, ("core",), "docker")
    resolved = stack.client.compose.config(return_json=True)  # the CLI, plugin and all
    litellm = resolved["services"]["litellm"]["environment"]
    api = resolved["services"]["mpc-api"]["environment"]
    assert litellm["LITELLM_MASTER_KEY"] == keys["LITELLM_MASTER_KEY"]
    assert api["MPC_API_KEY"] == keys["MPC_API_KEY"]


@pytest.mark.parametrize("verb", ["status", "up", "down", "restart"])
def test_every_verb_maps_a_missing_daemon_to_engine_unavailable(
    no_engine: None, paths: StackPaths, verb: str
) -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI")
    init_env(paths.template, paths.env_file)
    stack = ComposeStack(paths, ("core",), "docker")
    call = {
        "status": stack.status,
        "up": lambda: stack.up(timeout_s=5),
        "down": stack.down,
        "restart": stack.restart,
    }[verb]
    with pytest.raises(EngineUnavailable, match="the engine does not answer") as err:
        call()
    assert "Cannot connect to the Docker daemon" in str(err.value)
    assert err.value.exit_code == 4


def test_without_an_env_file_the_wrapper_asks_for_init(paths: StackPaths) -> None:
    with pytest.raises(ConfigError, match="run `mpc stack init`"):
        ComposeStack(paths, ("core",), "docker").status()


def test_podman_absent_is_engine_unavailable(no_engine: None, paths: StackPaths) -> None:
    init_env(paths.template, paths.env_file)
    with pytest.raises(EngineUnavailable, match="podman is not installed"):
        ComposeStack(paths, ("core",), "podman").status()
