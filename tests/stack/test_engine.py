"""The python-on-whales wrapper and the mode choice, against this machine's real engine CLIs.

Here the docker CLI exists without a daemon (and podman is absent), so every engine
call must end in one clear EngineUnavailable, and `auto` must choose local mode for the
core.  Where an engine does answer, these tests skip: bringing real images up is not
something CI can do without a registry.
"""

from __future__ import annotations

import shutil

import pytest

from mpc_lib.errors import ConfigError, EngineUnavailable
from mpc_lib.stack import ComposeStack, StackPaths, choose_mode, detect_engine, init_env

pytest.importorskip("python_on_whales")


@pytest.fixture
def no_engine() -> None:
    chosen, _probes = detect_engine()
    if chosen is not None:
        pytest.skip(f"{chosen} answers here")


def test_auto_runs_the_core_locally_and_says_why(no_engine: None) -> None:
    mode, reason = choose_mode("auto", ["core"])
    assert mode == "local"
    assert reason.startswith("no container engine answers (docker: ")
    assert reason.endswith("local mode for the core")


def test_auto_refuses_profiles_beyond_the_core_without_an_engine(no_engine: None) -> None:
    with pytest.raises(EngineUnavailable, match="dify, langflow need a container engine") as err:
        choose_mode("auto", ["core", "dify", "langflow"])
    assert err.value.exit_code == 4


def test_local_mode_is_the_core_only() -> None:
    with pytest.raises(ConfigError, match="local mode runs only the core; activepieces"):
        choose_mode("local", ["core", "activepieces"])
    assert choose_mode("podman", ["dify"]) == ("podman", "podman, as asked")
    with pytest.raises(ConfigError, match="expected auto, local, docker or podman"):
        choose_mode("kubernetes", ["core"])


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


def test_podman_absent_is_engine_unavailable(paths: StackPaths) -> None:
    if shutil.which("podman") is not None:
        pytest.skip("podman is installed here")
    init_env(paths.template, paths.env_file)
    with pytest.raises(EngineUnavailable, match="podman is not installed"):
        ComposeStack(paths, ("core",), "podman").status()
