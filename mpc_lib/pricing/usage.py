"""What model calls cost, as they happen: each call's units and cost at the registry price,
one line per call in `<outputs>/usage/<date>.jsonl`, and the spend they add up to.

`fal_charge(price, input, result)` counts a FAL call's units the way FAL bills them: one
per image the result holds (`image`), whole megapixels of 2**20 pixels per image from the
result's sizes (`megapixel`, as LiteLLM's FAL cost does), or seconds of video from the
input's `duration` (`second`).  Any other unit, a missing price or a size the result does
not give leaves the cost unknown, with the reason: never a guessed number.

A usage line holds the time, the request id, the model, the units, the price and the cost,
and what served the call (live or sandbox): no prompt, no input, no key.  Lines are
appended with one `write` on a file opened for appending, so concurrent writers never
interleave a line; `read_usage` reads them back (a malformed line is reported as
`file:line`, never dropped silently) and `spend_by_model` sums them, against a job-mix
estimate when one is given.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from ..errors import ConfigError
from ..models import MpcModel
from .cost_keys import FAL_PIXELS_PER_MEGAPIXEL
from .estimate import Estimate
from .prices import Price

__all__ = [
    "USAGE_DIR",
    "Charge",
    "ModelSpend",
    "Spend",
    "UsageLine",
    "fal_charge",
    "parse_since",
    "read_usage",
    "record_usage",
    "spend_by_model",
]

USAGE_DIR = Path("usage")
_SINCE = re.compile(r"^(\d{1,5})([smhdw])$")
_SINCE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Charge(MpcModel):
    """What one call used and cost: `units` of `unit` at `unit_price`; `cost_usd` None (with
    `unpriced` saying why) when it cannot be known."""

    unit: str | None
    units: float | None
    unit_price: float | None
    cost_usd: float | None
    unpriced: str | None = None

    @property
    def header(self) -> str | None:
        """The cost as the `x-mpc-cost-usd` header value (None: unknown)."""
        return None if self.cost_usd is None else format(self.cost_usd, ".12g")


def _images(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    images = result.get("images")
    if isinstance(images, list):
        return [image for image in images if isinstance(image, Mapping)]
    single = result.get("image")  # Bria's text-to-image answers one `image`
    return [single] if isinstance(single, Mapping) else []


def _seconds(value: Any) -> float | None:
    """A FAL `duration` input: 5, 5.0, "5" or "5s"; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value > 0 else None
    if isinstance(value, str):
        text = value.strip().removesuffix("s")
        try:
            seconds = float(text)
        except ValueError:
            return None
        return seconds if math.isfinite(seconds) and seconds > 0 else None
    return None


def _fal_units(
    unit: str, given: Mapping[str, Any], result: Mapping[str, Any]
) -> tuple[float | None, str | None]:
    if unit == "image":
        count = len(_images(result))
        return (float(count), None) if count else (None, "the result holds no image")
    if unit == "megapixel":
        total = 0
        for image in _images(result):
            width, height = image.get("width"), image.get("height")
            if not (isinstance(width, int) and isinstance(height, int)):
                return None, "the result does not give every image's width and height"
            if width <= 0 or height <= 0:
                return None, "the result gives an image a size of zero"
            total += math.ceil(width * height / FAL_PIXELS_PER_MEGAPIXEL)
        return (float(total), None) if total else (None, "the result holds no image")
    if unit == "second":
        video = result.get("video")
        seconds = _seconds(video.get("duration")) if isinstance(video, Mapping) else None
        seconds = seconds or _seconds(given.get("duration"))
        if seconds is None:
            return None, "no duration in the input or the result: seconds unknown"
        return seconds, None
    return None, f"units of {unit!r} are not counted from a FAL answer"


def fal_charge(price: Price, given: Mapping[str, Any], result: Mapping[str, Any]) -> Charge:
    """The units and cost of one FAL call (`given` its input, `result` its answer)."""
    unit, rate = price.unit, price.unit_price
    if unit is None or rate is None:
        return Charge(unit=unit, units=None, unit_price=None, cost_usd=None,
                      unpriced="no price in the registry")  # fmt: skip
    if (price.currency or "USD") != "USD":
        return Charge(unit=unit, units=None, unit_price=rate, cost_usd=None,
                      unpriced=f"priced in {price.currency}, not USD")  # fmt: skip
    units, why = _fal_units(unit, given, result)
    if units is None:
        return Charge(unit=unit, units=None, unit_price=rate, cost_usd=None, unpriced=why)
    return Charge(unit=unit, units=units, unit_price=rate, cost_usd=units * rate)


class UsageLine(MpcModel):
    """One call in the usage log."""

    time: datetime
    request_id: str
    model: str  # provider:model_id
    route: str  # what was called: images, queue
    served: Literal["live", "sandbox", "unknown"]
    unit: str | None
    units: float | None
    unit_price: float | None
    cost_usd: float | None
    unpriced: str | None = None


def record_usage(outputs_dir: Path, line: UsageLine) -> Path:
    """Append one line to `<outputs>/usage/<UTC date>.jsonl` (created 0600) and return it."""
    folder = Path(outputs_dir) / USAGE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{line.time.astimezone(UTC).date().isoformat()}.jsonl"
    data = (line.model_dump_json() + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)  # one write of one line: appends never interleave
    finally:
        os.close(fd)
    return path


