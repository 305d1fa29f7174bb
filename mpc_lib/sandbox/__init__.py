"""Loopback emulators of the FAL Platform API and CometAPI, for tests, notebooks and offline runs.

with Sandbox() as sb:
    sb.fal_url, sb.fal_key        # point a FAL client here
    sb.faults.add(Fault("rate_limit", provider="fal"))
"""

from __future__ import annotations

from .data import SandboxData
from .faults import Fault, FaultPlan
from .runner import Sandbox

__all__ = ["Fault", "FaultPlan", "Sandbox", "SandboxData"]
