"""CometClient against the Comet emulator over loopback."""

import pytest

from mpc_lib.catalog import CometClient, join_catalog
from mpc_lib.config import Secret, Settings
from mpc_lib.errors import AuthError, ResponseFormatError, ServerError
from mpc_lib.http import HttpCore
from mpc_lib.sandbox import Fault


def _client(sandbox, key: str | None = None, **settings) -> CometClient:
    defaults = {"retry_backoff_s": 0.01, "max_retries": 2}
    return CometClient(
        sandbox.comet_url,
        Secret(key or sandbox.comet_key),
        settings=Settings(**{**defaults, **settings}),
    )


def test_models_and_catalog_join_into_priced_records(sandbox) -> None:
    with _client(sandbox) as client:
        models = client.list_models()
        catalog = client.list_catalog()
    assert [m.id for m in models] == [m["id"] for m in sandbox.data.comet_models]
    records = join_catalog(models, catalog)
    assert len(records) == len(models) > 500
    priced = [r for r in records if r.pricing is not None]
    assert 0.9 * len(records) < len(priced) < len(records)  # a few are missing from the catalog
    by_id = {entry["id"]: entry for entry in sandbox.data.comet_catalog}
    for record in priced[:50]:
        entry = by_id.get(record.model_id)
        if entry and entry["pricing"]["input"] is not None:
            assert record.pricing.unit_price == entry["pricing"]["input"]
            assert record.pricing.unit == "1M tokens"


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


def test_5xx_on_catalog_is_retried(sandbox) -> None:
    sandbox.faults.add(
        Fault(kind="server_error", provider="comet", path="/api/models", status=502, times=1)
    )
    with _client(sandbox) as client:
        assert len(client.list_catalog()) > 500


def test_5xx_forever_fails_loud(sandbox) -> None:
    sandbox.faults.add(
        Fault(kind="server_error", provider="comet", path="/v1/models", status=500, times=None)
    )
    with _client(sandbox) as client, pytest.raises(ServerError, match="comet: 500 GET /v1/models"):
        client.list_models()


def test_malformed_catalog_is_a_format_error(sandbox, tmp_path) -> None:
    sandbox.faults.add(Fault(kind="malformed", provider="comet", path="/api/models"))
    with (
        _client(sandbox, outputs_dir=tmp_path) as client,
        pytest.raises(ResponseFormatError, match="comet: malformed answer from /api/models"),
    ):
        client.list_catalog()
