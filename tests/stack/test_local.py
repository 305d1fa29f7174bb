"""Local mode with real processes: up, status, a death, a restart, down, crashes, pid reuse.

The services are stand-ins that exist on every branch: `mpc sandbox serve` (an upstream)
and a small uvicorn app shaped like MPC-API (a deep /health that turns 503 while its
upstream is down), which can also start a grandchild in its own session, the way
`mpc gateway serve` starts LiteLLM.  The core itself is tested in test_core_local.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from stackhelp import free_port, sandbox_spec, stack_processes, standin_spec

from mpc_lib.errors import StackError, StackUnhealthy
from mpc_lib.stack import LocalStack, ServiceSpec
from mpc_lib.stack.processes import rotate_log


def _deep_health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _states(stack: LocalStack) -> dict[str, str]:
    return {row.name: row.state for row in stack.status()}


def _pid(stack: LocalStack, name: str) -> int:
    return int(json.loads(stack.pid_file(name).read_text(encoding="utf-8"))["pid"])


def _wait_dead(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} still runs")


def test_up_status_death_restart_and_down(make_stack) -> None:
    up_port, api_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/_sandbox/health"
    stack = make_stack(
        [sandbox_spec(up_port), standin_spec(api_port, upstream=upstream, child=True)]
    )
    events: list[tuple[str, str]] = []
    report = stack.up(timeout_s=30, progress=lambda s, m: events.append((s, m)))
    assert not report.noop
    assert [(r.name, r.action, r.state) for r in report.services] == [
        ("upstream", "started", "healthy"),
        ("api", "started", "healthy"),
    ]
    assert ("upstream", f"starting (pid {_pid(stack, 'upstream')})") in events
    assert any(s == "api" and m.startswith("healthy after") for s, m in events)
    assert _states(stack) == {"upstream": "healthy", "api": "healthy"}
    assert _deep_health(api_port) == 200
    api_pid = _pid(stack, "api")
    grandchild = [p.pid for p in psutil.Process(api_pid).children()]
    assert len(grandchild) == 1

    # a second up while everything runs: a no-op that says so
    again = stack.up(timeout_s=30)
    assert again.noop and {r.action for r in again.services} == {"already running"}

    # the upstream dies: status shows it, the dependent's deep health turns 503
    dead_pid = _pid(stack, "upstream")
    os.kill(dead_pid, signal.SIGKILL)
    _wait_dead(dead_pid)
    rows = {row.name: row for row in stack.status()}
    assert rows["upstream"].state == "dead" and str(dead_pid) in rows["upstream"].detail
    assert rows["api"].state == "healthy"
    assert _deep_health(api_port) == 503

    # up brings it back; the dependent recovers without a restart
    back = stack.up(timeout_s=30)
    assert [(r.name, r.action) for r in back.services] == [
        ("upstream", "restarted"),
        ("api", "already running"),
    ]
    assert _pid(stack, "upstream") != dead_pid
    assert _pid(stack, "api") == api_pid
    assert _deep_health(api_port) == 200

    # down: SIGTERM to every tree, the grandchild in its own session too
    results = {r.name: r for r in stack.down()}
    assert results["api"].outcome == "stopped" and grandchild[0] in results["api"].pids
    assert results["upstream"].outcome == "stopped"
    assert stack_processes(stack) == []
    assert not any(
        psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
        for p in (api_pid, grandchild[0])
    )
    assert stack.recorded() == []
    assert _states(stack) == {"upstream": "stopped", "api": "stopped"}
    assert [r.outcome for r in stack.down()] == ["not running", "not running"]


def test_an_orphaned_grandchild_is_still_found_and_stopped(make_stack) -> None:
    port = free_port()
    stack = make_stack([standin_spec(port, child=True)])
    stack.up(timeout_s=30)
    parent = _pid(stack, "api")
    (child,) = psutil.Process(parent).children()
    # the service itself is killed hard: its grandchild (own session) is orphaned
    os.kill(parent, signal.SIGKILL)
    _wait_dead(parent)
    assert child.is_running()
    assert _states(stack) == {"api": "dead"}
    result = stack.down()[0]
    assert result.pids == (child.pid,) and result.outcome == "stopped"
    _wait_dead(child.pid)


CRASHING_WORKBOOK = """
import os, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from stackhelp import standin_spec
from mpc_lib.stack import LocalStack
stack = LocalStack(Path({state!r}), [standin_spec({port}, child=True)])
stack.up(timeout_s=30)
print("up", flush=True)
os._exit(9)  # the workbook dies without taking anything down
"""


def _crash_a_workbook(state: Path, port: int) -> None:
    """Another Python process brings a service up, then dies without taking it down."""
    script = CRASHING_WORKBOOK.format(tests=str(Path(__file__).parent), state=str(state), port=port)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 9 and "up" in done.stdout, done.stderr


def test_nothing_is_left_behind_after_the_workbook_crashed(tmp_path: Path, make_stack) -> None:
    port, state = free_port(), tmp_path / "state"
    _crash_a_workbook(state, port)
    # a new workbook process finds what the crashed one started, by its pid files
    stack = make_stack([standin_spec(port, child=True)], state=state)
    assert _states(stack) == {"api": "healthy"}
    assert len(stack_processes(stack)) == 2
    (result,) = stack.down()
    assert result.outcome == "stopped" and len(result.pids) == 2
    assert stack_processes(stack) == []
    assert stack.recorded() == []


def test_stale_pid_files_are_detected_and_cleared(tmp_path: Path, make_stack) -> None:
    port, state = free_port(), tmp_path / "state"
    _crash_a_workbook(state, port)
    stack = make_stack([standin_spec(port, child=True)], state=state)
    # then the services die too (a reboot, an OOM kill): only the pid file is left
    victims = stack_processes(stack)
    for proc in victims:
        proc.kill()
    for proc in victims:
        _wait_dead(proc.pid)
    (row,) = stack.status()
    assert row.state == "dead" and "stale pid file" in row.detail
    assert [r.outcome for r in stack.down()] == ["stale pid file removed"]
    assert stack.recorded() == []


def test_a_recycled_pid_is_never_signalled(make_stack, tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stack = make_stack([standin_spec(free_port())])
        stack.state_dir.mkdir(parents=True, exist_ok=True)
        # a pid file from a previous boot whose pid now belongs to someone else
        record = {
            "name": "api",
            "pid": bystander.pid,
            "create_time": 1.0,
            "token": "x",
            "argv": ["gone"],
            "started_at": "2020-01-01T00:00:00+00:00",
        }
        stack.pid_file("api").write_text(json.dumps(record), encoding="utf-8")
        row = stack.status()[0]
        assert row.state == "dead" and "belongs to another process" in row.detail
        assert [r.outcome for r in stack.down()] == ["stale pid file removed"]
        assert bystander.poll() is None  # still alive: not ours to kill
    finally:
        bystander.kill()
        bystander.wait()


STUBBORN = """
import http.server, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""


