"""Fault validation and FaultPlan counting, without a server."""

from __future__ import annotations

import threading
from dataclasses import asdict

import pytest

from mpc_lib.sandbox import Fault, FaultPlan


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(
        ValueError,
        match="latency, rate_limit, server_error, drop, malformed, repeat_cursor, redirect",
    ):
        Fault("explode")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"provider": "nope"},
        {"path": "v1/models"},
        {"times": -1},
        {"after": -1},
        {"status": 200},
        {"retry_after": -1},
        {"latency_ms": -5},
        {"status": 301},
        {"status": True},
        {"location": "https://elsewhere.invalid/"},
        {"query": ""},
        {"model": ""},
    ],
)
def test_bad_fault_fields(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Fault("server_error", **kwargs)  # type: ignore[arg-type]


def test_status_defaults_per_kind() -> None:
    assert Fault("server_error").status == 500
    assert Fault("redirect").status == 301
    assert Fault("redirect", status=307, location="/v2/models").status == 307


@pytest.mark.parametrize(
    "kwargs", [{"status": 500}, {"status": 200}, {"status": 304}, {"location": ""}]
)
def test_bad_redirect_fields(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"redirect|location"):
        Fault("redirect", **kwargs)  # type: ignore[arg-type]


def test_query_narrows_a_fault_to_matching_requests() -> None:
    plan = FaultPlan([Fault("server_error", path="/v1/models$", query="cursor=Mw==", times=None)])
    assert plan.take("fal", "/v1/models", "limit=100&cursor=Mg%3D%3D") == []
    assert plan.take("fal", "/v1/models", "") == []
    assert len(plan.take("fal", "/v1/models", "limit=100&cursor=Mw%3D%3D")) == 1
    assert plan.describe()[0]["seen"] == 1  # requests it does not watch are not counted


def test_repeat_cursor_is_fal_only() -> None:
    with pytest.raises(ValueError, match="FAL"):
        Fault("repeat_cursor", provider="comet")


def test_from_dict_round_trip_and_unknown_keys() -> None:
    fault = Fault("rate_limit", provider="fal", retry_after=0.5, times=None)
    assert Fault.from_dict(asdict(fault)) == fault
    moved = Fault("redirect", provider="comet", status=302, location="https://x.invalid/a")
    assert Fault.from_dict(asdict(moved)) == moved
    with pytest.raises(ValueError, match="unknown fault field"):
        Fault.from_dict({"kind": "drop", "colour": "red"})
    with pytest.raises(ValueError, match="needs a 'kind'"):
        Fault.from_dict({"provider": "fal"})


@pytest.mark.parametrize(("value", "header"), [(1, "1"), (2.0, "2"), (0.25, "0.25"), (None, None)])
def test_retry_after_header(value: float | None, header: str | None) -> None:
    assert Fault("rate_limit", retry_after=value).retry_after_header() == header


def test_take_counts_after_and_times() -> None:
    plan = FaultPlan()
    plan.add(Fault("server_error", provider="fal", path="/v1/models", after=2, times=2))
    fired = [bool(plan.take("fal", "/v1/models")) for _ in range(6)]
    assert fired == [False, False, True, True, False, False]
    assert plan.take("comet", "/v1/models") == []
    assert plan.take("fal", "/v1/other") == []
    assert plan.describe()[0] | {} == {**asdict(plan.faults[0]), "seen": 6, "fired": 2}


def test_answer_faults_queue_and_latency_stacks() -> None:
    plan = FaultPlan()
    first, second = Fault("rate_limit"), Fault("server_error")
    slow = Fault("latency", latency_ms=10, times=None)
    for fault in (first, slow, second):
        plan.add(fault)
    assert plan.take("fal", "/v1/models") == [first, slow]
    assert plan.take("comet", "/api/models") == [slow, second]
    assert plan.take("fal", "/v1/models") == [slow]
    assert plan.clear() == 3 and len(plan) == 0


def test_repeat_cursor_only_watches_the_fal_listing() -> None:
    plan = FaultPlan([Fault("repeat_cursor", times=None)])
    assert plan.take("fal", "/v1/models/pricing") == []
    assert plan.take("comet", "/v1/models") == []
    assert [f.kind for f in plan.take("fal", "/v1/models")] == ["repeat_cursor"]


def test_failed_job_only_watches_fal_queue_submissions() -> None:
    with pytest.raises(ValueError, match="FAL queue submissions"):
        Fault("failed_job", provider="openai")
    plan = FaultPlan([Fault("failed_job", times=None), Fault("server_error", times=None)])
    for provider, path in [("fal", "/run/fal-ai/flux/dev"), ("comet", "/queue/fal-ai/flux/dev"),
                           ("fal", "/queue/fal-ai/flux/requests/sbx-1/status"),
                           ("fal", "/queue/fal-ai/flux/requests/sbx-1")]:  # fmt: skip
        assert [f.kind for f in plan.take(provider, path)] == ["server_error"], path
    # its own slot: it fires beside an answering fault, which then decides the answer
    fired = [f.kind for f in plan.take("fal", "/queue/fal-ai/flux/dev")]
    assert fired == ["failed_job", "server_error"]


def test_take_is_thread_safe() -> None:
    plan = FaultPlan([Fault("server_error", times=500)])
    hits: list[int] = []

    def worker() -> None:
        hits.append(sum(bool(plan.take("fal", "/x")) for _ in range(200)))

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(hits) == 500
    assert plan.describe()[0]["seen"] == 1000


def test_add_refuses_non_faults() -> None:
    with pytest.raises(TypeError):
        FaultPlan().add({"kind": "drop"})  # type: ignore[arg-type]


def test_model_narrows_a_fault_to_requests_naming_it() -> None:
    plan = FaultPlan([Fault("rate_limit", provider="openai", model="gpt-4o")])
    assert plan.watches_models("openai", "/v1/chat/completions")
    assert not plan.watches_models("fal", "/v1/models")  # no body is read there
    assert plan.take("openai", "/v1/chat/completions", "", "gpt-4o-mini") == []
    assert plan.take("openai", "/v1/chat/completions", "", None) == []
    assert len(plan.take("openai", "/v1/chat/completions", "", "gpt-4o")) == 1
    assert plan.describe()[0]["seen"] == 1
