"""The core stack in real containers: podman, images built offline, the whole chain.

Marked `containers` (deselected by default; `.ci/run` runs `pytest -m containers` after the
suite).  One test walks the phases in order and prints each one's time: build (cached
after the first run), `mpc stack up --engine podman`, a chat through MPC-API's container
to the LiteLLM container to the sandbox upstream container (plain and streamed), a FAL
image through the same chain, status and logs, the stack_bringup notebook on its defaults
(`auto` finds podman), LiteLLM stopped and started again (MPC-API
says so and recovers without a restart), and `mpc stack down`, after which nothing of the
project is left.  It skips without podman, debootstrap or the docker CLI unless CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_runner import mpc
from stackhelp import REPO

from mpc_lib.config import load_env_file
from mpc_lib.stack import build_images
from mpc_lib.stack.images import ROOTFS_IMAGE, ImageBuild, _Builder
from mpc_lib.stack.podman import Podman

pytestmark = pytest.mark.containers

PROJECT = "mpc"
_LABEL = f"label=com.docker.compose.project={PROJECT}"


def _missing_tools() -> list[str]:
    return [tool for tool in ("podman", "debootstrap", "docker") if shutil.which(tool) is None]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Phases:
    """Each phase's time, printed as it ends (the README quotes them)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.times: dict[str, float] = {}

    def __call__(self, name: str, since: float) -> None:
        self.times[name] = time.monotonic() - since
        print(f"phase {name}: {self.times[name]:.1f} s", flush=True)


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    missing = _missing_tools()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs {', '.join(missing)} for the container test")
        pytest.skip(f"no {', '.join(missing)}")
    yield Podman(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                 / "mpc-workbench" / "images")  # fmt: skip


def _project_leftovers(podman: Podman) -> dict[str, list[str]]:
    found = {}
    for kind, argv in (
        ("containers", ["ps", "-aq", "--filter", _LABEL]),
        ("networks", ["network", "ls", "-q", "--filter", _LABEL]),
        ("volumes", ["volume", "ls", "-q", "--filter", _LABEL]),
        ("pods", ["pod", "ls", "-q", "--filter", f"name={PROJECT}"]),
    ):
        found[kind] = podman.run(argv).stdout.split()
    return found


def _chat(base: str, key: str, *, stream: bool = False) -> httpx.Response:
    body = {"model": "text_general_draft", "messages": [{"role": "user", "content": "Say hi"}]}
    if stream:
        body["stream"] = True
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{base}/v1/chat/completions", json=body, headers=headers, timeout=60)


