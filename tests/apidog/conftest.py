"""Fixtures for the Apidog tests: settings that point at the session sandbox's Apidog emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpc_lib.config import Settings
from mpc_lib.sandbox import Sandbox
from mpc_lib.sandbox.apidog import SANDBOX_PROJECT_ID


@pytest.fixture
def apidog_settings(sandbox: Sandbox, tmp_path: Path) -> Settings:
    """Settings that reach the session's Apidog emulator as if it were the live API."""
    return Settings(
        outputs_dir=tmp_path / "outputs",
        apidog_token=sandbox.key("apidog"),
        apidog_base_url=sandbox.url("apidog"),
        apidog_project_id=SANDBOX_PROJECT_ID,
    )


@pytest.fixture
def seed_spec_or_broken(shared_dir_or_none: Path | None, tmp_path: Path) -> Path:
    """The old hub's spec when ../shared is there, else a hub spec with a path FAL lacks."""
    import json

    if shared_dir_or_none is not None:
        seed = shared_dir_or_none / "seed-data" / "api-hub.oas.json"
        if seed.is_file():
            return seed
    hub = Path(__file__).resolve().parents[2] / "openapi" / "api-hub.oas.json"
    spec = json.loads(hub.read_text())
    spec["paths"]["/fal/models"] = spec["paths"].pop("/models")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(spec))
    return broken


@pytest.fixture
def shared_dir_or_none() -> Path | None:
    """../shared when present (this fixture never skips)."""
    path = Path(__file__).resolve().parents[2].parent / "shared"
    return path if path.is_dir() else None
