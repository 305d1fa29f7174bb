"""Strict nbval without a second execution: an executed copy against the notebook's stored outputs.

`pytest --nbval` runs a notebook in a kernel of its own and compares each cell's outputs with
the stored ones.  The session already runs every workbook notebook once (`mpc run`, see
`headless_runs`), so this applies nbval's own comparison to that run's executed copy instead:
its `IPyNbCell.compare_outputs` (the keys it skips, streams coalesced, the sanitize rules of
notebooks/nbval_sanitize.cfg), cell by cell, honouring the NBVAL_* markers and tags as
`--nbval` does (strict: every cell is checked unless it says otherwise).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
from nbval.plugin import (
    IPyNbCell,
    coalesce_streams,
    find_comment_markers,
    find_metadata_tags,
    get_sanitize_patterns,
    nocolors,
)

__all__ = ["differences"]

# What nbval never compares (`IPyNbFile.skip_compare` without --nbdime, which sets it up in
# its constructor): metadata, tracebacks, counters, random widget ids and raster images.
_SKIP_COMPARE = (
    "metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
    "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg",
)  # fmt: skip


class _Cell:
    """What nbval's cell item reads when it compares outputs; its methods are nbval's own."""

    compare_outputs = IPyNbCell.compare_outputs
    format_output_compare = IPyNbCell.format_output_compare
    sanitize = IPyNbCell.sanitize
    colors = nocolors
    config = None

    def __init__(self, patterns: dict[str, str]) -> None:
        self.parent = SimpleNamespace(skip_compare=_SKIP_COMPARE, sanitize_patterns=patterns)
        # no pytest assertion rewriting here: nbval falls back to showing both outputs
        self.ihook = SimpleNamespace(pytest_assertrepr_compare=lambda **_: [])
        self.comparison_traceback: list[str] = []


def differences(stored: Path, executed: Path, sanitize: Path) -> list[str]:
    """How `executed` (a papermill run of `stored`) differs from the outputs stored in `stored`,
    one entry per failing cell, as nbval reports it; [] when strict nbval would pass."""
    patterns = dict(get_sanitize_patterns(sanitize.read_text(encoding="utf-8")))
    reference = _code_cells(nbformat.read(stored, as_version=4))
    ran = [
        cell
        for cell in _code_cells(nbformat.read(executed, as_version=4))
        if "injected-parameters" not in cell.metadata.get("tags", [])
    ]
    if [cell.source for cell in ran] != [cell.source for cell in reference]:
        return [f"{executed} is not a run of {stored}: their code cells differ"]
    found = []
    for number, (want, got) in enumerate(zip(reference, ran, strict=True)):
        options: dict[str, Any] = defaultdict(bool, find_metadata_tags(want.metadata))
        options.update(dict(find_comment_markers(want.source)))
        options.setdefault("check", True)
        if options["skip"]:
            continue
        if want.execution_count is None:  # a cell the reference never ran is not compared
            if want.outputs:
                found.append(f"Cell {number}: unrun reference cell has outputs")
            continue
        if not options["check"]:
            continue
        cell = _Cell(patterns)
        if not cell.compare_outputs(coalesce_streams(got.outputs), coalesce_streams(want.outputs)):
            shown = "\n".join(cell.comparison_traceback)
            ran = json.dumps(got.outputs, indent=1)[:2000]
            found.append(f"Cell {number}: outputs differ\n{shown}\nthe run's outputs: {ran}")
    return found


def _code_cells(notebook: Any) -> list[Any]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]
