"""Job-mix estimates: one row per line on both price bases, a total, and FAL's own estimate.

The local estimate is the registry's prices times the quantities.  For FAL lines it is
checked against FAL's `POST /models/pricing/estimate` (see `fal_check`), both ways FAL
offers: as billing units (`unit_price`, every priced FAL line) and as calls priced at
FAL's history (`historical_api_price`, the lines that give `calls`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, InstanceOf, computed_field, field_serializer

from ..catalog.fal import FalClient
from ..config import Settings
from ..errors import ConfigError
from ..models import MpcModel, Number
from ..upstreams import Upstreams
from . import _text
from .fal_check import ApiCheck, fal_estimator, run_check
from .mix import JobMix, MixLine, example_job_mix, load_job_mix
from .prices import (
    TOKENS_PER_PRICE_UNIT,
    Price,
    PriceBook,
    PriceSource,
    load_price_book,
    source_notes,
)

__all__ = [
    "Estimate",
    "EstimateLine",
    "check_with_fal",
    "estimate_job_mix",
    "estimate_lines",
]

log = logging.getLogger("mpc_lib.pricing")


class EstimateLine(MpcModel):
    """One job-mix line priced: `cost` is None (and `missing` says why) when a price is missing.

    Its JSON is one row: the line, the model and its price, the quantity and the cost.
    """

    model_config = ConfigDict(frozen=True)

    line: MixLine = Field(exclude=True)
    price: Price = Field(exclude=True)
    cost: float | None
    missing: str | None = None
    note: str | None = None

    @computed_field(alias="line")
    @property
    def number(self) -> int:
        """The line's 1-based number in the mix."""
        return self.line.index + 1

    @computed_field
    @property
    def file_line(self) -> int | None:
        """Its line in the mix file, when known."""
        return self.line.line

    @computed_field
    @property
    def label(self) -> str | None:
        """The line's label, if it has one."""
        return self.line.label

    @computed_field
    @property
    def model(self) -> str:
        """The model's `provider:model_id`."""
        return self.price.key

    @computed_field
    @property
    def provider(self) -> str:
        """The model's provider."""
        return self.price.provider

    @computed_field
    @property
    def model_id(self) -> str:
        """The model's id at its provider."""
        return self.price.model_id

    @computed_field
    @property
    def basis(self) -> str:
        """`per_unit` or `per_token`: the price's, else the line's."""
        return self.price.basis or self.line.basis

    @computed_field
    @property
    def unit(self) -> str | None:
        """The price's (normalised) unit."""
        return self.price.unit

    @computed_field
    @property
    def units(self) -> float | None:
        """Units in the model's (normalised) unit over all calls, for a per-unit line."""
        return None if self.line.units is None else self.line.units * self.line.call_count

    @property
    def input_tokens(self) -> float:
        """Input tokens over all calls."""
        return (self.line.input_tokens or 0.0) * self.line.call_count

    @property
    def output_tokens(self) -> float:
        """Output tokens over all calls."""
        return (self.line.output_tokens or 0.0) * self.line.call_count

    @computed_field(alias="input_tokens")
    @property
    def tokens_in(self) -> float | None:
        """`input_tokens` for a per-token line, None for a per-unit one."""
        return self.input_tokens if self.units is None else None

    @computed_field(alias="output_tokens")
    @property
    def tokens_out(self) -> float | None:
        """`output_tokens` for a per-token line, None for a per-unit one."""
        return self.output_tokens if self.units is None else None

    @computed_field
    @property
    def calls(self) -> int:
        """Calls, 1 when the line does not say."""
        return self.line.call_count

    @computed_field
    @property
    def quantity(self) -> str:
        """`200 image`, or `1,200,000 in + 300,000 out tokens`."""
        if self.units is not None:
            return f"{self.units:,.6g} {self.price.unit or 'unit'}"
        return f"{self.input_tokens:,.0f} in + {self.output_tokens:,.0f} out tokens"

    @computed_field
    @property
    def unit_price(self) -> float | None:
        """The price per unit (per 1M input tokens for a token model)."""
        return self.price.unit_price

    @computed_field
    @property
    def output_unit_price(self) -> float | None:
        """The price per 1M output tokens, if any."""
        return self.price.output_unit_price

    @computed_field
    @property
    def currency(self) -> str | None:
        """The price's currency."""
        return self.price.currency

    @property
    def fal_units(self) -> float:
        """The quantity in FAL's own billing unit (before normalisation), for its estimate."""
        if self.units is not None:
            return self.units * self.price.factor
        tokens = self.input_tokens + self.output_tokens
        return tokens / TOKENS_PER_PRICE_UNIT * self.price.factor


