"""FAL's own estimate of the FAL lines of a job mix, against ours.

`POST /models/pricing/estimate` answers one total per call, in one of two ways:
billing units (`unit_price`) or calls priced at FAL's history (`historical_api_price`).
When FAL's total and ours disagree beyond a cent, each endpoint is asked alone to say
where.  `fal_estimator` checks that the FAL the command reaches serves the registry's prices:
the live API for live prices, the FAL emulator over the same data for the sandbox's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    computed_field,
    field_serializer,
)

from ..catalog.fal import FalClient
from ..catalog.models import EstimateType
from ..config import Settings
from ..errors import MpcError
from ..models import MpcModel
from ..upstreams import Upstream
from . import _text
from .prices import PriceSource

__all__ = [
    "AGREEMENT_TOLERANCE",
    "ApiCheck",
    "CheckStatus",
    "EndpointCheck",
    "fal_estimator",
    "run_check",
]

# "Disagree beyond a cent": FAL's total and ours may differ by this much in the currency.
AGREEMENT_TOLERANCE = 0.01
# Beyond this many endpoints a disagreement is reported as a total only.
_MAX_LOCALISED = 50

CheckStatus = Literal["agree", "disagree", "skipped", "error"]


class EndpointCheck(MpcModel):
    """One FAL endpoint asked alone, to locate a disagreement."""

    model_config = ConfigDict(frozen=True)

    endpoint_id: str
    local: float
    api: float | None
    error: str | None = None

    @computed_field
    @property
    def difference(self) -> float | None:
        """API minus local."""
        return None if self.api is None else self.api - self.local

    @property
    def agrees(self) -> bool:
        """Within a cent."""
        diff = self.difference
        return diff is not None and abs(diff) <= AGREEMENT_TOLERANCE + 1e-9


class ApiCheck(MpcModel):
    """FAL's estimate of the FAL lines against ours, for one estimate type."""

    model_config = ConfigDict(frozen=True)

    estimate_type: str
    status: CheckStatus
    asked: str | None = None
    endpoints: int = 0
    local_total: float | None = None
    api_total: float | None = None
    currency: str | None = None
    reason: str | None = None
    # JSON: only the endpoints that disagree.
    per_endpoint: tuple[EndpointCheck, ...] = Field(default=(), serialization_alias="disagreeing")
    exit_code: int | None = Field(default=None, exclude=True)

    @computed_field
    @property
    def difference(self) -> float | None:
        """API total minus local total."""
        if self.api_total is None or self.local_total is None:
            return None
        return self.api_total - self.local_total

    @field_serializer("per_endpoint", mode="wrap")
    def _disagreeing(
        self, per_endpoint: tuple[EndpointCheck, ...], handler: SerializerFunctionWrapHandler
    ) -> Any:
        return handler(tuple(item for item in per_endpoint if not item.agrees))

    def summary(self) -> str:
        """One line, plus one per disagreeing endpoint."""
        head = f"FAL estimate ({self.estimate_type}"
        head += f", {self.asked})" if self.asked else ")"
        if self.status in ("skipped", "error"):
            return f"{head}: {self.status.upper()}: {self.reason}"
        line = (
            f"{head}: FAL {_text.money(self.api_total)} vs local {_text.money(self.local_total)}"
            f" {self.currency or ''} over {self.endpoints} endpoint(s): "
        )
        if self.status == "agree":
            return line + "agree (within a cent)"
        lines = [
            line
            + f"DISAGREE by {_text.money(self.difference)}"
            + (f" ({self.reason})" if self.reason else "")
        ]
        for item in self.per_endpoint:
            if not item.agrees:
                api = item.error or _text.money(item.api)
                lines.append(f"  {item.endpoint_id}: FAL {api} vs local {_text.money(item.local)}")
        return "\n".join(lines)


