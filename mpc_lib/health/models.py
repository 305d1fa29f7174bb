"""What a health check says: one row per check, and the report that gathers them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["EXIT_CODES", "STATUS_ORDER", "HealthReport", "HealthRow", "Status"]

# ok and warn and fail as monitoring plugins know them; skip = the thing is not configured.
Status = Literal["ok", "warn", "fail", "skip"]
STATUS_ORDER: dict[str, int] = {"skip": 0, "ok": 0, "warn": 1, "fail": 2}
# The monitoring-plugin convention (Nagios/Icinga): 0 ok, 1 warning, 2 critical, 3 unknown.
EXIT_CODES = {"ok": 0, "warn": 1, "fail": 2, "unknown": 3}


@dataclass(frozen=True)
class HealthRow:
    """One check's verdict: status, how long it took, why, and the numbers behind it."""

    check: str
    group: str
    status: Status
    reason: str
    latency_s: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The row as JSON-ready data (latency rounded to the millisecond)."""
        data = asdict(self)
        data["latency_s"] = None if self.latency_s is None else round(self.latency_s, 3)
        return data


@dataclass(frozen=True)
class HealthReport:
    """Every row of one `mpc health`, the time it ran, and the overall status."""

    checked_at: str
    duration_s: float
    rows: list[HealthRow]
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> Literal["ok", "warn", "fail"]:
        """The worst row: fail over warn over ok (a skipped row counts as ok)."""
        worst = max((STATUS_ORDER[row.status] for row in self.rows), default=0)
        return ("ok", "warn", "fail")[worst]

    def exit_code(self, *, warn_ok: bool = False) -> int:
        """0 all ok, 1 a warning (0 with `warn_ok`), 2 a failure."""
        status = self.status
        if status == "warn" and warn_ok:
            return 0
        return EXIT_CODES[status]

    def row(self, check: str) -> HealthRow:
        """The row of one check; KeyError names the checks there are."""
        for row in self.rows:
            if row.check == check:
                return row
        raise KeyError(f"no check {check!r}; checks: {', '.join(r.check for r in self.rows)}")

    def to_json(self) -> dict[str, Any]:
        """The one object `mpc health --json` prints."""
        return {
            "status": self.status,
            "checked_at": self.checked_at,
            "duration_s": round(self.duration_s, 3),
            "sources": self.sources,
            "rows": [row.to_json() for row in self.rows],
        }