class Estimate(MpcModel):
    """A priced job mix: rows, subtotals per basis, a total, and FAL's checks.

    Its JSON is the whole estimate (`mpc pricing estimate --json`).
    """

    model_config = ConfigDict(frozen=True)

    mix: InstanceOf[JobMix]
    registry: Path | None = None
    lines: tuple[EstimateLine, ...]
    checks: tuple[ApiCheck, ...] = ()
    sources: dict[str, PriceSource] = Field(serialization_alias="prices")

    @field_serializer("mix")
    def _label(self, mix: JobMix) -> str:
        return mix.label

    @computed_field
    @property
    def currency(self) -> str:
        """The mix's currency (every priced line is in it)."""
        return self.mix.currency

    def subtotals(self) -> dict[str, float]:
        """Known cost per basis (`per_unit`, `per_token`)."""
        totals: dict[str, float] = {}
        for line in self.lines:
            if line.cost is not None:
                basis = line.price.basis or line.line.basis
                totals[basis] = totals.get(basis, 0.0) + line.cost
        return totals

    @computed_field(alias="subtotals")
    @property
    def per_basis(self) -> dict[str, float]:
        """`subtotals()`, as the JSON's `subtotals`."""
        return self.subtotals()

    @computed_field
    @property
    def total(self) -> Number:
        """The sum of the lines that could be priced (0 when none could); see `complete`."""
        return sum(line.cost for line in self.lines if line.cost is not None)

    @computed_field
    @property
    def complete(self) -> bool:
        """False when a line has no price: then `total` leaves it out, and says so."""
        return all(line.cost is not None for line in self.lines)

    @property
    def missing(self) -> list[EstimateLine]:
        """Lines without a cost."""
        return [line for line in self.lines if line.cost is None]

    @computed_field(alias="missing")
    @property
    def unpriced(self) -> list[dict[str, Any]]:
        """The lines without a cost: number, model and why."""
        return [
            {"line": line.line.index + 1, "model": line.price.key, "reason": line.missing}
            for line in self.missing
        ]

    @property
    def check_failed(self) -> ApiCheck | None:
        """The first FAL check that errored (the CLI exits with its code), else None."""
        return next((check for check in self.checks if check.status == "error"), None)

    def summary(self) -> str:
        """Human lines: the table, subtotals, the total (marked INCOMPLETE), FAL's checks."""
        rows = [
            (
                line.line.index + 1,
                line.price.key,
                line.price.basis or line.line.basis,
                line.quantity,
                _unit_price(line.price),
                _text.money(line.cost) if line.cost is not None else f"- ({line.missing})",
            )
            for line in self.lines
        ]
        out = [f"estimate of {self.mix.label} ({self.currency})"]
        out.append(_text.table(("#", "model", "basis", "quantity", "unit price", "cost"), rows))
        for basis, subtotal in sorted(self.subtotals().items()):
            out.append(f"{basis} subtotal: {_text.money(subtotal, self.currency)}")
        total = f"total: {_text.money(self.total, self.currency)}"
        if not self.complete:
            total += (
                f"  INCOMPLETE: {len(self.missing)} line(s) without a price are left out: "
                + ", ".join(f"#{line.line.index + 1} {line.price.key}" for line in self.missing)
            )
        out.append(total)
        out.extend(
            f"note: line {line.line.index + 1}: {line.note}" for line in self.lines if line.note
        )
        out.extend(check.summary() for check in self.checks)
        used = sorted({line.price.provider for line in self.lines})
        out.extend(f"prices: {note}" for note in source_notes(self.sources, used))
        return "\n".join(out)


def _unit_price(price: Price) -> str:
    if price.unit_price is None and price.output_unit_price is None:
        return "-"
    if price.output_unit is not None:
        inputs, outputs = _text.price(price.unit_price), _text.price(price.output_unit_price)
        return f"{inputs} in / {outputs} out per 1M"
    return f"{_text.price(price.unit_price)} /{price.unit}"


def _cost(line: MixLine, price: Price) -> tuple[float | None, str | None]:
    """(cost, why missing) for one line at one price; never a partial cost."""
    if not price.priced:
        return None, "no price in the registry"
    calls = line.call_count
    if line.units is not None:
        if price.unit_price is None:
            return None, "no unit price"
        return line.units * calls * price.unit_price, None
    inputs = (line.input_tokens or 0.0) * calls / TOKENS_PER_PRICE_UNIT
    outputs = (line.output_tokens or 0.0) * calls / TOKENS_PER_PRICE_UNIT
    if price.output_unit is None:  # one rate for every token (FAL's "1M tokens")
        if price.unit_price is None:
            return None, "no token price"
        return (inputs + outputs) * price.unit_price, None
    if inputs and price.unit_price is None:
        return None, "no input-token price"
    if outputs and price.output_unit_price is None:
        return None, "no output-token price"
    return inputs * (price.unit_price or 0.0) + outputs * (price.output_unit_price or 0.0), None


