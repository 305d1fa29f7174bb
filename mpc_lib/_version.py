"""The installed package's version, in a leaf module both the root and `http` can import."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("mpc-workbench")
except PackageNotFoundError:  # a source tree on sys.path without `pip install`
    __version__ = "0+unknown"
