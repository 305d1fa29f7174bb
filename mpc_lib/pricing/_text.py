"""Plain-text tables and numbers for the pricing reports' `summary()` (the CLI prints them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["money", "pct", "price", "table"]


def money(value: float | None, currency: str | None = None) -> str:
    """A cost with 4 decimals (cents and what lies under them), or `-` when unknown."""
    if value is None:
        return "-"
    text = f"{value:,.4f}"
    return f"{text} {currency}" if currency else text


def price(value: float | None) -> str:
    """A unit price with up to 6 significant digits, or `-` when missing."""
    return "-" if value is None else f"{value:.6g}"


def pct(value: float | None) -> str:
    """A signed percentage, or `-`."""
    return "-" if value is None else f"{value:+.1f}%"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, limit: int | None = None
) -> str:
    """Left-aligned columns separated by two spaces; `limit` cuts rows and says how many more."""
    shown = list(rows[:limit] if limit is not None else rows)
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in shown]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    if limit is not None and len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more (--json has them all)")
    return "\n".join(lines)
