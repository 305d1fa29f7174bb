"""Loopback emulators of the FAL Platform API and CometAPI, for tests, notebooks and offline runs.

with Sandbox() as sb:
    sb.fal_url, sb.fal_key        # point a FAL client here
    sb.faults.add(Fault("rate_limit", provider="fal"))
    sb.set_modes(fal_pricing="strict", comet_odd_entries=True)
"""

from __future__ import annotations

from .data import KNOWN_MODELS, SandboxData
from .faults import Fault, FaultPlan
from .modes import SandboxModes
from .runner import Sandbox, served_url

__all__ = [
    "KNOWN_MODELS",
    "Fault",
    "FaultPlan",
    "Sandbox",
    "SandboxData",
    "SandboxModes",
    "served_url",
]
