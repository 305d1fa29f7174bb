"""FAL Platform API v1 client: model listing (cursor pages) and per-unit prices.

The contract is FAL's published OpenAPI spec: `GET /models` pages with an opaque
`cursor` that "encodes the page number" (base64 of it), and `GET /models/pricing`
takes 1 to 50 `endpoint_id`s.  `list_models` uses that documented encoding to
fetch pages ahead concurrently, and checks every link of the chain against what
the server said, so it returns exactly what the sequential walk returns; when a
cursor does not decode as a page number it falls back to the sequential walk.
Pages fetched ahead are guesses, so they get no retries; one that turns out to be
needed and failed is fetched again with the normal retry policy.

The spec documents a 404 on pricing without saying whether it covers one id or the
whole batch, so `get_prices` survives both readings: a batch answered 404 is split in
halves until the unpriced ids are isolated, and every other id keeps its price.
Both lists are read as Comet's are (`models.parse_items`): only a malformed envelope
(no `models` or `prices` list, a broken cursor) fails the call; an entry with a malformed
field keeps what parses, one without an `endpoint_id` is skipped, and each of them, like
any other answer that looks odd but does not stop the call, lands in `FalClient.warnings`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from ..config import Secret, Settings
from ..errors import (
    NotFound,
    PaginationError,
    RateLimited,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from ..http import ProviderClient, RetryPolicy
from .models import (
    EstimateType,
    FalEstimate,
    FalModel,
    FalModelList,
    FalModelPage,
    FalPrice,
    FalPriceList,
    FalPricePage,
    ModelRecord,
    Pricing,
    parse_items,
    parse_payload,
)

__all__ = [
    "FAL_PAGE_LIMIT",
    "FAL_PRICING_BATCH",
    "FalClient",
    "normalise_fal",
]

log = logging.getLogger("mpc_lib.catalog")

FAL_PAGE_LIMIT = 100
FAL_PRICING_BATCH = 50
_MAX_PAGES = 10_000
# A page fetched ahead may lie past the end: not worth a retry, and never worth a wait.
_NO_RETRY = RetryPolicy(max_retries=0)
# Failures the normal policy would have retried: a guessed page that failed so is fetched again.
_RETRYABLE = (TransportError, RateLimited, ServerError)

# Called with each page's models, in order, and whether more pages follow.
PageCallback = Callable[[list[FalModel], bool], None]


def _encode_page(page: int) -> str:
    return base64.b64encode(str(page).encode()).decode()


def _decode_page(cursor: str) -> int | None:
    """The page number inside a cursor, or None when the cursor is not that encoding."""
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _batches(ids: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


class FalClient(ProviderClient):
    """Reads FAL's model catalog and prices through the shared HTTP core."""

    provider = "fal"
    scheme = "Key"

    def __init__(
        self,
        base_url: str,
        key: Secret | None,
        *,
        settings: Settings | None = None,
        client: httpx.Client | None = None,
        concurrency: int | None = None,
        **options: Any,
    ) -> None:
        """`options` go to ProviderClient (scheme, query_lists, key_on_public: a gateway hop)."""
        super().__init__(base_url, key, settings=settings, client=client, **options)
        self.concurrency = concurrency or self.settings.concurrency

    # --- listing ---------------------------------------------------------------------

    def get_page(
        self,
        cursor: str | None = None,
        *,
        limit: int = FAL_PAGE_LIMIT,
        category: str | None = None,
        status: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> FalModelPage:
        """One page of `GET /models`; `retry` overrides the retry policy for this request.

        The page's odd entries are in `page.warnings`: the listing records those of the
        pages it uses (a page fetched ahead and discarded says nothing).
        """
        params = {"limit": limit, "cursor": cursor, "category": category, "status": status}
        body = self.http.get_json("/models", params, retry=retry)
        listing = parse_payload(FalModelList, body, provider="fal", path="/models")
        if listing.has_more and not listing.next_cursor:
            raise PaginationError("fal", "/models", "has_more is true but next_cursor is empty")
        number = 1 if cursor is None else _decode_page(cursor)
        models, problems = parse_items(
            FalModel,
            listing.models,
            path="/models",
            key="endpoint_id",
            within=f"on page {number if number is not None else repr(cursor)}",
        )
        return FalModelPage(
            models=models,
            next_cursor=listing.next_cursor,
            has_more=listing.has_more,
            warnings=problems,
        )

    def iter_pages(
        self,
        *,
        limit: int = FAL_PAGE_LIMIT,
        category: str | None = None,
        status: str | None = None,
        start: str | None = None,
        seen: set[str] | None = None,
    ) -> Iterator[FalModelPage]:
        """The plain sequential walk: follow next_cursor until has_more is false.

        A cursor that comes back twice is a loop and raises PaginationError.
        """
        seen = set() if seen is None else seen
        cursor = start
        for _ in range(_MAX_PAGES):
            if cursor is not None:
                if cursor in seen:
                    raise PaginationError(
                        "fal", "/models", f"cursor {cursor!r} repeated after {len(seen)} pages"
                    )
                seen.add(cursor)
            page = self.get_page(cursor, limit=limit, category=category, status=status)
            yield page
            if not page.has_more:
                return
            cursor = page.next_cursor
        raise PaginationError("fal", "/models", f"more than {_MAX_PAGES} pages")

    def list_models_sequential(self, **filters: Any) -> list[FalModel]:
        """Every model, page after page (the baseline `list_models` must equal)."""
        return _dedupe(model for page in self.iter_pages(**filters) for model in self._use(page))

    def _use(self, page: FalModelPage) -> list[FalModel]:
        """A page's models, its odd entries recorded as warnings (each message once)."""
        for problem in page.warnings:
            if problem not in self.warnings:
                self._warn(problem)
        return page.models

    def list_models(
        self,
        *,
        limit: int = FAL_PAGE_LIMIT,
        category: str | None = None,
        status: str | None = None,
        on_page: PageCallback | None = None,
        expected: int | None = None,
    ) -> list[FalModel]:
        """Every model, fetching pages ahead concurrently; `on_page` sees each page in order.

        `expected` (how many models the last listing had) sizes the look-ahead: the
        pages it implies, plus one, are requested together with page 1, so a catalog
        that did not grow is listed in one round trip.
        """
        filters: dict[str, Any] = {"limit": limit, "category": category, "status": status}
        window = max(self.concurrency, 1)
        guessed = min(math.ceil(expected / limit), window) if expected else 0
        pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="fal-pages")
        try:
            # Page 1 goes first: the server answers in arrival order and pricing starts with it.
            first_future = pool.submit(self.get_page, None, **filters)
            early = {
                number: pool.submit(self.get_page, _encode_page(number), retry=_NO_RETRY, **filters)
                for number in range(2, guessed + 2)
            }
            first = first_future.result()
            models = list(self._use(first))
            if on_page is not None:
                on_page(first.models, first.has_more)
            if not first.has_more:
                return _dedupe(models)
            assert first.next_cursor is not None  # checked in get_page
            seen: set[str] = set()
            if _decode_page(first.next_cursor) != 2:
                log.info(
                    "fal: cursor %r is not a page number; walking sequentially", first.next_cursor
                )
                rest = self.iter_pages(start=first.next_cursor, seen=seen, **filters)
            else:
                rest = self._pages_ahead(seen, filters, pool, early)
            for page in rest:
                models.extend(self._use(page))
                if on_page is not None:
                    on_page(page.models, page.has_more)
            return _dedupe(models)
        finally:
            # Pages fetched past the end are discarded (the caller already has the last page).
            pool.shutdown(wait=True, cancel_futures=True)

    def _pages_ahead(
        self,
        seen: set[str],
        filters: dict[str, Any],
        pool: ThreadPoolExecutor,
        early: dict[int, Future[FalModelPage]],
    ) -> Iterator[FalModelPage]:
        """Pages 2, 3, ... yielded in order: the `early` guesses, then `concurrency` ahead.

        Each page's next_cursor must name the page we fetched after it; if the
        server says otherwise, the rest is walked sequentially from its cursor.
        Only the page the previous one promised gets retries; the others are guesses.
        """
        window = max(self.concurrency, 1)
        inflight: dict[int, Future[FalModelPage]] = dict(early)
        guessed: set[int] = set(early)
        # With early guesses, look no further than they do until the listing outgrows them.
        horizon = max(early, default=0)
        number, ahead = 2, max(early, default=1) + 1
        while True:
            limit = horizon if number <= horizon else number + window - 1
            while ahead <= limit and len(inflight) < window:
                retry = None if ahead == number else _NO_RETRY
                if retry is not None:
                    guessed.add(ahead)
                inflight[ahead] = pool.submit(
                    self.get_page, _encode_page(ahead), retry=retry, **filters
                )
                ahead += 1
            seen.add(_encode_page(number))
            page = self._settle(number, inflight.pop(number), number in guessed, filters)
            yield page
            if not page.has_more:
                return
            if page.next_cursor != _encode_page(number + 1):
                log.info("fal: page %d broke the cursor chain; walking sequentially", number)
                break
            number += 1
            if number > _MAX_PAGES:
                raise PaginationError("fal", "/models", f"more than {_MAX_PAGES} pages")
        yield from self.iter_pages(start=page.next_cursor, seen=seen, **filters)

    def _settle(
        self, number: int, future: Future[FalModelPage], guessed: bool, filters: dict[str, Any]
    ) -> FalModelPage:
        """A page fetched ahead, or, if that guess failed, the page fetched again with retries."""
        try:
            return future.result()
        except _RETRYABLE as exc:
            if not guessed:
                raise
            log.info("fal: page %d, fetched ahead, failed (%s); fetching it again", number, exc)
            return self.get_page(_encode_page(number), **filters)

    # --- pricing ---------------------------------------------------------------------

    def get_price_page(self, endpoint_ids: Sequence[str]) -> FalPricePage:
        """One `GET /models/pricing` for 1 to 50 ids (`endpoint_id` repeated), as FAL answered."""
        if not 1 <= len(endpoint_ids) <= FAL_PRICING_BATCH:
            raise ValueError(f"pricing takes 1 to {FAL_PRICING_BATCH} ids, got {len(endpoint_ids)}")
        body = self.http.get_json("/models/pricing", {"endpoint_id": list(endpoint_ids)})
        answer = parse_payload(FalPriceList, body, provider="fal", path="/models/pricing")
        prices, problems = parse_items(
            FalPrice,
            answer.prices,
            path="/models/pricing",
            key="endpoint_id",
            within=f"of the answer for {len(endpoint_ids)} id(s) from {endpoint_ids[0]!r}",
        )
        return FalPricePage(
            prices=prices,
            next_cursor=answer.next_cursor,
            has_more=answer.has_more,
            warnings=problems,
        )

    def get_prices(self, endpoint_ids: Sequence[str]) -> list[FalPrice]:
        """Prices for 1 to 50 ids; an id FAL has no price for is left out, never priced at 0.

        A 404 may mean "this batch names an unpriced id" or "none of these is priced":
        either way the batch is split in halves until each 404 covers a single id, which
        is then "no price".  A batch answered 200 costs one request, as before.  Any other
        error answer fails loud.
        """
        if not 1 <= len(endpoint_ids) <= FAL_PRICING_BATCH:
            raise ValueError(
                f"get_prices takes 1 to {FAL_PRICING_BATCH} ids, got {len(endpoint_ids)}"
            )
        found: list[FalPrice] = []
        self._price_halves(list(dict.fromkeys(endpoint_ids)), found)
        return found

    def _price_halves(self, ids: list[str], found: list[FalPrice]) -> None:
        try:
            page = self.get_price_page(ids)
        except NotFound:
            if len(ids) == 1:
                log.debug("fal: no price for %s", ids[0])
                return
            middle = len(ids) // 2
            self._price_halves(ids[:middle], found)
            self._price_halves(ids[middle:], found)
            return
        for problem in page.warnings:
            self._warn(problem)
        asked = set(ids)
        found.extend(price for price in page.prices if price.endpoint_id in asked)
        strays = sorted({price.endpoint_id for price in page.prices} - asked)
        if strays:
            self._warn(
                f"GET /models/pricing answered prices for {len(strays)} id(s) not asked for "
                f"(ignored): {', '.join(strays[:5])}"
            )
        if page.has_more:
            missing = len(asked - {price.endpoint_id for price in page.prices})
            self._warn(
                f"GET /models/pricing answered has_more=true for a batch of {len(ids)} ids "
                f"({missing} left without a price); the operation takes no cursor, "
                "so the rest cannot be fetched"
            )

    def get_all_prices(self, endpoint_ids: Iterable[str]) -> dict[str, FalPrice]:
        """Prices for any number of ids, batch after batch."""
        prices: dict[str, FalPrice] = {}
        for batch in _batches(list(endpoint_ids), FAL_PRICING_BATCH):
            prices.update((price.endpoint_id, price) for price in self.get_prices(batch))
        return prices

    # --- estimates -------------------------------------------------------------------

    def estimate_cost(
        self, estimate_type: EstimateType, quantities: Mapping[str, float]
    ) -> FalEstimate:
        """FAL's total for `quantities` per endpoint: billing units (`unit_price`) or calls.

        `POST /models/pricing/estimate` answers one total, no breakdown; the spec caps
        neither the number of endpoints nor sends a per-endpoint figure.
        """
        field = _ESTIMATE_FIELDS.get(estimate_type)
        if field is None:
            raise ValueError(f"estimate_type must be one of {', '.join(_ESTIMATE_FIELDS)}")
        if not quantities:
            raise ValueError("estimate_cost needs at least one endpoint")
        endpoints: dict[str, dict[str, float]] = {}
        for endpoint_id, quantity in quantities.items():
            calls = estimate_type == "historical_api_price"
            if calls and (quantity != int(quantity) or quantity < 1):
                raise ValueError(f"{endpoint_id}: call_quantity must be a whole number >= 1")
            if not calls and not quantity >= _MIN_UNIT_QUANTITY:
                raise ValueError(f"{endpoint_id}: unit_quantity must be >= {_MIN_UNIT_QUANTITY}")
            endpoints[endpoint_id] = {field: int(quantity) if calls else float(quantity)}
        path = "/models/pricing/estimate"
        body = self.http.post_json(path, {"estimate_type": estimate_type, "endpoints": endpoints})
        answer = parse_payload(FalEstimate, body, provider="fal", path=path)
        if answer.estimate_type != estimate_type:
            raise ResponseFormatError(
                "fal", path, f"asked for {estimate_type}, answered {answer.estimate_type}"
            )
        return answer


