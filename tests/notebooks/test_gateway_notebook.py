"""The shipped gateway notebook against the session's real gateway (papermill); strict nbval is
in test_catalog_notebook.py, for every workbook notebook."""

from __future__ import annotations

import json
from typing import Any

from mpc_lib.runs import SHIPPED_NOTEBOOKS_DIR, run_notebook

NOTEBOOK = SHIPPED_NOTEBOOKS_DIR / "gateway.ipynb"


def test_gateway_notebook_runs_headless(gateway: Any, mpc_api: Any) -> None:
    result = run_notebook(
        "gateway",
        {
            "gateway_url": gateway.url,
            "models": "gpt-4o-mini",
            "sample_prompt": "ping the gateway",
            "poll_s": 0.01,
        },
        settings=mpc_api.settings.with_(api_url=mpc_api.url),
    )
    html = result.html_path.read_text(encoding="utf-8")
    served = len(gateway.config["model_list"])
    # the session gateway's workbook registry is a direct sync: every model in it, and every
    # token price (chat and embedding deployments) agrees
    tokens = sum("input_cost_per_token" in m["model_info"] for m in gateway.config["model_list"])
    assert (
        f"gateway models: {served} | in the registry: {served} | "
        f"prices agree: {tokens} of {tokens} compared"
    ) in html
    assert "Sandbox reply from gpt-4o-mini: ping the gateway" in html
    assert "gpt-4o-mini stream: median" in html and "Plotly.newPlot" in html
    # FAL calls through MPC-API: an image shown, a video job followed to the end, their costs
    assert "image(s) from fal-ai/flux/dev, cost: " in html and "data:image/png;base64," in html
    assert "status: IN_QUEUE" in html and "status: COMPLETED" in html
    assert "video ready: True" in html
    # the notebook's workbook is MPC-API's here: its usage log holds the calls just made
    assert "fal:fal-ai/flux/dev: " in html and "fal:fal-ai/kling-video" in html
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert manifest["status"] == "ok"
    assert manifest["parameters"]["models"] == ["gpt-4o-mini"]
