"""mpc health over loopback: every row on a healthy sandbox hub, then one fault at a time."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cli_runner import Ran, mpc
from prometheus_client.parser import text_string_to_metric_families
from seam import health, sync

from mpc_lib.config import DEFAULT_API_URL, Settings
from mpc_lib.health import append_history, read_history, write_prometheus
from mpc_lib.registry import RegistryStore
from mpc_lib.sandbox import Fault

PROVIDER_ROWS = ("fal.models", "fal.pricing", "fal.estimate", "comet.models", "comet.catalog")
NO_API_AT_DEFAULT = (
    f"nothing listens at {DEFAULT_API_URL} (the default; set MPC_API_URL to require MPC-API)"
)


def _live(sandbox, outputs: Path, **changes) -> Settings:
    """The session sandbox reached as if it were the real FAL and Comet (a retry goes at once)."""
    return Settings(
        fal_key=sandbox.fal_key, comet_key=sandbox.comet_key,
        fal_base_url=sandbox.fal_url, comet_base_url=sandbox.comet_url,
        outputs_dir=outputs, **{"retry_backoff_s": 0, **changes},
    )  # fmt: skip


def _listened(url: str) -> bool:
    """Whether something accepts connections at `url`'s host and port (a developer's MPC-API)."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    except OSError:
        return False
    return True


def _statuses(report) -> dict[str, str]:
    return {row.check: row.status for row in report.rows}