def test_sigterm_then_sigkill_after_the_grace_period(make_stack) -> None:
    port = free_port()
    spec = ServiceSpec(
        "stubborn",
        (sys.executable, "-c", STUBBORN, str(port)),
        f"http://127.0.0.1:{port}/health",
        port=port,
    )
    stack = make_stack([spec], grace_s=0.5)
    stack.up(timeout_s=30)
    pid = _pid(stack, "stubborn")
    started = time.monotonic()
    (result,) = stack.down()
    assert result.outcome == "killed" and result.pids == (pid,)
    assert time.monotonic() - started >= 0.5
    _wait_dead(pid)


def test_a_service_that_exits_while_starting_is_reported_with_its_log(make_stack) -> None:
    argv = (sys.executable, "-c", "print('boom: bad config'); raise SystemExit(3)")
    spec = ServiceSpec("broken", argv, f"http://127.0.0.1:{free_port()}/health")
    stack = make_stack([spec])
    with pytest.raises(StackUnhealthy) as caught:
        stack.up(timeout_s=20)
    message = str(caught.value)
    assert "broken exited while starting" in message and "code 3" in message
    assert "boom: bad config" in message
    assert caught.value.exit_code == 4 and caught.value.services == {"broken": "dead"}
    assert _states(stack) == {"broken": "stopped"}  # this up started it, so it cleared it
    assert "boom: bad config" in stack.log_file("broken").read_text()  # the log stays


def test_a_service_that_never_turns_healthy_times_out(make_stack) -> None:
    spec = ServiceSpec(
        "silent",
        (sys.executable, "-c", "import time; time.sleep(60)"),
        f"http://127.0.0.1:{free_port()}/health",
    )
    stack = make_stack([spec])
    started = time.monotonic()
    with pytest.raises(StackUnhealthy, match=r"not healthy after 0\.5 s: silent"):
        stack.up(timeout_s=0.5)
    assert time.monotonic() - started >= 0.5
    assert _states(stack) == {"silent": "stopped"} and stack_processes(stack) == []


def _sleeper(name: str, port: int | None = None) -> ServiceSpec:
    """A service that starts at once and never turns healthy (costs one bare interpreter)."""
    argv = (sys.executable, "-c", "import time; time.sleep(60)")
    return ServiceSpec(name, argv, f"http://127.0.0.1:{free_port()}/health", port=port)


def test_every_port_is_checked_before_anything_starts(make_stack) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        # The first service's port is free: the old start ran it, then failed on the second.
        stack = make_stack([_sleeper("gateway", free_port()), standin_spec(port)])
        events: list[tuple[str, str]] = []
        with pytest.raises(StackError) as caught:
            stack.up(timeout_s=10, progress=lambda s, m: events.append((s, m)))
    message = str(caught.value)
    assert message.startswith(f"api: port {port} is in use")  # by this process, when visible
    assert message.endswith("; nothing was started: stop it or choose another port")
    assert caught.value.exit_code == 1 and "\n" not in message
    assert events == [] and stack.recorded() == [] and stack_processes(stack) == []


