"""The same clients against the real FAL and Comet APIs; skipped unless keys are set.

Run with real keys in the environment: FAL_KEY=... COMETAPI_KEY=... pytest -m live
"""

import os

import pytest

from mpc_lib.catalog import CometClient, FalClient
from mpc_lib.config import Settings

# Read before the autouse clean_environ fixture empties the environment for each test.
_LIVE = Settings.from_env(dict(os.environ))

pytestmark = pytest.mark.live


@pytest.mark.skipif(_LIVE.key_for("fal") is None, reason="FAL_KEY is not set")
def test_fal_first_page_and_its_prices() -> None:
    with FalClient(_LIVE.base_url_for("fal"), _LIVE.key_for("fal"), settings=_LIVE) as client:
        page = client.get_page(None, limit=5)
        assert page.models and all("/" in m.endpoint_id for m in page.models)
        prices = client.get_prices([m.endpoint_id for m in page.models])
    assert all(p.currency and p.unit and p.unit_price >= 0 for p in prices)


@pytest.mark.skipif(_LIVE.key_for("comet") is None, reason="COMETAPI_KEY is not set")
def test_comet_models_and_catalog() -> None:
    with CometClient(_LIVE.base_url_for("comet"), _LIVE.key_for("comet"), settings=_LIVE) as client:
        models = client.list_models()
        catalog = client.list_catalog()
    assert models and catalog
    assert any(entry.pricing is not None for entry in catalog)
