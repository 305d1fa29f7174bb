"""CometClient against the Comet emulator over loopback."""

import math
import threading
import time
from urllib.parse import parse_qs

import pytest

from mpc_lib.catalog import CometClient, join_catalog
from mpc_lib.config import Secret, Settings
from mpc_lib.errors import AuthError, ResponseFormatError, ServerError
from mpc_lib.http import HttpCore
from mpc_lib.sandbox import Fault


def _client(sandbox, key: str | None = None, clock=None, **settings) -> CometClient:
    """A client on the Comet emulator; give it the `clock` fixture when the test retries."""
    defaults = {"retry_backoff_s": 0.01, "max_retries": 2}
    return CometClient(
        sandbox.comet_url,
        Secret(key or sandbox.comet_key),
        settings=Settings(**{**defaults, **settings}),
        **({"clock": clock} if clock is not None else {}),
    )


def _expected_price(entry: dict | None) -> tuple | None:
    """(unit, unit price, output price) as the catalog entry states it, or None."""
    if entry is None:
        return None
    price = entry["pricing"]
    if price.get("input") is not None or price.get("output") is not None:
        return ("1M tokens", price.get("input"), price.get("output"))
    if price.get("per_request") is not None:
        return ("request", price["per_request"], None)
    if price.get("per_second") is not None:
        return ("second", price["per_second"], None)
    return None


def test_models_and_catalog_join_into_priced_records(sandbox) -> None:
    with _client(sandbox) as client:
        models = client.list_models()
        catalog = client.list_catalog()
        assert client.warnings == []
    assert [m.id for m in models] == [m["id"] for m in sandbox.data.comet_models]
    records = join_catalog(models, catalog)
    assert len(records) == len(models)
    by_id = {entry["id"]: entry for entry in sandbox.data.comet_catalog}
    by_id.update({e["code"]: e for e in sandbox.data.comet_catalog if e["code"] not in by_id})
    unpriced = [m.id for m in models if m.id not in by_id]
    assert unpriced  # the sandbox lists a few models the catalog does not price
    for record in records:
        stated = _expected_price(by_id.get(record.model_id))
        got = record.pricing and (
            record.pricing.unit,
            record.pricing.unit_price,
            record.pricing.output_unit_price,
        )
        assert got == stated, record.model_id


def test_catalog_is_public_and_list_needs_bearer(sandbox) -> None:
    core = HttpCore("comet", sandbox.comet_url, key=Secret(sandbox.comet_key), scheme="Key")
    with core, pytest.raises(AuthError) as info:
        core.get_json("/v1/models")
    assert info.value.status == 401
    assert info.value.error_type == "invalid_request_error"
    with _client(sandbox, key="wrong") as client:
        assert client.list_catalog()  # no auth needed
        with pytest.raises(AuthError):
            client.list_models()


def test_5xx_on_catalog_is_retried(sandbox, clock) -> None:
    sandbox.faults.add(
        Fault(kind="server_error", provider="comet", path="/api/models", status=502, times=1)
    )
    with _client(sandbox, clock=clock) as client:
        assert len(client.list_catalog()) > 500
    assert [r.status for r in sandbox.requests("comet")] == [502, 200]
    assert len(clock.sleeps) == 1 and 0.01 <= clock.sleeps[0] <= 0.015


def test_5xx_forever_fails_loud(sandbox, clock) -> None:
    sandbox.faults.add(
        Fault(kind="server_error", provider="comet", path="/v1/models", status=500, times=None)
    )
    with (
        _client(sandbox, clock=clock) as client,
        pytest.raises(ServerError, match="comet: 500 GET /v1/models"),
    ):
        client.list_models()
    assert len(clock.sleeps) == 2  # max_retries=2


