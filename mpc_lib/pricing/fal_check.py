"""FAL's own estimate of the FAL lines of a job mix, against ours.

`POST /models/pricing/estimate` answers one total per call, in one of two ways:
billing units (`unit_price`) or calls priced at FAL's history (`historical_api_price`).
When FAL's total and ours disagree beyond a cent, each endpoint is asked alone to say
where.  `fal_estimator` picks the FAL that serves the registry's prices: the live API,
or the FAL emulator over the same data.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..catalog.fal import FalClient
from ..catalog.models import EstimateType
from ..config import Secret, Settings
from ..errors import MpcError
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


@dataclass(frozen=True)
class EndpointCheck:
    """One FAL endpoint asked alone, to locate a disagreement."""

    endpoint_id: str
    local: float
    api: float | None
    error: str | None = None

    @property
    def difference(self) -> float | None:
        """API minus local."""
        return None if self.api is None else self.api - self.local

    @property
    def agrees(self) -> bool:
        """Within a cent."""
        diff = self.difference
        return diff is not None and abs(diff) <= AGREEMENT_TOLERANCE + 1e-9


@dataclass(frozen=True)
class ApiCheck:
    """FAL's estimate of the FAL lines against ours, for one estimate type."""

    estimate_type: str
    status: CheckStatus
    local_total: float | None = None
    api_total: float | None = None
    currency: str | None = None
    endpoints: int = 0
    asked: str | None = None
    reason: str | None = None
    per_endpoint: tuple[EndpointCheck, ...] = ()
    exit_code: int | None = None

    @property
    def difference(self) -> float | None:
        """API total minus local total."""
        if self.api_total is None or self.local_total is None:
            return None
        return self.api_total - self.local_total

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "estimate_type": self.estimate_type,
            "status": self.status,
            "asked": self.asked,
            "endpoints": self.endpoints,
            "local_total": self.local_total,
            "api_total": self.api_total,
            "difference": self.difference,
            "currency": self.currency,
            "reason": self.reason,
            "disagreeing": [
                {"endpoint_id": e.endpoint_id, "local": e.local, "api": e.api,
                 "difference": e.difference, "error": e.error}
                for e in self.per_endpoint
                if not e.agrees
            ],
        }  # fmt: skip

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
        estimate_type, "error", local_total=local, endpoints=len(quantities), asked=asked
    )
    try:
        answer = client.estimate_cost(estimate_type, quantities)
    except MpcError as exc:
        return replace(base, reason=str(exc), exit_code=exc.exit_code)
    except ValueError as exc:  # a quantity FAL would refuse (under 1e-6 units): not asked
        return replace(base, status="skipped", reason=f"not sent to FAL: {exc}")
    checked = replace(base, api_total=answer.total_cost, currency=answer.currency)
    if answer.currency.upper() != currency:
        return replace(
            checked, status="disagree", reason=f"FAL answered in {answer.currency}, not {currency}"
        )
    if abs(answer.total_cost - local) <= AGREEMENT_TOLERANCE + 1e-9:
        return replace(checked, status="agree")
    if len(quantities) > _MAX_LOCALISED:
        return replace(checked, status="disagree", reason="too many endpoints to ask one by one")
    return replace(
        checked, status="disagree", per_endpoint=_localise(client, estimate_type, asked_for)
    )


def _localise(
    client: FalClient, estimate_type: EstimateType, asked_for: dict[str, tuple[float, float]]
) -> tuple[EndpointCheck, ...]:
    """Each endpoint asked alone (a few at a time), to show where the totals part."""

    def one(endpoint: str) -> EndpointCheck:
        quantity, cost = asked_for[endpoint]
        try:
            answer = client.estimate_cost(estimate_type, {endpoint: quantity})
        except MpcError as exc:
            return EndpointCheck(endpoint, cost, None, error=str(exc))
        return EndpointCheck(endpoint, cost, answer.total_cost)

    if len(asked_for) == 1:
        return (one(next(iter(asked_for))),)
    with ThreadPoolExecutor(
        max_workers=min(8, len(asked_for)), thread_name_prefix="estimate"
    ) as pool:
        return tuple(pool.map(one, sorted(asked_for)))


@contextlib.contextmanager
def fal_estimator(
    settings: Settings, recorded: PriceSource | None, source: str | None = None
) -> Iterator[tuple[FalClient | None, str, str | None]]:
    """A FAL that serves the registry's prices: (client or None, what was asked, why not).

    `recorded` is where the registry's FAL prices came from: the live API or the
    sandbox's data.  Asking the other would compare different catalogs, so then no
    client is given, only the reason.
    """
    asked = settings.source_for("fal", source)
    if recorded is None:
        yield None, asked, "the registry has no FAL source recorded"
        return
    if asked == "live":
        if recorded.source != "live":
            yield (
                None,
                asked,
                (
                    f"the registry's FAL prices are the sandbox's ({recorded.prices}), "
                    "but a FAL key is set: FAL would not know these models"
                ),
            )
            return
        with FalClient(
            settings.base_url_for("fal"), settings.key_for("fal"), settings=settings
        ) as client:
            yield client, "live FAL", None
        return
    from ..sandbox import SandboxData  # only when the check needs the emulator

    snapshot = settings.sandbox_snapshot
    label = f"snapshot {snapshot}" if snapshot is not None else "generated"
    if recorded.source != "sandbox" or recorded.data != label:
        what = "the live API" if recorded.source == "live" else f"sandbox data {recorded.data!r}"
        yield (
            None,
            "sandbox",
            (
                f"the registry's FAL prices came from {what}; the sandbox here serves {label!r}"
                + (" (set FAL_KEY to ask FAL itself)" if recorded.source == "live" else "")
            ),
        )
        return
    data = SandboxData.from_snapshot(snapshot) if snapshot is not None else SandboxData.generate()
    with _fal_emulator(data) as (url, key), FalClient(url, key, settings=settings) as client:
        yield client, "sandbox", None


@contextlib.contextmanager
def _fal_emulator(data: Any) -> Iterator[tuple[str, Secret]]:
    """The FAL emulator alone on loopback (a full `Sandbox` also copies its data for resets)."""
    from ..sandbox.runner import EMULATORS
    from ..sandbox.server import SandboxServer
    from ..sandbox.state import SandboxState

    emulator = EMULATORS["fal"]
    key = f"sbx-fal-{secrets.token_hex(12)}"
    state = SandboxState(data=data, keys={"fal": key})
    with SandboxServer(emulator.create_app(state), name="fal") as server:
        yield server.url + emulator.base_path, Secret(key)