def run_check(
    client: FalClient,
    estimate_type: EstimateType,
    asked_for: dict[str, tuple[float, float]],
    currency: str,
    asked: str | None,
) -> ApiCheck:
    """Ask FAL for one estimate type over `asked_for` (endpoint -> (quantity, local cost)).

    The totals must agree within a cent; when they do not, each endpoint is asked alone.
    An error answer is kept in the check (status `error`, with its exit code).
    """
    quantities = {endpoint: quantity for endpoint, (quantity, _) in asked_for.items()}
    local = sum(cost for _, cost in asked_for.values())
    base = ApiCheck(
        estimate_type=estimate_type, status="error", local_total=local,
        endpoints=len(quantities), asked=asked,
    )  # fmt: skip
    try:
        answer = client.estimate_cost(estimate_type, quantities)
    except MpcError as exc:
        return base.model_copy(update={"reason": str(exc), "exit_code": exc.exit_code})
    except ValueError as exc:  # a quantity FAL would refuse (under 1e-6 units): not asked
        return base.model_copy(update={"status": "skipped", "reason": f"not sent to FAL: {exc}"})
    checked = base.model_copy(
        update={"api_total": answer.total_cost, "currency": answer.currency}
    )
    if answer.currency.upper() != currency:
        reason = f"FAL answered in {answer.currency}, not {currency}"
        return checked.model_copy(update={"status": "disagree", "reason": reason})
    if abs(answer.total_cost - local) <= AGREEMENT_TOLERANCE + 1e-9:
        return checked.model_copy(update={"status": "agree"})
    if len(quantities) > _MAX_LOCALISED:
        reason = "too many endpoints to ask one by one"
        return checked.model_copy(update={"status": "disagree", "reason": reason})
    per_endpoint = _localise(client, estimate_type, asked_for)
    return checked.model_copy(update={"status": "disagree", "per_endpoint": per_endpoint})


def _localise(
    client: FalClient, estimate_type: EstimateType, asked_for: dict[str, tuple[float, float]]
) -> tuple[EndpointCheck, ...]:
    """Each endpoint asked alone (a few at a time), to show where the totals part."""

    def one(endpoint: str) -> EndpointCheck:
        quantity, cost = asked_for[endpoint]
        try:
            answer = client.estimate_cost(estimate_type, {endpoint: quantity})
        except MpcError as exc:
            return EndpointCheck(endpoint_id=endpoint, local=cost, api=None, error=str(exc))
        return EndpointCheck(endpoint_id=endpoint, local=cost, api=answer.total_cost)

    if len(asked_for) == 1:
        return (one(next(iter(asked_for))),)
    with ThreadPoolExecutor(
        max_workers=min(8, len(asked_for)), thread_name_prefix="estimate"
    ) as pool:
        return tuple(pool.map(one, sorted(asked_for)))


def _same_gateway(recorded: PriceSource, fal: Upstream) -> bool:
    """The registry's FAL prices came through the very gateway this command reaches."""
    return recorded.source == fal.source == "gateway" and recorded.data == fal.data


@contextlib.contextmanager
def fal_estimator(
    settings: Settings, recorded: PriceSource | None, fal: Upstream
) -> Iterator[tuple[FalClient | None, str, str | None]]:
    """A FAL that serves the registry's prices: (client or None, what was asked, why not).

    `recorded` is where the registry's FAL prices came from; `fal` is the FAL this command
    reaches (live, through the gateway, or the sandbox).  Asking a FAL that serves other
    data would compare different catalogs, so then no client is given, only the reason.
    """
    asked = {"live": "live FAL", "gateway": f"FAL via {fal.data}"}.get(fal.source, "sandbox")
    if recorded is None:
        yield None, asked, "the registry has no FAL source recorded"
        return
    if fal.kind != "sandbox" and recorded.kind != "live" and not _same_gateway(recorded, fal):
        whose = "the sandbox's" if recorded.sandbox else "of unknown source"
        reason = (
            f"the registry's FAL prices are {whose} ({recorded.prices}), "
            f"but this command reaches {asked}: FAL would not know these models"
        )
        yield None, asked, reason
        return
    if fal.kind == "sandbox" and (
        (recorded.source, recorded.data) != (fal.source, fal.data) or not recorded.sandbox
    ):
        what = "the live API" if not recorded.sandbox else f"sandbox data {recorded.data!r}"
        reason = (
            f"the registry's FAL prices came from {what}; the sandbox here serves {fal.data!r}"
            + (" (set FAL_KEY to ask FAL itself)" if not recorded.sandbox else "")
        )
        yield None, asked, reason
        return
    with FalClient(fal.base_url, fal.key, settings=settings, **fal.options) as client:
        yield client, asked, None
