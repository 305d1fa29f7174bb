"""Fixtures for the spec tests: the old hub's spec, FAL's spec, small specs written to disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from spec_fixtures import SpecWriter


@pytest.fixture
def write_spec(tmp_path: Path) -> SpecWriter:
    """Write a spec dict (JSON, indented) or raw text to tmp_path and return its path."""

    def write(spec: dict[str, Any] | str, name: str = "spec.json") -> Path:
        path = tmp_path / name
        text = spec if isinstance(spec, str) else json.dumps(spec, indent=2)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def seed_spec(shared_dir: Path) -> Path:
    """The old hub's spec in ../shared/seed-data (skips when absent)."""
    path = shared_dir / "seed-data" / "api-hub.oas.json"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return path


@pytest.fixture
def fal_full_spec(shared_dir: Path) -> Path:
    """FAL's published spec in ../shared/seed-data (skips when absent)."""
    path = shared_dir / "seed-data" / "fal_platform_openapi.json"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return path