def test_malformed_catalog_is_a_format_error(sandbox, tmp_path) -> None:
    sandbox.faults.add(Fault(kind="malformed", provider="comet", path="/api/models"))
    with (
        _client(sandbox, outputs_dir=tmp_path) as client,
        pytest.raises(ResponseFormatError, match="comet: malformed answer from /api/models"),
    ):
        client.list_catalog()


def test_an_error_answered_as_200_is_a_format_error(sandbox) -> None:
    """Only the envelope fails a list: an error object sent with 200 has no list to read."""
    sandbox.faults.add(Fault("wrong_shape", provider="comet", times=None))
    with _client(sandbox) as client:
        with pytest.raises(ResponseFormatError, match="from /v1/models: data: Field required"):
            client.list_models()
        with pytest.raises(ResponseFormatError, match="from /api/models: success=false"):
            client.list_catalog()


def test_odd_entries_are_kept_with_what_parses_and_reported(sandbox) -> None:
    sandbox.set_modes(comet_odd_entries=True)
    with _client(sandbox) as client:
        models = client.list_models()
        catalog = client.list_catalog()
        warnings = client.warnings
    assert [m.id for m in models] == [m["id"] for m in sandbox.data.comet_models]
    assert [e.id for e in catalog] == [e["id"] for e in sandbox.data.comet_catalog]
    odd = [w for w in warnings if "dropped" in w]
    assert [w.split(": dropped ")[1].split(" (")[0] for w in odd] == [
        "features: null",
        'context_length: "128k"',
        'pricing.input: "free"',
    ]
    assert all(w.startswith("/api/models entry '") for w in odd)
    skipped = sorted(w for w in warnings if "skipped" in w)
    assert skipped == [
        f'/api/models entry #{len(sandbox.data.comet_catalog)} (code "no-id-model"): '
        "skipped: no usable id (missing)",
        f"/v1/models entry #{len(sandbox.data.comet_models)}: skipped: no usable id (missing)",
    ]
    assert len(warnings) == 5
    free_id = odd[2].split("'")[1]
    free = next(e for e in catalog if e.id == free_id)
    assert free.pricing is not None and free.pricing.input is None and free.pricing.output


def test_a_paging_catalog_is_fetched_page_by_page(sandbox) -> None:
    sandbox.set_modes(comet_page_size=100)
    with _client(sandbox) as client:
        catalog = client.list_catalog()
        assert client.warnings == []
    expected = sandbox.data.comet_catalog
    assert [e.id for e in catalog] == [e["id"] for e in expected]
    queries = [parse_qs(r.query) for r in sandbox.requests("comet") if r.path == "/api/models"]
    assert queries[0] == {}
    assert [(q["page"], q["page_size"]) for q in queries[1:]] == [
        ([str(n)], ["100"]) for n in range(2, math.ceil(len(expected) / 100) + 1)
    ]


def test_the_unpaginated_catalog_is_one_request(sandbox) -> None:
    with _client(sandbox) as client:
        client.list_catalog()
    assert [r.query for r in sandbox.requests("comet")] == [""]


def test_a_total_that_disagrees_with_the_entries_is_a_warning(sandbox) -> None:
    """The catalog shrinks between pages: fewer entries arrive than the first page's total."""
    total = len(sandbox.data.comet_catalog)
    sandbox.set_modes(comet_page_size=100)
    sandbox.faults.add(
        Fault("latency", provider="comet", path="/api/models", query="page=2&", latency_ms=300)
    )

    def shrink_after_the_first_page() -> None:
        deadline = time.monotonic() + 5
        while not sandbox.requests("comet") and time.monotonic() < deadline:
            time.sleep(0.002)
        del sandbox.data.comet_catalog[150:]  # page 2 is still waiting out its latency

    shrinker = threading.Thread(target=shrink_after_the_first_page)
    shrinker.start()
    with _client(sandbox) as client:
        catalog = client.list_catalog()
        warnings = client.warnings
    shrinker.join()
    assert len(catalog) == 150
    assert warnings == [f"GET /api/models: total says {total} entries, 150 arrived"]
