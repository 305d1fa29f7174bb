"""The cheapest models per category, comparing like units only.

Within a category, models are grouped by (basis, unit, currency): an image price is
never ranked against a second price, nor USD against EUR.  Per-token groups rank by
the input price (output price shown beside it); a model with only an output price
cannot be ranked on input and is listed as such.  Models whose unit we do not know,
and models without a price, are named, not ranked.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import ConfigDict, Field, SerializationInfo, computed_field, field_serializer

from ..errors import ConfigError
from ..models import MpcModel
from . import _text
from .prices import Price, PriceBook

__all__ = ["DEFAULT_TOP", "CategoryRanking", "CheapestReport", "UnitGroup", "cheapest_models"]

DEFAULT_TOP = 5
_BASES = ("per_unit", "per_token")


class UnitGroup(MpcModel):
    """Models of one category priced in the same unit and currency, cheapest first.

    Its JSON lists the top N (N from the serialisation context's `top`, else all).
    """

    model_config = ConfigDict(frozen=True)

    basis: str
    unit: str
    currency: str
    ranked: tuple[Price, ...] = Field(serialization_alias="cheapest")
    # Per-token models with no input price: not comparable on the ranking price.
    unranked: tuple[Price, ...] = Field(default=(), serialization_alias="not_ranked")

    @property
    def cheapest(self) -> Price | None:
        """The first of `ranked`, if any."""
        return self.ranked[0] if self.ranked else None

    @computed_field
    @property
    def models(self) -> int:
        """How many models the group has, ranked or not."""
        return len(self.ranked) + len(self.unranked)

    @field_serializer("ranked")
    def _top(self, ranked: tuple[Price, ...], info: SerializationInfo) -> list[dict[str, Any]]:
        top = (info.context or {}).get("top")
        return [_row(price) for price in ranked[:top]]

    @field_serializer("unranked")
    def _not_ranked(self, unranked: tuple[Price, ...]) -> list[dict[str, Any]]:
        return [{**_row(price), "reason": "no input price"} for price in unranked]


class CategoryRanking(MpcModel):
    """One category: a ranking per unit group, and the models that could not be ranked."""

    model_config = ConfigDict(frozen=True)

    category: str
    groups: tuple[UnitGroup, ...]
    unknown_units: tuple[Price, ...] = Field(
        default=(), serialization_alias="left_out_unknown_unit"
    )
    unpriced: tuple[Price, ...] = ()

    @field_serializer("unknown_units")
    def _left_out(self, unknown_units: tuple[Price, ...]) -> list[dict[str, Any]]:
        return [{"model": p.key, "unit": p.unit, "unit_price": p.unit_price} for p in unknown_units]

    @field_serializer("unpriced")
    def _keys(self, unpriced: tuple[Price, ...]) -> list[str]:
        return [price.key for price in unpriced]


class CheapestReport(MpcModel):
    """Rankings per category (`mpc pricing cheapest`)."""

    model_config = ConfigDict(frozen=True)

    top: int
    basis: str | None
    categories: tuple[CategoryRanking, ...]
    sources: dict[str, Any] = Field(default_factory=dict, serialization_alias="prices")
    banner: str = Field(default="", exclude=True)

    @field_serializer("categories")
    def _top_of_each(
        self, categories: tuple[CategoryRanking, ...], info: SerializationInfo
    ) -> list[Any]:
        # Each group shows the report's top N: handed down as serialisation context.
        return [
            ranking.model_dump(mode=info.mode, context={"top": self.top})
            for ranking in categories
        ]

    def summary(self) -> str:
        """A block per category: the top N of each unit group, then what was left out."""
        out: list[str] = []
        for ranking in self.categories:
            out.append(f"== {ranking.category}")
            for group in ranking.groups:
                count = len(group.ranked) + len(group.unranked)
                out.append(f"  per {group.unit} ({group.currency}, {group.basis}, {count} models)")
                rows = [
                    (n, price.key, _text.price(price.unit_price), _out(price))
                    for n, price in enumerate(group.ranked[: self.top], start=1)
                ]
                table = _text.table(("#", "model", "price", "output price"), rows)
                out.extend("    " + line for line in table.splitlines())
                if group.unranked:
                    names = ", ".join(p.key for p in group.unranked[:5])
                    out.append(f"    not ranked (no input price): {names}")
            if ranking.unknown_units:
                shown = ", ".join(f"{p.key} ({p.unit!r})" for p in ranking.unknown_units[:5])
                more = len(ranking.unknown_units) - 5
                out.append(
                    f"  left out, unit not known: {shown}" + (f" +{more} more" if more > 0 else "")
                )
            if ranking.unpriced:
                out.append(f"  no price: {len(ranking.unpriced)} model(s)")
        if not self.categories:
            out.append("no priced model matches")
        if self.banner:
            out.append(self.banner)
        return "\n".join(out)


def _out(price: Price) -> str:
    return _text.price(price.output_unit_price) if price.output_unit else ""


def _row(price: Price) -> dict[str, Any]:
    return {
        "model": price.key,
        "display_name": price.display_name,
        "unit_price": price.unit_price,
        "output_unit_price": price.output_unit_price,
        "stale": price.stale,
    }


def _rank_key(price: Price) -> tuple[float, float, str]:
    """Cheapest first: the price, then the output price (missing last), then the key."""
    output = price.output_unit_price
    return (price.unit_price or 0.0, output if output is not None else float("inf"), price.key)


def cheapest_models(
    book: PriceBook,
    *,
    categories: Iterable[str] | None = None,
    basis: str | None = None,
    top: int = DEFAULT_TOP,
) -> CheapestReport:
    """The `top` cheapest models per category and unit; unknown categories raise ConfigError."""
    if top < 1:
        raise ConfigError(f"--top must be at least 1, got {top}")
    if basis is not None and basis not in _BASES:
        raise ConfigError(f"basis {basis!r}: expected one of {', '.join(_BASES)}")
    every = sorted({price.category for price in book})
    wanted = _categories(categories, every)
    rankings = []
    for category in wanted:
        members = [price for price in book if price.category == category]
        if basis is not None:
            members = [price for price in members if price.basis in (basis, None)]
        ranking = _rank(category, members, basis)
        if ranking.groups or ranking.unknown_units or (categories and ranking.unpriced):
            rankings.append(ranking)
    used = sorted(
        {
            price.provider
            for ranking in rankings
            for group in ranking.groups
            for price in group.ranked
        }
    )
    return CheapestReport(
        top=top,
        basis=basis,
        categories=tuple(rankings),
        sources=book.sources_json(),
        banner=book.banner(used or None),
    )


def _categories(asked: Iterable[str] | None, every: list[str]) -> list[str]:
    if asked is None:
        return every
    chosen = [name.strip() for text in asked for name in text.split(",") if name.strip()]
    lowered = {name.lower(): name for name in every}
    found, unknown = [], []
    for name in chosen:
        if name.lower() in lowered:
            found.append(lowered[name.lower()])
        else:
            unknown.append(name)
    if unknown:
        hints = {name: difflib.get_close_matches(name, every, n=2) for name in unknown}
        shown = "; ".join(
            f"{name!r}" + (f" (did you mean {', '.join(hint)}?)" if hint else "")
            for name, hint in hints.items()
        )
        raise ConfigError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'}: {shown}")
    return list(dict.fromkeys(found))


def _rank(category: str, members: list[Price], basis: str | None) -> CategoryRanking:
    groups: dict[tuple[str, str, str], list[Price]] = {}
    unknown, unpriced = [], []
    for price in members:
        if not price.priced:
            if basis is None:
                unpriced.append(price)
            continue
        if not price.known_unit:
            unknown.append(price)
            continue
        assert price.basis is not None and price.unit is not None
        groups.setdefault((price.basis, price.unit, price.currency or "?"), []).append(price)
    built = []
    for (group_basis, unit, currency), prices in groups.items():
        ranked = sorted((p for p in prices if p.unit_price is not None), key=_rank_key)
        unranked = tuple(sorted((p for p in prices if p.unit_price is None), key=lambda p: p.key))
        built.append(
            UnitGroup(
                basis=group_basis, unit=unit, currency=currency, ranked=tuple(ranked),
                unranked=unranked,
            )
        )  # fmt: skip
    # Biggest group first: the unit most of the category is priced in.
    built.sort(key=lambda g: (-(len(g.ranked) + len(g.unranked)), g.basis, g.unit))
    return CategoryRanking(
        category=category,
        groups=tuple(built),
        unknown_units=tuple(sorted(unknown, key=lambda p: p.key)),
        unpriced=tuple(sorted(unpriced, key=lambda p: p.key)),
    )
