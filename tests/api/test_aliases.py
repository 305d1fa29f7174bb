"""The alias catalog: it resolves against registry and gateway config, and covers the old one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mpc_lib.aliases import AliasCatalog, load_aliases
from mpc_lib.config import Secret
from mpc_lib.errors import AliasError
from mpc_lib.gateway.config import GatewaySelection, build_gateway_config
from mpc_lib.upstreams import Upstream


def _model(provider: str, model_id: str) -> dict[str, Any]:
    return {"provider": provider, "model_id": model_id, "display_name": model_id}


def _config(*keys: str, mode: str = "chat") -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": key.split(":", 1)[1],
                "model_info": {
                    "mode": mode,
                    "mpc_provider": key.split(":")[0],
                    "mpc_model_id": key.split(":", 1)[1],
                },
            }
            for key in keys
        ]
    }


CATALOG = AliasCatalog.model_validate(
    {
        "version": 1,
        "aliases": {
            "fast": {
                "models": ["comet:real-id", "comet:sandbox-id"],
                "modality": ["text"],
                "quality_tier": "draft",
                "legacy": ["old-fast"],
            },
            "best": {"models": ["comet:best"], "modality": ["text"], "quality_tier": "flagship"},
        },
        "jobs": {"draft": [{"step": "write", "alias": "fast"}]},
    }
)


def test_the_first_candidate_the_registry_and_gateway_both_have_wins() -> None:
    models = [_model("comet", "sandbox-id"), _model("comet", "best")]
    assert CATALOG.targets(models) == {"fast": "comet:sandbox-id", "best": "comet:best"}
    resolved = CATALOG.resolve(models, _config("comet:sandbox-id", "comet:best"))
    assert resolved.by_name["fast"].gateway_model == "sandbox-id"
    assert resolved.lookup("old-fast") is resolved.by_name["fast"]
    assert [r.name for r in resolved.select(None, None, "text")] == ["best", "fast"]


def test_a_broken_alias_names_itself_and_why() -> None:
    models = [_model("comet", "real-id"), _model("comet", "best")]
    with pytest.raises(AliasError) as broken:
        CATALOG.resolve(models, _config("comet:best"))
    assert "alias 'fast': comet:real-id has no gateway deployment; " in str(broken.value)
    assert "comet:sandbox-id is not in the registry" in str(broken.value)


def test_an_alias_on_a_model_the_gateway_config_left_out_names_the_reason() -> None:
    tokens = {"unit_price": 1.0, "output_unit_price": 2.0, "unit": "1M tokens"}
    models = [
        _model("comet", "real-id") | {"meta": {"model_type": "video"}, "pricing": tokens},
        _model("comet", "sandbox-id") | {"meta": {"model_type": "text"}},  # no price
        _model("comet", "best") | {"meta": {"model_type": "text"}, "pricing": tokens},
    ]
    comet = Upstream("comet", "live", "https://comet.test", Secret("k"), chat_url="https://x")
    config = build_gateway_config({"models": models}, {"comet": comet}, GatewaySelection())
    with pytest.raises(AliasError) as broken:
        CATALOG.resolve(models, config)
    assert str(broken.value) == (
        "1 broken alias(es), MPC-API will not start: alias 'fast': comet:real-id has no "
        "gateway deployment: `mpc gateway config` left it out (unsupported type); "
        "comet:sandbox-id has no gateway deployment: `mpc gateway config` left it out (no price)"
    )


def test_the_shipped_catalog_resolves_against_the_sandbox_registry(gateway: Any) -> None:
    registry = json.loads(
        (Path(gateway.settings.outputs_dir) / "registry" / "models.json").read_text()
    )
    resolved = load_aliases().resolve(registry["models"], gateway.config)
    assert set(resolved.by_name) == set(load_aliases().aliases)


def test_every_old_name_and_job_maps_onto_the_new_catalog(shared_dir: Path) -> None:
    """The old service's catalog (13 entries, fictional provider ids) -> our aliases."""
    path = shared_dir / "seed-data" / "mpc_model_catalog.json"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    old = json.loads(path.read_text())
    catalog = load_aliases()
    known: dict[str, str] = {}
    for name, alias in catalog.aliases.items():
        known[name] = name
        known.update({legacy: name for legacy in alias.legacy})
    for entry in old:
        # every alias the old entry answered to is an alias of ours
        for alias in entry["aliases"]:
            assert alias in known, (entry["canonical_id"], alias)
        # and its canonical id still reaches the same alias
        assert known.get(entry["canonical_id"]) == known[entry["aliases"][0]], entry["canonical_id"]
        ours = catalog.aliases[known[entry["aliases"][0]]]
        assert set(entry["modality"]) <= set(ours.modality), entry["canonical_id"]
    old_jobs = {
        "tariff_video_overlay",
        "campaign_video_overlay",
        "youtube_explainer_video",
        "tiktok_short_vertical",
        "brand_pack_assets",
        "storyboard_with_frames",
    }
    assert old_jobs <= set(catalog.jobs)