def test_a_failed_step_stops_what_this_up_started_and_only_that(make_stack, tmp_path: Path) -> None:
    state, port = tmp_path / "state", free_port()
    running = make_stack([standin_spec(port)], state=state)
    running.up(timeout_s=30)
    api_pid = _pid(running, "api")
    broken = ServiceSpec(
        "broken", (sys.executable, "-c", "raise SystemExit(3)"),
        f"http://127.0.0.1:{free_port()}/health", after=("api",),
    )  # fmt: skip
    stack = make_stack([standin_spec(port), _sleeper("sleeper"), broken], state=state)
    events: list[tuple[str, str]] = []
    with pytest.raises(StackUnhealthy) as caught:
        stack.up(timeout_s=30, progress=lambda s, m: events.append((s, m)))
    assert str(caught.value).startswith(
        "stopped sleeper, broken again (started by this up): broken exited while starting"
    )
    assert ("sleeper", "stopped: the stack did not come up") in events
    assert _states(stack) == {"api": "healthy", "sleeper": "stopped", "broken": "stopped"}
    assert _pid(stack, "api") == api_pid  # already running before this up: left as it was
    assert [proc.pid for proc in stack_processes(stack)] == [api_pid]


def test_a_service_waits_for_the_file_an_earlier_one_writes(make_stack, tmp_path: Path) -> None:
    marker, port_a, port_b = tmp_path / "registry.json", free_port(), free_port()
    go = tmp_path / "go"  # the writer writes only once the reader has said it waits
    writer = tmp_path / "writer.py"
    writer.write_text(
        textwrap.dedent(f"""
        import pathlib, runpy, sys, time
        while not pathlib.Path({str(go)!r}).exists():
            time.sleep(0.01)
        pathlib.Path({str(marker)!r}).write_text("{{}}")
        sys.argv = ["standin", "--port", "{port_a}"]
        runpy.run_path({str(Path(__file__).with_name("standin.py"))!r}, run_name="__main__")
    """),
        encoding="utf-8",
    )
    first = ServiceSpec(
        "writer",
        (sys.executable, str(writer)),
        f"http://127.0.0.1:{port_a}/health/liveliness",
        port=port_a,
    )
    second = dataclasses.replace(standin_spec(port_b, name="reader"), needs_files=(marker,))
    stack = make_stack([first, second])
    events: list[tuple[str, str, bool]] = []

    def progress(service: str, message: str) -> None:
        events.append((service, message, marker.exists()))
        if (service, message) == ("reader", f"waiting for {marker}"):
            go.touch()

    stack.up(timeout_s=30, progress=progress)
    reader = [(m, seen) for s, m, seen in events if s == "reader"]
    assert reader[0] == (f"waiting for {marker}", False)
    assert reader[1][0].startswith("starting") and reader[1][1]  # the file was there by then


def test_logs_rotate_without_losing_what_the_service_writes(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_bytes(b"x" * 200)
    with log.open("ab") as service:  # the service's own handle, opened in append mode
        assert rotate_log(log, max_bytes=100, keep=2)
        service.write(b"after rotation\n")
        service.flush()
        assert log.read_bytes() == b"after rotation\n"  # appended at the new start
        log.write_bytes(b"y" * 300)
        assert rotate_log(log, max_bytes=100, keep=2)
    assert (tmp_path / "svc.log.1").read_bytes() == b"y" * 300
    assert (tmp_path / "svc.log.2").read_bytes() == b"x" * 200
    assert not rotate_log(log, max_bytes=100, keep=2)


def test_tail_and_follow_read_the_service_log(make_stack) -> None:
    stack = make_stack([standin_spec(free_port())])
    stack.up(timeout_s=30)
    assert any("standin: serving on" in line for line in stack.tail("api", 20))
    first = stack.tail("api", 20)[0]
    assert first.startswith("--- ") and "mpc stack: starting api" in first
    follower = stack.follow("api", poll_s=0.05)
    with stack.log_file("api").open("ab") as out:
        out.write(b"a new line\n")
    assert next(follower) == "a new line"


def test_restart_replaces_one_service_and_leaves_the_other(make_stack) -> None:
    stack = make_stack([standin_spec(free_port(), name="a"), standin_spec(free_port(), name="b")])
    stack.up(timeout_s=30)
    before = {name: _pid(stack, name) for name in ("a", "b")}
    report = stack.restart(["b"], timeout_s=30)
    assert [(r.name, r.action) for r in report.services] == [
        ("a", "already running"),
        ("b", "started"),
    ]
    assert _pid(stack, "a") == before["a"] and _pid(stack, "b") != before["b"]
    _wait_dead(before["b"])