def estimate_lines(book: PriceBook, mix: JobMix) -> Estimate:
    """Price every line locally; unknown models, basis or currency mismatches raise ConfigError.

    Every problem is listed at once, each naming the file line and key.
    """
    problems: list[str] = []
    priced: list[EstimateLine] = []
    for line in mix.lines:
        try:
            price = book.resolve(line.model, where=mix.at(line, "model"))
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if price.basis is not None and price.basis != line.basis:
            if price.basis == "per_token":
                wanted = "input_tokens/output_tokens (and calls), not units"
            else:
                wanted = "units (and calls), not tokens"
            problems.append(
                f"{mix.at(line)}: {price.key} is priced {price.basis} ({price.unit}): give {wanted}"
            )
            continue
        if price.currency is not None and price.currency.upper() != mix.currency:
            problems.append(
                f"{mix.at(line, 'model')}: mixed currencies: {price.key} is priced in "
                f"{price.currency}, the mix is in {mix.currency} (no exchange rates are applied)"
            )
            continue
        cost, missing = _cost(line, price)
        notes = []
        if price.priced and not price.known_unit:
            notes.append(f"unit {price.unit!r} is not one we know; units are taken in it as is")
        if price.stale:
            notes.append(f"{price.key}'s price is kept from an earlier sync (stale)")
        note = "; ".join(notes) or None
        priced.append(EstimateLine(line=line, price=price, cost=cost, missing=missing, note=note))
    if problems:
        raise mix.error(problems)
    return Estimate(mix=mix, lines=tuple(priced), sources=dict(book.sources), registry=book.path)


# --- FAL's estimate ------------------------------------------------------------------


def check_with_fal(
    estimate: Estimate, client: FalClient | None, *, asked: str | None = None
) -> Estimate:
    """The estimate with FAL's `unit_price` and `historical_api_price` checks attached."""
    fal = [
        line for line in estimate.lines if line.price.provider == "fal" and line.cost is not None
    ]
    if not fal or client is None:
        skipped = ApiCheck(
            estimate_type="unit_price", status="skipped", asked=asked, reason="no priced FAL lines"
        )
        return estimate.model_copy(update={"checks": (skipped,)})
    units: dict[str, tuple[float, float]] = {}
    calls: dict[str, tuple[float, float]] = {}
    for line in fal:
        assert line.cost is not None
        _add(units, line.price.model_id, line.fal_units, line.cost)
        if line.line.calls is not None:
            _add(calls, line.price.model_id, line.line.calls, line.cost)
    checks = [run_check(client, "unit_price", units, estimate.currency, asked)]
    if calls:
        checks.append(run_check(client, "historical_api_price", calls, estimate.currency, asked))
    else:
        checks.append(ApiCheck(
            estimate_type="historical_api_price", status="skipped", asked=asked,
            reason="no FAL line gives calls (add `calls:` to a line to compare per-call prices)",
        ))  # fmt: skip
    return estimate.model_copy(update={"checks": tuple(checks)})


def _add(into: dict[str, tuple[float, float]], key: str, quantity: float, cost: float) -> None:
    old_quantity, old_cost = into.get(key, (0.0, 0.0))
    into[key] = (old_quantity + quantity, old_cost + cost)


def estimate_job_mix(
    settings: Settings,
    mix: JobMix | Path | str | None = None,
    *,
    upstreams: Upstreams | None = None,
    book: PriceBook | None = None,
) -> Estimate:
    """Price a job mix (default: the shipped example) and, given `upstreams`, ask FAL to agree.

    FAL is reached as `upstreams["fal"]` says, and only when the mix has a priced FAL line
    (so a sandbox there starts only then).  A FAL check that fails (no answer, an error
    answer) is reported in the estimate, status `error`, never silently dropped; the
    local figures stand on their own.
    """
    book = book or load_price_book(settings)
    if mix is None:
        mix = example_job_mix()
    if not isinstance(mix, JobMix):
        mix = load_job_mix(mix)
    estimate = estimate_lines(book, mix)
    if upstreams is None:
        return estimate
    if not any(line.price.provider == "fal" and line.cost is not None for line in estimate.lines):
        return check_with_fal(estimate, None)  # nothing to ask FAL: no emulator started
    fal = upstreams["fal"]
    with fal_estimator(settings, book.sources.get("fal"), fal) as (client, asked, skipped):
        if client is None:
            log.info("FAL estimate check skipped: %s", skipped)
            checks = tuple(
                ApiCheck(estimate_type=kind, status="skipped", asked=asked, reason=skipped)
                for kind in ("unit_price", "historical_api_price")
            )
            return estimate.model_copy(update={"checks": checks})
        return check_with_fal(estimate, client, asked=asked)
