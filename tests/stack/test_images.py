"""The offline image build's parts that need no engine: tags, Dockerfiles, podman's config."""

from __future__ import annotations

import tomllib

from stackhelp import REPO

from mpc_lib.stack.images import LITELLM_VERSION, core_images
from mpc_lib.stack.podman import containers_conf


def test_compose_images_override_runs_the_tags_the_build_makes() -> None:
    text = (REPO / "compose" / "compose.images.yaml").read_text(encoding="utf-8")
    refs = {spec.name: spec.local_ref for spec in core_images("0.1.0")}
    assert refs["litellm"] == f"localhost/mpc-workbench/litellm:{LITELLM_VERSION}"
    assert f"image: {refs['litellm']}" in text
    assert text.count("image: localhost/mpc-workbench/mpc-api:${MPC_VERSION:-0.1.0}") == 2
    assert ":latest" not in text


def test_litellm_is_the_version_pyproject_pins_and_compose_runs() -> None:
    with open(REPO / "pyproject.toml", "rb") as handle:
        gateway = tomllib.load(handle)["project"]["optional-dependencies"]["gateway"]
    assert f"litellm[proxy]=={LITELLM_VERSION}" in gateway
    compose = (REPO / "compose" / "compose.yaml").read_text(encoding="utf-8")
    assert f"ghcr.io/berriai/litellm:main-v{LITELLM_VERSION}" in compose


def test_every_dockerfile_takes_its_base_and_runs_as_a_user() -> None:
    for name in ("Dockerfile.mpc-api", "Dockerfile.workbook", "Dockerfile.litellm"):
        lines = [
            line.strip()
            for line in (REPO / "compose" / name).read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        assert lines[0].startswith("ARG BASE_IMAGE") and lines[1] == "FROM ${BASE_IMAGE}", name
        assert "USER 10001" in lines, name
        assert "ARG PIP_NO_INDEX" in lines and "ARG PIP_FIND_LINKS" in lines, name
    workbook = (REPO / "compose" / "Dockerfile.workbook").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["mpc", "run"]' in workbook and "notebooks" in workbook


def test_podman_config_uses_runc_and_bounded_ulimits() -> None:
    text = containers_conf()
    limits = dict(
        item.strip('" ').split("=", 1)
        for item in text.split("default_ulimits = [", 1)[1].split("]", 1)[0].split(",")
    )
    nofile, nproc = (int(limits[name].split(":")[0]) for name in ("nofile", "nproc"))
    assert 0 < nofile <= 65_536 and 0 < nproc <= 4_096