# The body field each estimate type counts in, and FAL's smallest unit quantity.
_ESTIMATE_FIELDS: dict[str, str] = {
    "unit_price": "unit_quantity",
    "historical_api_price": "call_quantity",
}
_MIN_UNIT_QUANTITY = 1e-6


def _dedupe(models: Iterable[FalModel]) -> list[FalModel]:
    """Drop repeated endpoint ids (pages can shift under a live catalog); first one wins."""
    unique: dict[str, FalModel] = {}
    for model in models:
        unique.setdefault(model.endpoint_id, model)
    return list(unique.values())


# Metadata kept in `meta`: text and lists when non-empty, flags and numbers whenever sent.
_KEPT_WHEN_SET = (
    "tags",
    "model_url",
    "thumbnail_url",
    "thumbnail_animated_url",
    "stream_url",
    "github_url",
    "license_type",
    "kind",
    "date",
    "training_endpoint_ids",
    "inference_endpoint_ids",
)
_KEPT_WHEN_SENT = ("duration_estimate", "highlighted", "pinned")


def normalise_fal(model: FalModel, price: FalPrice | None) -> ModelRecord:
    """One FAL model (and its price, if any) as a registry record."""
    meta = model.metadata
    extra: dict[str, Any] = {}
    if meta is not None:
        for name in _KEPT_WHEN_SET:
            value = getattr(meta, name)
            if value:
                extra[name] = value
        for name in _KEPT_WHEN_SENT:
            value = getattr(meta, name)
            if value is not None:
                extra[name] = value
        if meta.group and meta.group.get("key"):
            extra["group"] = meta.group["key"]
        if meta.group and meta.group.get("label"):
            extra["group_label"] = meta.group["label"]
    return ModelRecord(
        provider="fal",
        model_id=model.endpoint_id,
        display_name=(meta.display_name if meta and meta.display_name else model.endpoint_id),
        category=meta.category if meta else None,
        description=meta.description if meta else None,
        status=(meta.status if meta and meta.status else "active"),
        owned_by=model.endpoint_id.split("/", 1)[0],
        updated_at=meta.updated_at if meta else None,
        pricing=(
            Pricing(unit_price=price.unit_price, unit=price.unit, currency=price.currency)
            if price is not None
            else None
        ),
        meta=extra,
    )