def test_a_synced_hub_is_healthy_on_every_row(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    report = health(settings)
    assert report.status == "ok", [(r.check, r.reason) for r in report.rows if r.status != "ok"]
    assert report.exit_code() == 0
    statuses = _statuses(report)
    not_configured = {name for name in statuses if name.startswith(("gateway.", "api.", "stack."))}
    assert {statuses[name] for name in set(statuses) - not_configured} == {"ok"}
    assert {statuses[name] for name in not_configured} == {"skip"}
    if not _listened(DEFAULT_API_URL):
        assert report.row("api.health").reason == NO_API_AT_DEFAULT
    assert report.sources == {"fal": "live", "comet": "live"}
    fal = report.row("fal.models")
    assert fal.metrics["live_models"] == len(sandbox.data.fal_models)
    assert fal.latency_s is not None and fal.latency_s > 0
    assert report.row("registry.drift").reason.startswith(
        f"fal {len(sandbox.data.fal_models)} live / {len(sandbox.data.fal_models)} stored"
    )
    assert "no check spends money" not in report.row("fal.estimate").reason
    estimates = [r for r in sandbox.requests("fal") if r.path.endswith("/estimate")]
    assert len(estimates) == 1 and estimates[0].method == "POST"


def test_an_outage_fails_that_providers_rows_only(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    sandbox.faults.add(Fault("server_error", provider="fal", status=503, times=None))
    report = health(settings)
    statuses = _statuses(report)
    assert [statuses[name] for name in PROVIDER_ROWS] == ["fail"] * 3 + ["ok"] * 2
    assert report.row("fal.models").reason.startswith("error answer: fal: 503 GET /models")
    assert report.row("registry.drift").status == "warn"  # no live FAL count to compare
    assert report.exit_code() == 2


def test_a_dead_host_is_down_not_an_error_answer(sandbox, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = _live(sandbox, tmp_path).with_(comet_base_url=f"http://127.0.0.1:{port}")
    report = health(settings)
    assert report.row("comet.models").reason.startswith("down: comet: no answer")
    assert report.row("fal.models").status == "ok"


def test_a_wrong_key_is_reported_as_auth(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path).with_(fal_key="not-the-key")
    report = health(settings)
    row = report.row("fal.pricing")
    assert row.status == "fail"
    assert row.reason.startswith("auth: 401 refused the key (check FAL_KEY)")
    assert "not-the-key" not in json.dumps(report.model_dump(mode="json"))
    live_without_key = health(Settings(source="live", outputs_dir=tmp_path))
    assert live_without_key.row("comet.models").reason == (
        "auth: source is live but COMETAPI_KEY is not set for comet"
    )


def test_an_old_registry_warns(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path, health_max_age_h=24)
    sync(settings)
    store = RegistryStore(tmp_path)
    registry = json.loads(store.path.read_text())
    stamp = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    store.path.write_text(json.dumps({**registry, "generated_at": stamp}))
    report = health(settings)
    row = report.row("registry.age")
    assert row.status == "warn"
    assert row.reason.startswith("last sync 30.0 h ago, more than 24 h")
    assert 30 * 3600 <= row.metrics["registry_age_seconds"] < 31 * 3600
    assert report.status == "warn" and report.exit_code() == 1
    assert report.exit_code(warn_ok=True) == 0


def test_a_registry_that_does_not_parse_fails_with_the_restore_hint(
    sandbox, tmp_path: Path
) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    RegistryStore(tmp_path).path.write_text('{"models": [\n  {"provider": "fal",,}\n]}\n')
    report = health(settings)
    row = report.row("registry.file")
    assert row.status == "fail"
    assert "invalid JSON" in row.reason and "mpc registry restore" in row.reason
    assert _statuses(report)["registry.duplicates"] == "skip"
    assert report.row("fal.models").status == "ok"  # the providers are still checked


def test_duplicates_and_unpriced_share_are_reported(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path, health_max_unpriced=0.0)
    sync(settings)
    store = RegistryStore(tmp_path)
    registry = json.loads(store.path.read_text())
    registry["models"].append(registry["models"][0])
    registry["counts"][registry["models"][0]["provider"]] += 1
    store.path.write_text(json.dumps(registry))
    report = health(settings)
    assert report.row("registry.duplicates").reason.startswith("1 duplicate ids: ")
    unpriced = report.row("registry.unpriced")
    assert unpriced.status == "warn"  # the sandbox leaves a few models unpriced
    expected = sum(
        1 for m in sandbox.data.fal_models if m["endpoint_id"] not in sandbox.data.fal_prices
    )
    assert unpriced.metrics["unpriced_fal"] == pytest.approx(
        expected / len(sandbox.data.fal_models), abs=1e-3
    )


def test_a_hung_check_costs_its_timeout_not_the_sum(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sandbox.faults.add(Fault("latency", provider="comet", latency_ms=6000, times=None))
    # 1.5 s: room for FAL's listing (several pages) on a machine busy with other tests
    report = health(settings, timeout_s=1.5)
    for name in ("comet.models", "comet.catalog"):
        row = report.row(name)
        assert (row.status, row.reason, row.latency_s) == ("fail", "timed out after 1.5 s", 1.5)
    assert report.row("fal.models").status == "ok", report.row("fal.models").reason


def test_a_check_that_outlives_its_timeout_is_abandoned(tmp_path: Path) -> None:
    import threading

    from mpc_lib.health import Check, Finding

    release = threading.Event()

    def stuck(_context) -> Finding:  # a check blocked outside any HTTP timeout
        release.wait(10)
        return Finding("ok", "too late")

    checks = [Check("quick", "t", lambda _c: Finding("ok", "fine")), Check("stuck", "t", stuck)]
    try:
        report = health(Settings(outputs_dir=tmp_path), timeout_s=0.3, checks=checks)
    finally:
        release.set()
    assert report.row("stuck").reason == "timed out after 0.3 s"
    assert report.row("stuck").latency_s == 0.3
    assert report.row("quick").status == "ok"


def test_prometheus_text_parses_back(sandbox, tmp_path: Path) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)
    report = health(settings)
    path = write_prometheus(report, tmp_path / "mpc.prom")
    families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
    up = {s.labels["check"]: s.value for s in families["mpc_health_up"].samples}
    assert up["fal.models"] == 1.0 and set(up) >= set(PROVIDER_ROWS)
    models = {s.labels["provider"]: s.value for s in families["mpc_registry_models"].samples}
    assert models == {"fal": len(sandbox.data.fal_models), "comet": len(sandbox.data.comet_models)}
    assert families["mpc_registry_age_seconds"].samples[0].value >= 0
    assert families["mpc_health_overall_status"].samples[0].value == 0


def test_history_is_appended_and_rotated(tmp_path: Path) -> None:
    report = health(Settings(outputs_dir=tmp_path), history=False)
    for _ in range(3):
        append_history(tmp_path, report, max_bytes=10_000)
    assert len(read_history(tmp_path)) == 3
    size = len(json.dumps(report.model_dump(mode="json"), separators=(",", ":"))) + 1
    for _ in range(3):
        append_history(tmp_path, report, max_bytes=size * 2)
    assert (tmp_path / "health" / "history.jsonl.1").is_file()
    assert len(read_history(tmp_path)) <= 4
    assert read_history(tmp_path)[-1]["checked_at"] == report.checked_at


def _mpc(*args: str, env: dict[str, str], cwd: Path) -> Ran:
    return mpc("health", *args, env={"MPC_HOME": str(cwd), **env}, cwd=cwd)


def test_cli_exit_codes_json_and_prom(sandbox, tmp_path: Path) -> None:
    sync(Settings(outputs_dir=tmp_path / "outputs", source="sandbox"))
    healthy = _mpc("--json", "--prom", "out.prom", env={}, cwd=tmp_path)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    body = json.loads(healthy.stdout)
    assert body["status"] == "ok" and body["sources"] == {"fal": "sandbox", "comet": "sandbox"}
    assert (tmp_path / "out.prom").read_text().count("mpc_health_up{") >= len(PROVIDER_ROWS)
    table = _mpc(env={}, cwd=tmp_path)
    assert table.returncode == 0 and "fal: sandbox (emulator, no FAL_KEY set)" in table.stdout

    old = _mpc(env={"MPC_HEALTH_MAX_AGE_H": "0.0001"}, cwd=tmp_path)
    assert old.returncode == 1 and "registry.age" in old.stdout
    assert _mpc("--warn-ok", env={"MPC_HEALTH_MAX_AGE_H": "0.0001"}, cwd=tmp_path).returncode == 0
    down = _mpc(env={"COMETAPI_KEY": "k", "MPC_COMET_BASE_URL": "http://127.0.0.1:9",
                     "MPC_RETRY_BACKOFF_S": "0"}, cwd=tmp_path)  # fmt: skip
    assert down.returncode == 2
    unknown = _mpc(env={"MPC_HEALTH_TIMEOUT_S": "soon"}, cwd=tmp_path)
    assert unknown.returncode == 3
    assert "MPC_HEALTH_TIMEOUT_S='soon'" in unknown.stderr and "Traceback" not in unknown.stderr
    assert len(read_history(tmp_path / "outputs")) == 5  # every run that ran is in the history


def test_gateway_and_api_rows_against_the_real_services(
    sandbox, gateway, mpc_api, tmp_path: Path
) -> None:
    settings = gateway.settings.with_(
        fal_key=sandbox.fal_key, comet_key=sandbox.comet_key,
        fal_base_url=sandbox.fal_url, comet_base_url=sandbox.comet_url,
        api_url=mpc_api.url, api_key=mpc_api.key,
    )  # fmt: skip
    def chats() -> int:
        return sum(r.path.endswith("/chat/completions") for r in sandbox.requests("openai"))

    before = chats()
    report = health(settings, history=False)
    rows = {name: report.row(name) for name in ("gateway.liveliness", "gateway.readiness",
                                                "gateway.models", "api.health")}  # fmt: skip
    assert {name: row.status for name, row in rows.items()} == dict.fromkeys(rows, "ok"), rows
    served = len(gateway.config["model_list"])
    assert rows["gateway.models"].reason == f"all {served} configured models listed"
    assert rows["api.health"].reason.endswith("ok; gateway ok")
    assert report.status == "ok"
    assert chats() == before  # no check spent a token: the upstream saw no chat completion


def test_a_configured_gateway_that_is_down_fails_and_an_unset_one_skips(
    sandbox, tmp_path: Path, port_factory
) -> None:
    down = _live(sandbox, tmp_path).with_(
        gateway_url=f"http://127.0.0.1:{port_factory()}", gateway_key="sk-test",
        api_url=f"http://127.0.0.1:{port_factory()}",
    )  # fmt: skip
    report = health(down, history=False)
    for name in ("gateway.liveliness", "gateway.readiness", "gateway.models", "api.health"):
        row = report.row(name)
        assert row.status == "fail" and row.reason.startswith("down: "), (name, row.reason)
    assert report.exit_code() == 2
    unset = health(_live(sandbox, tmp_path), history=False)
    assert unset.row("gateway.liveliness").reason.startswith("not configured")


def test_one_transient_answer_is_retried_once_so_the_check_does_not_flap(
    sandbox, tmp_path: Path
) -> None:
    settings = _live(sandbox, tmp_path)
    sync(settings)

    def fal_rows(retries: int) -> dict[str, str]:
        sandbox.faults.add(Fault("server_error", provider="fal", path="/v1/models$", status=503))
        before = len(sandbox.requests("fal"))
        report = health(settings, retries=retries, history=False)
        answered = [r.status for r in sandbox.requests("fal")[before:] if r.path == "/v1/models"]
        assert answered.count(503) == 1, answered  # the one transient answer, then 200s
        return {name: report.row(name).reason for name in PROVIDER_ROWS[:3]
                if report.row(name).status != "ok"}  # fmt: skip

    assert fal_rows(retries=1) == {}  # the default: one retry, every row ok
    failed = fal_rows(retries=0)
    assert len(failed) == 1 and "503 GET /models" in next(iter(failed.values()))


def test_usage_errors_exit_3_unknown_as_a_monitoring_plugin_expects(tmp_path: Path) -> None:
    for args, message in [
        (("--bogus",), "No such option: --bogus"),
        (("--timeout", "abc"), "'abc' is not a valid float"),
        (("--retries", "9"), "9 is not in the range 0<=x<=5"),
        (("--timeout", "inf"), "--timeout inf: must be a finite number more than 0"),
    ]:
        ran = _mpc(*args, env={}, cwd=tmp_path)
        assert ran.returncode == 3, (args, ran.stderr)
        assert message in " ".join(ran.stderr.split()) and "Traceback" not in ran.stderr
    assert read_history(tmp_path / "outputs") == []  # none of them ran a check


def test_mpc_api_is_checked_at_its_default_url_when_mpc_api_url_is_unset(
    gateway, tmp_path: Path
) -> None:
    """MPC-API at its documented default is checked like the gateway is; nothing there is a
    skip (MPC-API is optional), while a configured MPC_API_URL that is down fails."""
    from mpc_lib.api import create_app
    from mpc_lib.sandbox.server import SandboxServer

    if _listened(DEFAULT_API_URL):
        pytest.skip(f"something already listens at {DEFAULT_API_URL}")
    settings = gateway.settings
    assert "api_url" not in settings.model_fields_set
    nothing = health(settings, history=False).row("api.health")
    assert (nothing.status, nothing.reason) == ("skip", NO_API_AT_DEFAULT)
    port = urlsplit(DEFAULT_API_URL).port
    with SandboxServer(create_app(settings), port=port or 3000, name="mpc-api"):
        served = health(settings, history=False).row("api.health")
    assert served.status == "ok" and served.reason == f"{DEFAULT_API_URL}: ok; gateway ok"