def _until(check, *, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(1.0)


def test_core_stack_in_podman(tmp_path: Path, podman: Podman) -> None:
    phases = Phases()
    workbook = tmp_path / "wb"
    workbook.mkdir()
    (workbook / "pyproject.toml").write_text("[tool.mpc]\n", encoding="utf-8")
    shutil.copytree(REPO / "compose", workbook / "compose", ignore=shutil.ignore_patterns(".env"))
    env = {"MPC_HOME": str(workbook)}

    since = time.monotonic()
    report = build_images(REPO, install=False)
    assert set(report.images) == {"litellm", "mpc-api", "workbook"}
    phases("build", since)

    since = time.monotonic()
    assert mpc("sync", env=env, cwd=workbook).returncode == 0
    init = mpc("stack", "init", env=env, cwd=workbook)
    assert init.returncode == 0, init.stderr
    env_file = workbook / "compose" / ".env"
    text = env_file.read_text(encoding="utf-8")
    api_port, gw_port = _free_port(), _free_port()
    text = text.replace("MPC_API_PORT=3000", f"MPC_API_PORT={api_port}")
    text = text.replace("LITELLM_PORT=4000", f"LITELLM_PORT={gw_port}")
    env_file.write_text(text, encoding="utf-8")
    config = (workbook / "outputs" / "stack" / "litellm.yaml").read_text(encoding="utf-8")
    assert "127.0.0.1" not in config and "http://mpc-sandbox:8801/run" in config
    # auto chooses podman now that it holds the core's images (docker aimed at nothing).
    no_docker = {**env, "DOCKER_HOST": f"unix://{tmp_path / 'no-docker.sock'}"}
    doctor = mpc("stack", "doctor", "--json", env=no_docker, cwd=workbook)
    assert json.loads(doctor.stdout)["mode"] == "podman", doctor.stdout
    rows = {row["check"]: row for row in json.loads(doctor.stdout)["rows"]}
    assert rows["gateway-config"]["status"] == "pass", rows["gateway-config"]
    assert rows["engine"]["status"] == "pass" and "podman" in rows["engine"]["detail"]
    phases("init", since)

    keys = load_env_file(env_file)
    base = f"http://127.0.0.1:{api_port}"
    try:
        since = time.monotonic()
        up = mpc("stack", "up", "--engine", "podman", "--profiles", "core", "--json",
                 env=env, cwd=workbook)  # fmt: skip
        assert up.returncode == 0, up.stderr
        run = json.loads(up.stdout)
        assert run["mode"] == "podman" and run["smoke"]["ok"], run
        services = {row["service"] for row in run["services"]}
        assert services == {"litellm", "mpc-api", "mpc-sandbox"}
        phases("up", since)

        since = time.monotonic()
        plain = _chat(base, keys["MPC_API_KEY"])
        assert plain.status_code == 200, plain.text
        assert plain.json()["choices"][0]["message"]["content"].startswith("Sandbox reply")
        streamed = _chat(base, keys["MPC_API_KEY"], stream=True)
        assert streamed.status_code == 200
        assert "data: [DONE]" in streamed.text and "Sandbox" in streamed.text
        image = httpx.post(
            f"{base}/v1/images/generations",
            json={"model": "fal-ai/flux/dev", "prompt": "a lighthouse", "size": "1024x1024"},
            headers={"Authorization": f"Bearer {keys['MPC_API_KEY']}"},
            timeout=60,
        )
        assert image.status_code == 200, image.text
        assert image.json()["data"][0]["url"].startswith("http://mpc-sandbox:8801/")
        assert float(image.headers["x-mpc-cost-usd"]) > 0
        phases("calls", since)

        since = time.monotonic()
        status = mpc("stack", "status", "--engine", "podman", "--json", env=env, cwd=workbook)
        assert status.returncode == 0, status.stderr
        states = {row["service"]: row["state"] for row in json.loads(status.stdout)["services"]}
        assert states == {"litellm": "healthy", "mpc-api": "healthy", "mpc-sandbox": "healthy"}
        logs = mpc("stack", "logs", "litellm", "--engine", "podman", env=env, cwd=workbook)
        assert logs.returncode == 0 and "Uvicorn running" in logs.stdout, logs.stderr
        phases("status+logs", since)

        since = time.monotonic()
        # The bring-up notebook with its default parameters, on the stack that is up: `auto`
        # finds podman holding the images, compose finds every container running.
        notebook = mpc("run", "stack_bringup", "--json", env=no_docker, cwd=workbook)
        assert notebook.returncode == 0, notebook.stderr
        html = Path(json.loads(notebook.stdout)["outputs"]["html"]).read_text(encoding="utf-8")
        assert "mode: podman (podman answers (server " in html and "chat via MPC-API" in html
        phases("notebook", since)

        since = time.monotonic()
        api_started = podman.run(
            ["inspect", "--format", "{{.State.StartedAt}}", f"{PROJECT}-mpc-api-1"]
        ).stdout
        podman.run(["stop", "-t", "5", f"{PROJECT}-litellm-1"])
        auth = {"Authorization": f"Bearer {keys['MPC_API_KEY']}"}
        health = httpx.get(f"{base}/health", headers=auth)
        assert health.status_code == 503, health.text
        down_chat = _chat(base, keys["MPC_API_KEY"])
        assert down_chat.status_code in (502, 503), down_chat.text
        assert "gateway" in down_chat.json()["error"]["message"].lower()
        podman.run(["start", f"{PROJECT}-litellm-1"])
        _until(lambda: httpx.get(f"{base}/health", headers=auth).status_code == 200,
               timeout_s=90, what="MPC-API's /health after LiteLLM is back")  # fmt: skip
        assert _chat(base, keys["MPC_API_KEY"]).status_code == 200
        assert podman.run(
            ["inspect", "--format", "{{.State.StartedAt}}", f"{PROJECT}-mpc-api-1"]
        ).stdout == api_started  # recovered without a restart
        phases("fault", since)
    finally:
        since = time.monotonic()
        down = mpc("stack", "down", "--engine", "podman", "--volumes", env=env, cwd=workbook)
        phases("down", since)
    assert down.returncode == 0, down.stderr
    assert _project_leftovers(podman) == {"containers": [], "networks": [], "volumes": [],
                                          "pods": []}  # fmt: skip
    assert not (workbook / "outputs" / "stack" / "litellm.yaml").read_text().count("127.0.0.1")
    print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.times.items()))



def test_a_rebuild_removes_the_image_it_replaced(tmp_path: Path, podman: Podman) -> None:
    """Each build of a tag leaves the one before untagged: removed by the builder (the
    workbook image is 0.9 GB), unless something else still names it."""
    build_images(REPO, install=False)  # the rootfs image this builds on (cached)
    ref = "localhost/mpc-workbench/rebuild-test:1"
    (tmp_path / "compose").mkdir()
    (tmp_path / "compose" / "Dockerfile.rebuild").write_text(
        f"FROM {ROOTFS_IMAGE}\nARG STAMP\nRUN echo $STAMP > /stamp\n", encoding="utf-8"
    )
    builder = _Builder(tmp_path, tmp_path / "cache", podman, (), "", None, ImageBuild())
    kept = "localhost/mpc-workbench/rebuild-test:kept"
    try:
        builder.build(ref, "Dockerfile.rebuild", tmp_path, {"STAMP": "one"})
        first = podman.image_id(ref)
        builder.build(ref, "Dockerfile.rebuild", tmp_path, {"STAMP": "two"})
        second = podman.image_id(ref)
        assert first and second and first != second
        assert podman.image_id(first) is None  # gone
        podman.run(["tag", second, kept])  # named elsewhere: kept
        builder.build(ref, "Dockerfile.rebuild", tmp_path, {"STAMP": "three"})
        assert podman.image_id(kept) == second and podman.image_id(ref) != second
    finally:
        for name in (ref, kept):
            subprocess.run([shutil.which("podman") or "podman", "rmi", "-f", name],
                           capture_output=True, check=False)  # fmt: skip