def parse_since(text: str) -> timedelta:
    """`7d`, `12h`, `30m`, `90s` or `2w` as a timedelta; anything else raises ConfigError."""
    found = _SINCE.match(text.strip())
    if found is None:
        raise ConfigError(f"--since {text!r}: expected a number and s, m, h, d or w (e.g. 7d)")
    return timedelta(**{_SINCE_UNITS[found.group(2)]: int(found.group(1))})


def read_usage(
    outputs_dir: Path, *, since: timedelta | None = None, now: datetime | None = None
) -> tuple[list[UsageLine], list[str]]:
    """The usage lines (since `since` ago, if given) and the problems met, as `file:line: why`."""
    folder = Path(outputs_dir) / USAGE_DIR
    cutoff = (now or datetime.now(UTC)) - since if since is not None else None
    lines: list[UsageLine] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else ():
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, 1):
                if not text.strip():
                    continue
                try:
                    line = UsageLine.model_validate(json.loads(text))
                except (ValueError, ValidationError) as exc:
                    what = str(exc).splitlines()[0][:200]
                    problems.append(f"{path}:{number}: not a usage line ({what})")
                    continue
                if cutoff is None or line.time >= cutoff:
                    lines.append(line)
    return lines, problems


class ModelSpend(MpcModel):
    """One model's calls and spend; `estimated_usd` from a job mix, when one was given."""

    model: str
    calls: int
    unit: str | None
    units: float
    cost_usd: float
    unpriced_calls: int = 0
    served: list[str] = Field(default_factory=list)
    estimated_usd: float | None = None


class Spend(MpcModel):
    """Spend per model over the usage log, and the totals."""

    models: list[ModelSpend]
    total_usd: float
    calls: int
    unpriced_calls: int
    since: str | None = None
    estimate_label: str | None = None
    estimated_total_usd: float | None = None
    problems: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        """The text report: one row per model, the totals, and the estimate beside them."""
        since = f" in the last {self.since}" if self.since else ""
        if not self.models:
            return f"no model calls recorded{since} (outputs/usage/ is empty)"
        rows = [f"spend{since}: {self.calls} call(s), {self.total_usd:.4f} USD"]
        for m in self.models:
            units = f"{m.units:g} {m.unit}(s)" if m.unit else "-"
            row = f"  {m.model}: {m.calls} call(s), {units}, {m.cost_usd:.4f} USD"
            if m.unpriced_calls:
                row += f" ({m.unpriced_calls} without a known cost)"
            if m.estimated_usd is not None:
                row += f"; estimated {m.estimated_usd:.4f} USD"
            if m.served and m.served != ["live"]:
                row += f" [{', '.join(m.served)}]"
            rows.append(row)
        if self.estimated_total_usd is not None:
            rows.append(f"estimate ({self.estimate_label}): {self.estimated_total_usd:.4f} USD; "
                        f"spent {self.total_usd:.4f} USD")  # fmt: skip
        if self.unpriced_calls:
            rows.append(f"warning: {self.unpriced_calls} call(s) have no known cost "
                        "(see their `unpriced` reason in the usage log)")  # fmt: skip
        rows += [f"warning: {problem}" for problem in self.problems]
        return "\n".join(rows)


def spend_by_model(
    lines: Iterable[UsageLine],
    *,
    estimate: Estimate | None = None,
    since: str | None = None,
    problems: Iterable[str] = (),
) -> Spend:
    """Sum the usage lines per model (most spent first); beside each, the job mix's estimate
    for that model when `estimate` is given (and models estimated but not yet called)."""
    per: dict[str, ModelSpend] = {}
    for line in lines:
        found = per.get(line.model)
        if found is None:
            found = per[line.model] = ModelSpend(
                model=line.model, calls=0, unit=line.unit, units=0.0, cost_usd=0.0
            )
        found.calls += 1
        if line.cost_usd is None:
            found.unpriced_calls += 1
        else:
            found.cost_usd += line.cost_usd
            found.units += line.units or 0.0
        if line.served not in found.served:
            found.served.append(line.served)
    estimated: dict[str, float] = {}
    if estimate is not None:
        for row in estimate.lines:
            if row.cost is not None:
                estimated[row.model] = estimated.get(row.model, 0.0) + float(row.cost)
        for model, cost in estimated.items():
            row_spend = per.get(model) or ModelSpend(
                model=model, calls=0, unit=None, units=0.0, cost_usd=0.0
            )
            per[model] = row_spend.model_copy(update={"estimated_usd": cost})
    models = sorted(per.values(), key=lambda m: (-m.cost_usd, m.model))
    return Spend(
        models=models,
        total_usd=sum(m.cost_usd for m in models),
        calls=sum(m.calls for m in models),
        unpriced_calls=sum(m.unpriced_calls for m in models),
        since=since,
        estimate_label=estimate.mix.label if estimate is not None else None,
        estimated_total_usd=sum(estimated.values()) if estimate is not None else None,
        problems=list(problems),
    )
