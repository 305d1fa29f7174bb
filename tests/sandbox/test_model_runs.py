"""The sandbox's model calls behind gateway deployments: the OpenAI-compatible upstream's
embeddings and images (FAL's run and queue hosts: test_fal_run.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mpc_lib.sandbox import Fault, Sandbox
from mpc_lib.sandbox.openai import EMBEDDING_DIMENSIONS, embedding_of, estimate_tokens


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


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


def test_a_fault_for_one_model_spares_callers_of_another(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    base, auth, _model = _openai(sandbox)
    first, second = (str(m["id"]) for m in sandbox.data.comet_models[:2])
    sandbox.faults.add(Fault("rate_limit", provider="openai", model=first))
    chat = {"messages": [{"role": "user", "content": "hello"}]}
    spared = http.post(f"{base}/v1/chat/completions", json={**chat, "model": second}, headers=auth)
    assert spared.status_code == 200  # the route still read the body the fault looked into
    reply = spared.json()["choices"][0]["message"]["content"]
    assert reply.startswith(f"Sandbox reply from {second}")
    hit = http.post(f"{base}/v1/chat/completions", json={**chat, "model": first}, headers=auth)
    assert hit.status_code == 429
    described = sandbox.faults.describe()[0]
    assert (described["seen"], described["fired"]) == (1, 1)  # the spared call was not counted
    broken = http.post(f"{base}/v1/chat/completions", content=b"{not json", headers=auth)
    assert broken.status_code == 400  # a body naming no model: no model fault, the route's answer
