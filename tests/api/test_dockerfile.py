"""compose/Dockerfile.mpc-api: an overridable base, a non-root user, `mpc api serve` on 3000."""

from __future__ import annotations

from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "compose" / "Dockerfile.mpc-api"


def test_the_dockerfile_serves_mpc_api_from_an_overridable_base() -> None:
    text = DOCKERFILE.read_text()
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert lines[0].startswith("ARG BASE_IMAGE=") and lines[1] == "FROM ${BASE_IMAGE}"
    assert "USER 10001" in lines
    assert lines[-1] == 'CMD ["mpc", "api", "serve", "--host", "0.0.0.0", "--port", "3000"]'
    assert "/health/liveliness" in text  # the healthcheck needs no key
    for copied in ("pyproject.toml", "mpc_lib", "notebooks"):
        assert (DOCKERFILE.parents[1] / copied).exists(), copied
