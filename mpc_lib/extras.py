"""Optional dependencies: the one table of install hints, and `require` to import on use."""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ConfigError

__all__ = ["INSTALL_HINTS", "install_hint", "require"]

# Extra (as pyproject.toml names it) -> what installs it; tests check both agree.
INSTALL_HINTS: dict[str, str] = {
    "api": "pip install 'mpc-workbench[api]'",
    "gateway": "pip install 'mpc-workbench[gateway]'",
    "notebooks": "pip install 'mpc-workbench[notebooks]'",
    "schedule": "pip install 'mpc-workbench[schedule]'",
    "spec": "pip install 'mpc-workbench[spec]'",
    "stack": "pip install 'mpc-workbench[stack]'",
}


def install_hint(extra: str) -> str:
    """The command that installs `extra`; ValueError for an extra the package lacks."""
    try:
        return INSTALL_HINTS[extra]
    except KeyError:
        known = ", ".join(INSTALL_HINTS)
        raise ValueError(f"unknown extra {extra!r}; known: {known}") from None


def require(module: str, feature: str, extra: str = "notebooks") -> Any:
    """Import `module`, or raise ConfigError saying which extra `feature` needs."""
    hint = install_hint(extra)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{feature} need {exc.name or module}, which is not installed: {hint}"
        ) from None
