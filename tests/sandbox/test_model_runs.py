"""The sandbox's model calls behind gateway deployments: FAL's run and queue hosts (images with
their sizes, videos), and the OpenAI-compatible upstream's embeddings and images."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mpc_lib.sandbox import Sandbox
from mpc_lib.sandbox.openai import EMBEDDING_DIMENSIONS, embedding_of, estimate_tokens


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


def _fal(sandbox: Sandbox) -> tuple[str, dict[str, str]]:
    return sandbox.url("fal").removesuffix("/v1"), {"Authorization": f"Key {sandbox.fal_key}"}


def _endpoint(sandbox: Sandbox, category: str) -> str:
    return next(
        str(m["endpoint_id"]) for m in sandbox.data.fal_models
        if (m.get("metadata") or {}).get("category") == category
    )  # fmt: skip


def test_a_fal_run_returns_images_of_the_size_asked_or_fals_default(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    root, auth = _fal(sandbox)
    model = _endpoint(sandbox, "text-to-image")
    plain = http.post(f"{root}/run/{model}", json={"prompt": "a fox"}, headers=auth)
    assert plain.status_code == 200, plain.text
    (image,) = plain.json()["images"]
    assert (image["width"], image["height"], image["content_type"]) == (1024, 768, "image/png")
    asked = {"prompt": "a fox", "num_images": 2, "image_size": {"width": 1536, "height": 1024}}
    two = http.post(f"{root}/run/{model}", json=asked, headers=auth).json()["images"]
    assert [(i["width"], i["height"]) for i in two] == [(1536, 1024)] * 2
    preset = {"prompt": "a fox", "image_size": "square_hd"}
    (square,) = http.post(f"{root}/run/{model}", json=preset, headers=auth).json()["images"]
    assert (square["width"], square["height"]) == (1024, 1024)
    # LiteLLM appends paths of its own (`/edit`, a hard-wired family's endpoint): the longest
    # known endpoint id at the start of the path runs
    edit = http.post(f"{root}/run/{model}/edit", json={"prompt": "a fox"}, headers=auth)
    assert edit.status_code == 200 and edit.json()["images"]


def test_a_fal_run_refuses_what_fal_refuses(sandbox: Sandbox, http: httpx.Client) -> None:
    root, auth = _fal(sandbox)
    model = _endpoint(sandbox, "text-to-image")
    wrong_key = http.post(f"{root}/run/{model}", json={"prompt": "x"},
                          headers={"Authorization": "Key nope"})  # fmt: skip
    assert wrong_key.status_code == 401 and "Key <FAL key>" in wrong_key.json()["detail"]
    unknown = http.post(f"{root}/run/fal-ai/no-such-model", json={"prompt": "x"}, headers=auth)
    assert unknown.status_code == 404
    for body, field in (({}, "prompt"), ({"prompt": "x", "image_size": "huge"}, "image_size"),
                        ({"prompt": "x", "num_images": 9}, "num_images")):  # fmt: skip
        answer = http.post(f"{root}/run/{model}", json=body, headers=auth)
        assert answer.status_code == 422, body
        assert answer.json()["detail"][0]["loc"] == ["body", field]


def test_a_queued_fal_video_is_submitted_then_done(sandbox: Sandbox, http: httpx.Client) -> None:
    root, auth = _fal(sandbox)
    model = _endpoint(sandbox, "text-to-video")
    receipt = http.post(f"{root}/queue/{model}", json={"prompt": "waves"}, headers=auth).json()
    app = "/".join(model.split("/")[:2])
    assert receipt["status_url"] == (
        f"{root}/queue/{app}/requests/{receipt['request_id']}/status"
    )
    status = http.get(receipt["status_url"], headers=auth).json()
    assert status["status"] == "COMPLETED" and status["response_url"] == receipt["response_url"]
    result = http.get(receipt["response_url"], headers=auth).json()
    assert result["video"]["url"].endswith(".mp4")
    missing = http.get(f"{root}/queue/{app}/requests/sbx-nope", headers=auth)
    assert missing.status_code == 404


def _openai(sandbox: Sandbox) -> tuple[str, dict[str, str], str]:
    model = next(str(m["id"]) for m in sandbox.data.comet_models)
    return sandbox.url("openai"), {"Authorization": f"Bearer {sandbox.key('openai')}"}, model


def test_embeddings_are_deterministic_vectors_with_prompt_usage(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    base, auth, model = _openai(sandbox)
    body: dict[str, Any] = {"model": model, "input": ["one text", "another, longer text"]}
    answer = http.post(f"{base}/v1/embeddings", json=body, headers=auth).json()
    assert [d["embedding"] for d in answer["data"]] == [embedding_of(t) for t in body["input"]]
    assert len(answer["data"][0]["embedding"]) == EMBEDDING_DIMENSIONS
    tokens = sum(estimate_tokens(text) for text in body["input"])
    assert answer["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    bad = http.post(f"{base}/v1/embeddings", json={"model": model, "input": []}, headers=auth)
    assert bad.status_code == 400
    unknown = http.post(f"{base}/v1/embeddings", json={"model": "nope", "input": "x"},
                        headers=auth)  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"


def test_images_are_n_urls_without_usage(sandbox: Sandbox, http: httpx.Client) -> None:
    base, auth, model = _openai(sandbox)
    body = {"model": model, "prompt": "a lighthouse", "n": 3}
    answer = http.post(f"{base}/v1/images/generations", json=body, headers=auth)
    assert answer.status_code == 200
    assert len(answer.json()["data"]) == 3 and "usage" not in answer.json()
    bad = http.post(f"{base}/v1/images/generations",
                    json={"model": model, "prompt": "x", "n": 0}, headers=auth)  # fmt: skip
    assert bad.status_code == 400
