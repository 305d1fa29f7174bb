"""What a health check says: one row per check, and the report that gathers them."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, computed_field, field_serializer

from ..models import MpcModel, Number

__all__ = ["EXIT_CODES", "STATUS_ORDER", "HealthReport", "HealthRow", "Status"]

# ok and warn and fail as monitoring plugins know them; skip = the thing is not configured.
Status = Literal["ok", "warn", "fail", "skip"]
STATUS_ORDER: dict[str, int] = {"skip": 0, "ok": 0, "warn": 1, "fail": 2}
# The monitoring-plugin convention (Nagios/Icinga): 0 ok, 1 warning, 2 critical, 3 unknown.
EXIT_CODES = {"ok": 0, "warn": 1, "fail": 2, "unknown": 3}


class HealthRow(MpcModel):
    """One check's verdict: status, how long it took, why, and the numbers behind it."""

    model_config = ConfigDict(frozen=True)

    check: str
    group: str
    status: Status
    reason: str
    latency_s: Number | None = None
    metrics: dict[str, Number] = Field(default_factory=dict)

    @field_serializer("latency_s")
    def _to_the_millisecond(self, latency_s: Number | None) -> Number | None:
        return None if latency_s is None else round(latency_s, 3)


class HealthReport(MpcModel):
    """Every row of one `mpc health`, the time it ran, and the overall status.

    Its JSON is the one object `mpc health --json` prints and the history keeps.
    """

    model_config = ConfigDict(frozen=True)

    checked_at: str
    duration_s: float
    sources: dict[str, str] = Field(default_factory=dict)
    rows: list[HealthRow]

    @computed_field
    @property
    def status(self) -> Literal["ok", "warn", "fail"]:
        """The worst row: fail over warn over ok (a skipped row counts as ok)."""
        worst = max((STATUS_ORDER[row.status] for row in self.rows), default=0)
        return ("ok", "warn", "fail")[worst]

    @field_serializer("duration_s")
    def _to_the_millisecond(self, duration_s: float) -> float:
        return round(duration_s, 3)

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
