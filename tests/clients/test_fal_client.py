"""FalClient against the FAL emulator over loopback: pages, prices, auth and every fault."""

import math
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from mpc_lib.catalog import FalClient
from mpc_lib.config import Secret, Settings
from mpc_lib.errors import (
    AuthError,
    MpcError,
    NotFound,
    PaginationError,
    ProviderError,
    RateLimited,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from mpc_lib.http import HttpCore
from mpc_lib.sandbox import Fault
from mpc_lib.sandbox.fal import encode_cursor


@pytest.fixture(autouse=True)
def _http_log(caplog) -> None:
    caplog.set_level("INFO", logger="mpc_lib.http")


def _client(sandbox, clock=None, **settings) -> FalClient:
    """A client on the FAL emulator; give it the `clock` fixture when the test retries."""
    defaults = {"retry_backoff_s": 0.01, "max_retries": 3, "timeout_s": 5.0}
    return FalClient(
        sandbox.fal_url,
        Secret(sandbox.fal_key),
        settings=Settings(**{**defaults, **settings}),
        **({"clock": clock} if clock is not None else {}),
    )


def _requests(sandbox, path: str) -> list:
    return [r for r in sandbox.requests("fal") if r[2] == f"/v1{path}"]


def test_concurrent_listing_equals_the_sequential_walk(sandbox) -> None:
    with _client(sandbox, concurrency=6) as client:
        fast = client.list_models()
        slow = client.list_models_sequential()
    assert [m.endpoint_id for m in fast] == [m.endpoint_id for m in slow]
    assert [m.endpoint_id for m in fast] == [m["endpoint_id"] for m in sandbox.data.fal_models]
    assert len(fast) > 800


def test_filtered_listing_equals_the_sequential_walk(sandbox) -> None:
    with _client(sandbox) as client:
        fast = client.list_models(category="text-to-image", limit=7)
        slow = client.list_models_sequential(category="text-to-image", limit=7)
    expected = [
        m["endpoint_id"]
        for m in sandbox.data.fal_models
        if m["metadata"]["category"] == "text-to-image"
    ]
    assert [m.endpoint_id for m in fast] == [m.endpoint_id for m in slow] == expected


def test_on_page_sees_every_page_in_order(sandbox) -> None:
    pages: list[int] = []
    with _client(sandbox) as client:
        models = client.list_models(on_page=lambda batch, more: pages.append(len(batch)))
    assert sum(pages) == len(models)
    assert all(size == 100 for size in pages[:-1])  # the emulator caps pages at 100


def test_prices_in_batches_of_fifty(sandbox) -> None:
    ids = [m["endpoint_id"] for m in sandbox.data.fal_models[:120]]
    with _client(sandbox) as client:
        prices = client.get_all_prices(ids)
        with pytest.raises(ValueError, match="1 to 50 ids"):
            client.get_prices(ids[:51])
    expected = {
        i: sandbox.data.fal_prices[i]["unit_price"] for i in ids if i in sandbox.data.fal_prices
    }
    assert {i: p.unit_price for i, p in prices.items()} == expected
    assert len(_requests(sandbox, "/models/pricing")) == 3  # 50 + 50 + 20


def test_more_than_fifty_ids_is_a_validation_error(sandbox) -> None:
    ids = [m["endpoint_id"] for m in sandbox.data.fal_models[:51]]
    core = HttpCore("fal", sandbox.fal_url, key=Secret(sandbox.fal_key), scheme="Key")
    with core, pytest.raises(ProviderError) as info:
        core.get_json("/models/pricing", {"endpoint_id": ids})
    assert info.value.status == 400
    assert info.value.error_type == "validation_error"
    assert "50" in (info.value.detail or "")


def test_bearer_scheme_is_refused_with_the_fal_envelope(sandbox) -> None:
    core = HttpCore("fal", sandbox.fal_url, key=Secret(sandbox.fal_key), scheme="Bearer")
    with core, pytest.raises(AuthError) as info:
        core.get_json("/models/pricing", {"endpoint_id": "x"})
    assert (info.value.status, info.value.error_type) == (401, "authorization_error")
    assert info.value.request_id and info.value.request_id.startswith("sbx-")
    assert sandbox.fal_key not in str(info.value)


def test_wrong_key_fails_without_retrying(sandbox) -> None:
    client = FalClient(sandbox.fal_url, Secret("wrong-key"), settings=Settings(max_retries=3))
    with client, pytest.raises(AuthError, match="401 GET /models"):
        client.get_prices(["fal-ai/anything"])
    assert len(_requests(sandbox, "/models/pricing")) == 1


def test_latency_beyond_the_timeout_is_retried(sandbox, caplog, clock) -> None:
    sandbox.faults.add(
        Fault(kind="latency", provider="fal", path="/v1/models", latency_ms=1500, times=1)
    )
    with _client(sandbox, clock, timeout_s=0.3) as client:
        page = client.get_page(None)
    assert len(page.models) == 100
    # the slow answer is abandoned (the emulator logs it only when it finishes), the retry succeeds
    attempts = [r.getMessage() for r in caplog.records if r.name == "mpc_lib.http"]
    assert any("ReadTimeout" in m and "retry 1/3" in m for m in attempts)
    assert any("-> 200" in m and "attempt 2" in m for m in attempts)
    assert len(clock.sleeps) == 1


def test_latency_that_never_ends_is_a_transport_error(sandbox, clock) -> None:
    sandbox.faults.add(
        Fault(kind="latency", provider="fal", path="/v1/models", latency_ms=1500, times=None)
    )
    with (
        _client(sandbox, clock, timeout_s=0.2, max_retries=1) as client,
        pytest.raises(TransportError) as info,
    ):
        client.get_page(None)
    assert "ReadTimeout" in str(info.value)
    assert info.value.provider == "fal"


def test_429_retry_after_is_honoured(sandbox, clock) -> None:
    sandbox.faults.add(
        Fault(kind="rate_limit", provider="fal", path="/v1/models", retry_after=1, times=1)
    )
    with _client(sandbox, clock, retry_backoff_s=0.0) as client:
        page = client.get_page(None)
    assert page.models
    assert [entry[4] for entry in _requests(sandbox, "/models")] == [429, 200]
    assert clock.sleeps == [1.0]  # waited for Retry-After, not the 0 s backoff


def test_each_retry_is_logged_with_its_wait(sandbox, caplog, clock) -> None:
    sandbox.faults.add(Fault(kind="server_error", provider="fal", status=502, times=2))
    with _client(sandbox, clock, retry_backoff_s=2) as client:
        client.get_page(None)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(clock.sleeps) == 2
    assert warnings == [
        f"GET {sandbox.fal_url}/models -> 502; retry {n}/3 in {wait:.2f}s"
        for n, wait in enumerate(clock.sleeps, 1)
    ]
    assert 2 <= clock.sleeps[0] <= 3 and 4 <= clock.sleeps[1] <= 6  # doubling, jitter <= 50%


def test_429_forever_raises_rate_limited(sandbox, clock) -> None:
    sandbox.faults.add(Fault(kind="rate_limit", provider="fal", retry_after=0, times=None))
    with _client(sandbox, clock, max_retries=2) as client, pytest.raises(RateLimited) as info:
        client.get_page(None)
    assert (info.value.status, info.value.error_type) == (429, "rate_limited")
    assert len(_requests(sandbox, "/models")) == 3
    assert clock.sleeps == [0.0, 0.0]  # Retry-After: 0 wins over the backoff


def test_5xx_is_retried_then_succeeds(sandbox, clock) -> None:
    sandbox.faults.add(
        Fault(kind="server_error", provider="fal", path="/v1/models/pricing", status=503, times=2)
    )
    ids = [m["endpoint_id"] for m in sandbox.data.fal_models[:5]]
    with _client(sandbox, clock, retry_backoff_s=1) as client:
        assert len(client.get_prices(ids)) >= 4
    assert [entry[4] for entry in _requests(sandbox, "/models/pricing")] == [503, 503, 200]
    assert len(clock.sleeps) == 2
    assert 1 <= clock.sleeps[0] <= 1.5 and 2 <= clock.sleeps[1] <= 3


def test_5xx_forever_raises_server_error(sandbox, clock) -> None:
    sandbox.faults.add(Fault(kind="server_error", provider="fal", status=500, times=None))
    with _client(sandbox, clock, max_retries=1) as client, pytest.raises(ServerError) as info:
        client.get_page(None)
    assert (info.value.status, info.value.error_type) == (500, "server_error")
    assert info.value.request_id and info.value.request_id.startswith("sbx-")


def test_dropped_connection_is_retried(sandbox, clock) -> None:
    sandbox.faults.add(Fault(kind="drop", provider="fal", path="/v1/models", times=1))
    with _client(sandbox, clock) as client:
        assert len(client.get_page(None).models) == 100
    assert len(clock.sleeps) == 1


def test_dropped_connection_forever_is_a_transport_error(sandbox, clock) -> None:
    sandbox.faults.add(Fault(kind="drop", provider="fal", times=None))
    with _client(sandbox, clock, max_retries=1) as client, pytest.raises(TransportError) as info:
        client.get_page(None)
    assert "RemoteProtocolError" in str(info.value)


def test_malformed_json_is_a_failure_not_an_empty_list(sandbox, tmp_path) -> None:
    sandbox.faults.add(Fault(kind="malformed", provider="fal", path="/v1/models", after=2, times=1))
    with (
        _client(sandbox, outputs_dir=tmp_path) as client,
        pytest.raises(ResponseFormatError) as info,
    ):
        client.list_models()
    assert "not valid JSON" in str(info.value)
    assert info.value.saved_to is not None
    assert Path(info.value.saved_to).read_bytes()


def test_repeating_cursor_is_a_pagination_error(sandbox) -> None:
    sandbox.faults.add(Fault(kind="repeat_cursor", provider="fal", times=None))
    with _client(sandbox) as client:
        with pytest.raises(PaginationError, match="repeated"):
            client.list_models()
        with pytest.raises(PaginationError, match="repeated"):
            client.list_models_sequential()


def test_odd_entries_are_kept_with_what_parses_and_reported(sandbox) -> None:
    """One entry whose field breaks its type costs that field (or that entry), not the listing."""
    sandbox.set_modes(fal_odd_entries=True)
    with _client(sandbox) as client:
        models = client.list_models()
        prices = client.get_all_prices(m.endpoint_id for m in models)
        warnings = client.warnings
    clean = sandbox.data.fal_models
    assert [m.endpoint_id for m in models] == [m["endpoint_id"] for m in clean]
    # the first five priced models are the odd ones (mpc_lib.sandbox.modes.odd_fal)
    odd = [m["endpoint_id"] for m in clean if m["endpoint_id"] in sandbox.data.fal_prices][:5]
    by_id = {m.endpoint_id: m for m in models}
    for endpoint_id in odd[:2]:  # kept with what parses: only the tags are gone
        meta = by_id[endpoint_id].metadata
        original = next(m["metadata"] for m in clean if m["endpoint_id"] == endpoint_id)
        assert meta is not None and meta.tags == []
        assert meta.display_name == original["display_name"]
    assert set(sandbox.data.fal_prices) - set(prices) == set(odd[2:])  # no price made up
    assert all(prices[i].unit_price == sandbox.data.fal_prices[i]["unit_price"] for i in prices)
    pages = math.ceil((len(clean) + 1) / 100)
    assert warnings == [
        f"/models entry '{odd[0]}': dropped metadata.tags: null (Input should be a valid list)",
        f"/models entry '{odd[1]}': dropped metadata.tags: \"fast\" (Input should be a valid list)",
        f"/models entry #{len(clean) % 100} on page {pages} "
        '(metadata.display_name "No Id Model"): skipped: no usable endpoint_id (missing)',
        f"/models/pricing entry '{odd[2]}': skipped: unit_price: \"$0.05\" "
        "(Input should be a valid number, unable to parse string as a number)",
        f"/models/pricing entry '{odd[3]}': skipped: unit_price: null "
        "(Input should be a valid number)",
        "/models/pricing entry #4 of the answer for 50 id(s) from "
        f"'{clean[0]['endpoint_id']}': skipped: no usable endpoint_id (missing)",
    ]


def test_the_sequential_walk_reports_each_odd_entry_once(sandbox) -> None:
    sandbox.set_modes(fal_odd_entries=True)
    with _client(sandbox) as client:
        fast = client.list_models()
        slow = client.list_models_sequential()
        warnings = client.warnings
    assert [m.endpoint_id for m in fast] == [m.endpoint_id for m in slow]
    assert len(warnings) == 3 and all(w.startswith("/models entry ") for w in warnings)


# --- pricing: both readings of the 404 --------------------------------------------------


def _pricing_calls(sandbox) -> list[tuple[list[str], int]]:
    """(ids asked, status) of every pricing request, in arrival order."""
    return [
        (parse_qs(r.query)["endpoint_id"], r.status) for r in _requests(sandbox, "/models/pricing")
    ]


def _split_bound(batch: list[str], unpriced: set[str]) -> int:
    """Requests a binary split may need: the batch, then two halves per level per unpriced id."""
    named = len(set(batch) & unpriced)
    return 1 + 2 * named * math.ceil(math.log2(len(batch)))


def _mixed_batch(sandbox, priced: int, unpriced: int) -> tuple[list[str], set[str]]:
    """`priced` priced ids with `unpriced` unpriced ones spread among them."""
    prices = sandbox.data.fal_prices
    ids = [m["endpoint_id"] for m in sandbox.data.fal_models]
    without = [i for i in ids if i not in prices][:unpriced]
    batch = [i for i in ids if i in prices][:priced]
    for n, endpoint_id in enumerate(without):
        batch.insert((n * 17 + 5) % (len(batch) + 1), endpoint_id)
    assert len(without) == unpriced
    return batch, set(without)


@pytest.mark.parametrize("mode", ["lenient", "strict"])
def test_every_priced_id_keeps_its_price_under_either_404(sandbox, mode: str) -> None:
    batch, unpriced = _mixed_batch(sandbox, priced=47, unpriced=3)
    sandbox.set_modes(fal_pricing=mode)
    with _client(sandbox) as client:
        found = client.get_prices(batch)
        assert client.warnings == []
    prices = sandbox.data.fal_prices
    assert {p.endpoint_id: p.unit_price for p in found} == {
        i: prices[i]["unit_price"] for i in batch if i not in unpriced
    }
    calls = _pricing_calls(sandbox)
    if mode == "lenient":
        assert calls == [(batch, 200)]  # a batch answered 200 costs nothing extra
        return
    # strict: each unpriced id ends up alone in a 404, each priced id in exactly one 200
    assert sorted(ids[0] for ids, status in calls if status == 404 and len(ids) == 1) == sorted(
        unpriced
    )
    answered = [i for ids, status in calls if status == 200 for i in ids]
    assert sorted(answered) == sorted(set(batch) - unpriced)
    assert {status for _, status in calls} == {200, 404}
    assert len(calls) <= _split_bound(batch, unpriced)


def test_a_batch_with_no_price_at_all_is_split_to_the_end(sandbox) -> None:
    _, unpriced = _mixed_batch(sandbox, priced=0, unpriced=4)
    with _client(sandbox) as client:
        assert client.get_prices(sorted(unpriced)) == []
    calls = _pricing_calls(sandbox)
    assert all(status == 404 for _, status in calls)
    assert sorted(ids[0] for ids, _ in calls if len(ids) == 1) == sorted(unpriced)
    assert len(calls) == 2 * len(unpriced) - 1  # a full binary tree over 4 leaves


@pytest.mark.parametrize(("status", "error"), [(400, ProviderError), (403, AuthError)])
def test_other_4xx_on_pricing_fail_loud_without_splitting(sandbox, status, error) -> None:
    batch, _ = _mixed_batch(sandbox, priced=20, unpriced=1)
    sandbox.faults.add(
        Fault("server_error", provider="fal", path="/v1/models/pricing", status=status, times=None)
    )
    with _client(sandbox) as client, pytest.raises(error) as info:
        client.get_prices(batch)
    assert info.value.status == status
    assert [s for _, s in _pricing_calls(sandbox)] == [status]


def test_has_more_on_pricing_is_a_warning_not_silent(sandbox) -> None:
    batch = list(sandbox.data.fal_prices)[:30]
    sandbox.set_modes(fal_pricing_page_size=10)
    with _client(sandbox) as client:
        found = client.get_prices(batch)
        warnings = client.warnings
    assert [p.endpoint_id for p in found] == batch[:10]  # nothing made up for the other 20
    assert len(warnings) == 1
    assert "has_more=true for a batch of 30 ids (20 left without a price)" in warnings[0]


# --- pages fetched ahead -----------------------------------------------------------------


def _page_requests(sandbox, cursor: str | None) -> list[int]:
    """Statuses of the listing requests for one cursor (None = the first page)."""
    return [
        r.status
        for r in _requests(sandbox, "/models")
        if parse_qs(r.query).get("cursor", [None])[0] == cursor
    ]


def test_guessed_pages_past_the_end_are_not_retried(sandbox) -> None:
    del sandbox.data.fal_models[150:]  # two pages of 100; pages 3.. are guesses past the end
    sandbox.faults.add(
        Fault("server_error", provider="fal", path="/v1/models$", query="cursor=Mw==", times=None)
    )
    with _client(sandbox, concurrency=4, max_retries=3) as client:
        models = client.list_models()
    assert [m.endpoint_id for m in models] == [m["endpoint_id"] for m in sandbox.data.fal_models]
    assert _page_requests(sandbox, encode_cursor(3)) == [500]  # tried once, never again
    assert _page_requests(sandbox, encode_cursor(2)) == [200]
    cursors = Counter(
        parse_qs(r.query).get("cursor", ["-"])[0] for r in _requests(sandbox, "/models")
    )
    assert set(cursors.values()) == {1}


def test_a_needed_guessed_page_that_failed_is_fetched_again_with_retries(sandbox, clock) -> None:
    del sandbox.data.fal_models[350:]  # four pages: page 3 is a guess when sent, then needed
    sandbox.faults.add(
        Fault("server_error", provider="fal", path="/v1/models$", query="cursor=Mw==", times=2)
    )
    with _client(sandbox, clock, concurrency=4, max_retries=3) as client:
        models = client.list_models()
    assert [m.endpoint_id for m in models] == [m["endpoint_id"] for m in sandbox.data.fal_models]
    assert len(clock.sleeps) == 1
    # the guess failed without a retry; fetched again, its first try failed and a retry won
    assert _page_requests(sandbox, encode_cursor(3)) == [500, 500, 200]


def test_a_redirect_is_not_followed(sandbox) -> None:
    sandbox.faults.add(
        Fault("redirect", provider="fal", status=308, location="https://elsewhere.invalid/v1")
    )
    with _client(sandbox) as client, pytest.raises(MpcError):
        client.get_page(None)
    assert [r.status for r in sandbox.requests("fal")] == [308]


def test_the_last_count_requests_every_page_in_one_round(sandbox) -> None:
    n = len(sandbox.data.fal_models)
    pages = -(-n // 100)
    sandbox.latency_ms = 150
    with _client(sandbox, concurrency=16) as client:
        models = client.list_models(expected=n)
    assert [m.endpoint_id for m in models] == [m["endpoint_id"] for m in sandbox.data.fal_models]
    listed = _requests(sandbox, "/models")
    assert len(listed) == pages + 1  # every page, plus one spare in case the catalog grew
    first_answer = min(r.at for r in listed) + 0.15
    assert all(r.at < first_answer for r in listed), "a page waited for another page's answer"


@pytest.mark.parametrize("change", [+250, -350])
def test_a_wrong_count_still_lists_exactly_the_catalog(sandbox, change: int) -> None:
    if change < 0:
        del sandbox.data.fal_models[change:]
    else:
        extra = sandbox.data.fal_models[:change]
        sandbox.data.fal_models.extend(
            {**m, "endpoint_id": m["endpoint_id"] + "/grown"} for m in extra
        )
    expected = len(sandbox.data.fal_models) - change  # what the last sync saw
    with _client(sandbox, concurrency=8) as client:
        models = client.list_models(expected=expected)
    assert [m.endpoint_id for m in models] == [m["endpoint_id"] for m in sandbox.data.fal_models]


# --- the estimate endpoint -----------------------------------------------------------


def test_estimate_cost_both_types_equal_the_served_prices(sandbox) -> None:
    ids = list(sandbox.data.fal_prices)[:70]  # more than a pricing batch: the estimate has no cap
    price = {i: sandbox.data.fal_prices[i]["unit_price"] for i in ids}
    quantities = {i: 0.5 + n for n, i in enumerate(ids)}
    with _client(sandbox) as client:
        units = client.estimate_cost("unit_price", quantities)
        calls = client.estimate_cost("historical_api_price", {ids[0]: 12, ids[1]: 3})
    assert units.estimate_type == "unit_price" and units.currency == "USD"
    assert units.total_cost == pytest.approx(sum(price[i] * q for i, q in quantities.items()))
    # The sandbox prices a call at one billing unit: it has no call history.
    assert calls.estimate_type == "historical_api_price"
    assert calls.total_cost == pytest.approx(price[ids[0]] * 12 + price[ids[1]] * 3)
    bodies = [r for r in _requests(sandbox, "/models/pricing/estimate") if r.method == "POST"]
    assert len(bodies) == 2


@pytest.mark.parametrize(
    ("estimate_type", "quantities", "message"),
    [
        ("guess", {"a": 1}, "estimate_type must be one of"),
        ("unit_price", {}, "at least one endpoint"),
        ("unit_price", {"a": 0}, "unit_quantity must be >= 1e-06"),
        ("historical_api_price", {"a": 1.5}, "call_quantity must be a whole number"),
        ("historical_api_price", {"a": 0}, "call_quantity must be a whole number"),
    ],
)
def test_estimate_cost_refuses_what_fal_would(sandbox, estimate_type, quantities, message) -> None:
    with _client(sandbox) as client, pytest.raises(ValueError, match=message):
        client.estimate_cost(estimate_type, quantities)
    assert not _requests(sandbox, "/models/pricing/estimate")


def test_estimate_cost_of_an_unpriced_endpoint_is_not_found(sandbox) -> None:
    unpriced = next(
        m["endpoint_id"]
        for m in sandbox.data.fal_models
        if m["endpoint_id"] not in sandbox.data.fal_prices
    )
    with _client(sandbox) as client, pytest.raises(NotFound) as info:
        client.estimate_cost("unit_price", {unpriced: 1})
    assert info.value.status == 404 and "/models/pricing/estimate" in str(info.value)


def test_estimate_cost_retries_a_5xx_and_rejects_a_malformed_answer(sandbox) -> None:
    some = next(iter(sandbox.data.fal_prices))
    path = "/v1/models/pricing/estimate"
    sandbox.faults.add(Fault(kind="server_error", provider="fal", path=path))
    with _client(sandbox) as client:
        assert client.estimate_cost("unit_price", {some: 1}).total_cost > 0
    assert [r.status for r in _requests(sandbox, "/models/pricing/estimate")] == [500, 200]
    sandbox.faults.add(Fault(kind="malformed", provider="fal", path=path))
    with _client(sandbox) as client, pytest.raises(ResponseFormatError):
        client.estimate_cost("unit_price", {some: 1})
