"""Run facts: what a notebook reports about its run (e.g. the sources it used), read back after.

A notebook displays an object whose mime bundle carries `RUN_FACTS_MIME` (as
scrapbook's `glue` does); `run_facts()` collects those from the executed notebook,
so the manifest and the CLI can say which source a run used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RUN_FACTS_MIME", "run_facts"]

RUN_FACTS_MIME = "application/vnd.mpc.run-facts+json"


def run_facts(nb: Any) -> dict[str, Any]:
    """Every fact the executed notebook displayed, later ones winning (`sources` are merged)."""
    facts: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get(RUN_FACTS_MIME)
            if not isinstance(data, dict):
                continue
            for name, value in data.items():
                if isinstance(value, dict) and isinstance(facts.get(name), dict):
                    facts[name] = {**facts[name], **value}
                else:
                    facts[name] = value
    return facts
