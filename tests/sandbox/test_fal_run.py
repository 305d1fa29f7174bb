"""FAL's model-running hosts in the sandbox, over loopback: a synchronous run at an exact endpoint
id, the images' PNG files, the queue's stages, cancel, faults and failed jobs, and what each
call received."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mpc_lib.sandbox import Fault, Sandbox, SandboxData
from mpc_lib.sandbox.fal_queue import FalJob, FalQueue
from mpc_lib.sandbox.fal_run import FAILED_JOB_ERROR, SANDBOX_PNG_SIZE

IMAGE_MODEL = "fal-ai/flux/dev"  # a known text-to-image model; `fal-ai/flux` is no endpoint


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
        and "bria" not in str(m["endpoint_id"])
    )  # fmt: skip


def _submit(http: httpx.Client, sandbox: Sandbox, model: str = IMAGE_MODEL) -> dict[str, Any]:
    root, auth = _fal(sandbox)
    answer = http.post(f"{root}/queue/{model}", json={"prompt": "a fox"}, headers=auth)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _status(http: httpx.Client, sandbox: Sandbox, receipt: dict[str, Any]) -> httpx.Response:
    return http.get(receipt["status_url"], headers=_fal(sandbox)[1])


def _complete(http: httpx.Client, sandbox: Sandbox, receipt: dict[str, Any]) -> None:
    """Poll a job (one poll per stage, the default) until it says COMPLETED."""
    stages = [_status(http, sandbox, receipt).json()["status"] for _ in range(3)]
    assert stages[-1] == "COMPLETED", stages


def test_a_run_answers_at_an_exact_endpoint_id_only(sandbox: Sandbox, http: httpx.Client) -> None:
    root, auth = _fal(sandbox)
    assert http.post(f"{root}/run/{IMAGE_MODEL}", json={"prompt": "x"}, headers=auth).is_success
    # a prefix of an endpoint id, and an id with a path appended (as LiteLLM's `/edit`)
    for path in ("fal-ai/flux", f"{IMAGE_MODEL}/edit", f"{IMAGE_MODEL}/"):
        for host in ("run", "queue"):
            wrong = http.post(f"{root}/{host}/{path}", json={"prompt": "x"}, headers=auth)
            assert wrong.status_code == 404, (host, path)
            assert wrong.json() == {"detail": f"Application '{path}' not found"}
    # another known id that starts with this one runs as itself
    longer = http.post(f"{root}/run/{IMAGE_MODEL}/image-to-image", json={"prompt": "x"},
                       headers=auth)  # fmt: skip
    assert longer.status_code == 200 and longer.json()["images"]


def test_a_run_needs_fals_key_scheme(sandbox: Sandbox, http: httpx.Client) -> None:
    root, _ = _fal(sandbox)
    for headers in ({}, {"Authorization": f"Bearer {sandbox.fal_key}"},
                    {"Authorization": "Key nope"}, {"Authorization": "Key"}):  # fmt: skip
        for host in ("run", "queue"):
            refused = http.post(f"{root}/{host}/{IMAGE_MODEL}", json={"prompt": "x"},
                                headers=headers)  # fmt: skip
            assert refused.status_code == 401, (host, headers)
            assert "Key <FAL key>" in refused.json()["detail"]
    assert sandbox.fal_inputs() == []  # refused before the input was read


def test_a_bad_input_is_refused_with_fastapis_detail_list(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    root, auth = _fal(sandbox)
    for body, field in (({}, "prompt"), ({"prompt": "  "}, "prompt"),
                        ({"prompt": "x", "image_size": "huge"}, "image_size"),
                        ({"prompt": "x", "image_size": {"width": 10, "height": 512}}, "image_size"),
                        ({"prompt": "x", "num_images": 9}, "num_images"),
                        ({"prompt": "x", "num_images": True}, "num_images"),
                        ({"prompt": "x", "seed": "7"}, "seed")):  # fmt: skip
        for host in ("run", "queue"):  # the queue refuses at submission
            answer = http.post(f"{root}/{host}/{IMAGE_MODEL}", json=body, headers=auth)
            assert answer.status_code == 422, (host, body)
            (error,) = answer.json()["detail"]
            assert error["loc"] == ["body", field] and error["msg"]
    for raw in (b"{not json", b"[1, 2]"):
        answer = http.post(f"{root}/run/{IMAGE_MODEL}", content=raw, headers=auth)
        assert answer.status_code == 422 and isinstance(answer.json()["detail"], str)


def test_images_have_the_size_asked_and_the_seed_given(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    root, auth = _fal(sandbox)
    url = f"{root}/run/{IMAGE_MODEL}"
    plain = http.post(url, json={"prompt": "a fox"}, headers=auth).json()
    (image,) = plain["images"]
    assert (image["width"], image["height"], image["content_type"]) == (1024, 768, "image/png")
    assert plain["seed"] == 42 and plain["has_nsfw_concepts"] == [False]
    assert plain["prompt"] == "a fox" and "timings" in plain
    preset = http.post(url, json={"prompt": "x", "image_size": "portrait_16_9", "seed": 7},
                       headers=auth).json()  # fmt: skip
    assert [(i["width"], i["height"]) for i in preset["images"]] == [(576, 1024)]
    assert preset["seed"] == 7
    asked = {"prompt": "x", "num_images": 2, "image_size": {"width": 1536, "height": 640}}
    two = http.post(url, json=asked, headers=auth).json()["images"]
    assert [(i["width"], i["height"]) for i in two] == [(1536, 640)] * 2
    assert len({i["url"] for i in two}) == 2


def test_bria_text_to_image_answers_one_image(sandbox: Sandbox, http: httpx.Client) -> None:
    root, auth = _fal(sandbox)
    bria = next(
        str(m["endpoint_id"]) for m in sandbox.data.fal_models
        if "bria" in str(m["endpoint_id"]) and m["metadata"]["category"] == "text-to-image"
    )  # fmt: skip
    answer = http.post(f"{root}/run/{bria}", json={"prompt": "x", "num_images": 2},
                       headers=auth).json()  # fmt: skip
    assert set(answer) == {"image", "seed", "prompt"} and answer["image"]["width"] == 1024


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def test_image_urls_serve_a_real_png_without_a_key(sandbox: Sandbox, http: httpx.Client) -> None:
    root, auth = _fal(sandbox)
    answer = http.post(f"{root}/run/{IMAGE_MODEL}", json={"prompt": "x"}, headers=auth).json()
    url = answer["images"][0]["url"]
    assert url.startswith(f"{root}/files/") and url.endswith(".png")
    png = http.get(url)  # no key, like FAL's CDN
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    chunks = _png_chunks(png.content)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (width, height, depth, colour) == (*SANDBOX_PNG_SIZE, 8, 2)
    assert len(zlib.decompress(chunks[1][1])) == height * (1 + 3 * width)
    assert http.get(url).content == png.content  # deterministic
    forged = url.rsplit("/", 1)[1].replace("-0-", "-1-")  # another image, the same signature
    for name in ("sbx-fal-never-0.png", "sbx-fal-never-0-0123456789ab.png", forged, "x.jpg"):
        missing = http.get(f"{root}/files/{name}")
        assert missing.status_code == 404 and missing.json() == {"detail": "File not found"}
    sandbox.reset()  # a test's reset never takes a background run's image away
    assert http.get(url).status_code == 200


def test_a_queued_job_moves_over_polls_then_answers(sandbox: Sandbox, http: httpx.Client) -> None:
    root, auth = _fal(sandbox)
    receipt = _submit(http, sandbox)
    rid = receipt["request_id"]
    base = f"{root}/queue/fal-ai/flux/requests/{rid}"  # the app id, not the endpoint id
    assert receipt == {"request_id": rid, "response_url": base, "status_url": f"{base}/status",
                       "cancel_url": f"{base}/cancel", "queue_position": 0}  # fmt: skip
    early = http.get(receipt["response_url"], headers=auth)
    assert early.status_code == 400 and early.json() == {"detail": "Request is still in progress"}
    seen = []
    for _ in range(4):
        status = http.get(receipt["status_url"], params={"logs": 1}, headers=auth)
        body = status.json()
        seen.append((status.status_code, body["status"], body.get("queue_position")))
        assert body["response_url"] == base and "error" not in body
    assert seen == [(202, "IN_QUEUE", 0), (202, "IN_PROGRESS", None),
                    (200, "COMPLETED", None), (200, "COMPLETED", None)]  # fmt: skip
    assert [line["message"] for line in body["logs"]][-1] == "Request completed"
    assert "logs" not in _status(http, sandbox, receipt).json()
    result = http.get(receipt["response_url"], headers=auth)
    assert result.status_code == 200
    (image,) = result.json()["images"]
    assert image["url"].startswith(f"{root}/files/{rid}-0-") and http.get(image["url"]).is_success
    assert http.get(receipt["response_url"]).status_code == 401


def test_polls_per_stage_is_a_mode(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.set_modes(fal_queue_polls=2)
    slow = _submit(http, sandbox)
    sandbox.set_modes(fal_queue_polls=0)
    at_once = _submit(http, sandbox)
    positions = [_status(http, sandbox, slow).json() for _ in range(5)]
    assert [(p["status"], p.get("queue_position")) for p in positions] == [
        ("IN_QUEUE", 1), ("IN_QUEUE", 0), ("IN_PROGRESS", None), ("IN_PROGRESS", None),
        ("COMPLETED", None),
    ]  # fmt: skip
    assert http.get(at_once["response_url"], headers=_fal(sandbox)[1]).status_code == 200
    assert _status(http, sandbox, at_once).status_code == 200


def test_cancel_before_and_after_completion(sandbox: Sandbox, http: httpx.Client) -> None:
    root, auth = _fal(sandbox)
    receipt = _submit(http, sandbox)
    _status(http, sandbox, receipt)  # IN_QUEUE
    cancelled = http.put(receipt["cancel_url"], headers=auth)
    assert cancelled.status_code == 202
    assert cancelled.json() == {"status": "CANCELLATION_REQUESTED"}
    status = _status(http, sandbox, receipt)
    assert status.status_code == 200
    assert status.json()["status"] == "COMPLETED"
    assert status.json()["error"] == "Request was cancelled"
    result = http.get(receipt["response_url"], headers=auth)
    assert result.status_code == 400 and result.json() == {"detail": "Request was cancelled"}
    again = http.put(receipt["cancel_url"], headers=auth)
    assert again.status_code == 400 and again.json() == {"status": "ALREADY_COMPLETED"}

    done = _submit(http, sandbox)
    _complete(http, sandbox, done)
    late = http.put(done["cancel_url"], headers=auth)
    assert late.status_code == 400 and late.json() == {"status": "ALREADY_COMPLETED"}
    assert http.get(done["response_url"], headers=auth).status_code == 200
    unknown = http.put(f"{root}/queue/fal-ai/flux/requests/sbx-nope/cancel", headers=auth)
    assert unknown.status_code == 404 and unknown.json() == {"status": "NOT_FOUND"}


def test_a_request_id_is_found_only_under_its_app_id(sandbox: Sandbox, http: httpx.Client) -> None:
    root, auth = _fal(sandbox)
    rid = _submit(http, sandbox)["request_id"]
    for app in ("fal-ai/flux-pro", "fal-ai/veo3", "other/flux"):
        base = f"{root}/queue/{app}/requests/{rid}"
        assert http.get(f"{base}/status", headers=auth).status_code == 404, app
        assert http.get(base, headers=auth).json() == {"detail": "Request not found"}
        assert http.put(f"{base}/cancel", headers=auth).json() == {"status": "NOT_FOUND"}
    assert http.get(f"{root}/queue/fal-ai/flux/requests/{rid}/status", headers=auth).is_success


def test_a_queued_video_answers_a_video_url_and_no_fake_bytes(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    video_model = _endpoint(sandbox, "text-to-video")
    sandbox.set_modes(fal_queue_polls=0)
    receipt = _submit(http, sandbox, video_model)
    assert f"/queue/{'/'.join(video_model.split('/')[:2])}/requests/" in receipt["status_url"]
    result = http.get(receipt["response_url"], headers=_fal(sandbox)[1]).json()
    assert result["video"]["content_type"] == "video/mp4" and result["seed"] == 42
    assert http.get(result["video"]["url"]).status_code == 404


def test_faults_hit_the_run_and_queue_hosts_in_their_error_body(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    root, auth = _fal(sandbox)
    sandbox.faults.add(Fault("rate_limit", provider="fal", path="/run/", retry_after=3))
    limited = http.post(f"{root}/run/{IMAGE_MODEL}", json={"prompt": "x"}, headers=auth)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert limited.json() == {"detail": "Rate limit exceeded"}
    assert http.post(f"{root}/run/{IMAGE_MODEL}", json={"prompt": "x"}, headers=auth).is_success

    sandbox.faults.add(Fault("server_error", provider="fal", path=f"/queue/{IMAGE_MODEL}$",
                             status=503))  # fmt: skip
    failed = http.post(f"{root}/queue/{IMAGE_MODEL}", json={"prompt": "x"}, headers=auth)
    assert failed.status_code == 503 and "sandbox fault" in failed.json()["detail"]
    receipt = _submit(http, sandbox)
    sandbox.faults.add(Fault("server_error", provider="fal", path="/queue/fal-ai/flux/requests/"))
    assert _status(http, sandbox, receipt).status_code == 500
    assert _status(http, sandbox, receipt).json()["status"] == "IN_QUEUE"  # the failed poll: none
    assert [r.status for r in sandbox.requests("fal")] == [429, 200, 503, 200, 500, 202]
    # only the calls that reached the routes read an input
    reached = [(i["route"], i["status"]) for i in sandbox.fal_inputs()]
    assert reached == [("run", 200), ("queue", 200)]


def test_a_failed_job_completes_with_its_error(sandbox: Sandbox, http: httpx.Client) -> None:
    auth = _fal(sandbox)[1]
    ok = _submit(http, sandbox)
    sandbox.faults.add(Fault("failed_job", provider="fal", path="/queue/"))
    assert _status(http, sandbox, ok).is_success  # a job's own URLs never consume the fault...
    receipt = _submit(http, sandbox)  # ...the first submission after it does
    healthy = _submit(http, sandbox)
    for job in (ok, receipt, healthy):
        _complete(http, sandbox, job)
    status = _status(http, sandbox, receipt).json()
    assert status["error"] == FAILED_JOB_ERROR
    result = http.get(receipt["response_url"], headers=auth)
    assert result.status_code == 500 and result.json() == {"detail": FAILED_JOB_ERROR}
    assert http.get(healthy["response_url"], headers=auth).status_code == 200
    assert http.get(ok["response_url"], headers=auth).status_code == 200


def test_what_each_call_received_is_recorded(sandbox: Sandbox, http: httpx.Client) -> None:
    root, auth = _fal(sandbox)
    sized = {"prompt": "x", "image_size": {"width": 640, "height": 480}, "num_images": 2}
    http.post(f"{root}/run/{IMAGE_MODEL}", json=sized, headers=auth)
    http.post(f"{root}/queue/{IMAGE_MODEL}", json={"prompt": "x", "size": "1024x1024"},
              headers=auth)  # fmt: skip
    http.post(f"{root}/run/{IMAGE_MODEL}", json={"prompt": "x", "image_size": "x" * 500},
              headers=auth)  # fmt: skip
    run, queued, refused = sandbox.fal_inputs()
    assert run["route"] == "run" and run["endpoint_id"] == IMAGE_MODEL and run["status"] == 200
    assert run["fields"] == ["image_size", "num_images", "prompt"]
    assert (run["image_size"], run["num_images"]) == ({"width": 640, "height": 480}, 2)
    assert queued["route"] == "queue" and queued["fields"] == ["prompt", "size"]
    assert "image_size" not in queued and "num_images" not in queued
    assert refused["status"] == 422 and refused["image_size"] == "<502 characters of JSON>"
    control = f"{root}/_sandbox/fal/inputs"
    listed = http.get(control).json()["inputs"]
    assert listed == sandbox.fal_inputs()
    assert sandbox.fal_key not in str(listed) and "Key" not in str(listed)
    assert http.delete(control).json() == {"inputs": []} and sandbox.fal_inputs() == []


def test_the_inputs_route_is_a_control_route() -> None:
    """A workbook command's sandbox has no control routes: nobody reads what its calls sent."""
    with Sandbox(SandboxData(), control=False) as quiet:
        root = quiet.url("fal").removesuffix("/v1")
        assert httpx.get(f"{root}/_sandbox/fal/inputs").status_code == 404


def test_the_queue_keeps_its_newest_jobs() -> None:
    queue = FalQueue(max_jobs=2)
    for rid in ("a", "b", "c"):
        queue.submit(FalJob(rid, "fal-ai/flux", "fal-ai/flux/dev", {}))
    assert len(queue) == 2 and queue.find("fal-ai/flux", "a") is None
    assert queue.poll("fal-ai/flux", "c") is not None and queue.cancel("x/y", "c") == "NOT_FOUND"


def test_a_job_submitted_before_a_reset_can_still_be_polled(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    """Another test's reset (the session shares one sandbox) never takes away a job that a
    background notebook run is polling."""
    receipt = _submit(http, sandbox)
    sandbox.reset()
    _complete(http, sandbox, receipt)
    assert http.get(receipt["response_url"], headers=_fal(sandbox)[1]).status_code == 200
