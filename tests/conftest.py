"""Shared fixtures: a workbook and a clean environment per test; per session one loopback
sandbox, one LiteLLM and one headless run of each workbook notebook; and a check that the run
left the checkout as it found it."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser import BrowserChecks
from cli_runner import DEVELOPER_ENV_PREFIXES, mpc_env, mpc_script
from entry_points import EntryPointRuns
from seam import sync
from unit_kinds import unit_kinds
from workbook import WORKBOOK, HeadlessRun, service_env, stop_local_core

from mpc_lib.aliases import load_aliases
from mpc_lib.config import Settings
from mpc_lib.gateway import (
    GatewayClient,
    GatewayProcess,
    build_gateway_config,
    write_gateway_config,
)
from mpc_lib.gateway.config import (
    GatewaySelection,
    default_config_path,
    gateway_env,
    with_required,
)
from mpc_lib.registry import RegistryStore
from mpc_lib.sandbox import Sandbox
from mpc_lib.upstreams import SERVICES, Upstreams, sandbox_upstreams

CHECKOUT = Path(__file__).resolve().parents[1]


def _isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No developer variable; MPC_HOME and the working directory are `home`."""
    for name in list(os.environ):
        if name.startswith(DEVELOPER_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPC_HOME", str(home))
    monkeypatch.chdir(home)


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's fixtures get the same isolation as each test, in a workbook of their own;
    Hypothesis (under schemathesis) keeps its database there too, not in the checkout."""
    if importlib.util.find_spec("hypothesis") is not None:
        # optional: Hypothesis comes with schemathesis (the dev extra); it fixed its default
        # storage folder, ./.hypothesis, when pytest loaded its plugin in the checkout
        from hypothesis.configuration import set_hypothesis_home_dir

        set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    with pytest.MonkeyPatch.context() as monkeypatch:
        home = tmp_path_factory.mktemp("session-home")
        _isolate(monkeypatch, home)
        yield home


@pytest.fixture
def workbook_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This test's workbook root: an empty folder, MPC_HOME and the working directory."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, workbook_home: Path) -> None:
    """Every test in its own workbook (MPC_HOME, cwd), with no MPC_/FAL_/COMET*/LITELLM_/APIDOG_
    variable from the developer's shell: nothing lands in the checkout, no .env of it is read."""
    _isolate(monkeypatch, workbook_home)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """Both emulators on ephemeral loopback ports, shared by the whole session."""
    with Sandbox() as sb:
        yield sb


@pytest.fixture(scope="session")
def upstreams(sandbox: Sandbox) -> Upstreams:
    """Every service on the session sandbox, as the seam hands them to the library."""
    return Upstreams(sandbox_upstreams(sandbox, SERVICES))


@pytest.fixture(autouse=True)
def _reset_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the sandbox: clear faults and the log, restore data and latency."""
    yield
    if "sandbox" in request.fixturenames or "upstreams" in request.fixturenames:
        request.getfixturevalue("sandbox").reset()


@pytest.fixture
def shared_dir() -> Path:
    """The read-only ../shared folder next to the repo; skips the test when it is absent."""
    path = CHECKOUT.parent / "shared"
    if not path.is_dir():
        pytest.skip(f"{path} is not available")
    return path


@pytest.fixture
def seed_registry(shared_dir: Path) -> Path:
    """The raw registry snapshot in ../shared/seed-data (866 FAL + 568 Comet records)."""
    path = shared_dir / "seed-data" / "model_registry.json"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return path


def seed_snapshot() -> Path | None:
    """The seed snapshot's path (the real 2025 catalog), or None when ../shared is absent."""
    path = CHECKOUT.parent / "shared" / "seed-data" / "model_registry.json"
    return path if path.is_file() else None


# --- the checkout stays as it was --------------------------------------------------------

# What a run may add to the checkout: bytecode and tool caches, the virtualenv, the egg-info.
_CACHE_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv"}
_CHECKOUT_STATE = pytest.StashKey[set[str]]()


def _checkout_state() -> set[str] | None:
    """`git status` of the checkout, ignored files included, minus caches; None outside git."""
    if shutil.which("git") is None or not (CHECKOUT / ".git").exists():
        return None
    done = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "--", ".",
         ":(exclude).venv"],
        cwd=CHECKOUT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return None
    return {
        line
        for line in done.stdout.splitlines()
        if not _CACHE_PARTS & set(Path(line[3:]).parts) and ".egg-info" not in line
    }


def pytest_sessionstart(session: pytest.Session) -> None:
    state = _checkout_state()
    if state is not None:
        session.config.stash[_CHECKOUT_STATE] = state


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when the checkout gained or changed a file (tests write to their tmp dirs)."""
    before = session.config.stash.get(_CHECKOUT_STATE, None)
    after = _checkout_state() if before is not None else None
    if before is None or after is None or not after - before:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "the checkout changed during the run", red=True)
        for line in sorted(after - before):
            reporter.write_line(f"  {line}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BROWSER_ARTIFACTS = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def browser_artifacts(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Path:
    """Where the browser test keeps its screenshots (named at the end of the run)."""
    folder = tmp_path_factory.mktemp("browser-artifacts", numbered=False)
    pytestconfig.stash[_BROWSER_ARTIFACTS] = folder
    return folder


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say where this session's browser screenshots are (under the session's tmp dir)."""
    folder = terminalreporter.config.stash.get(_BROWSER_ARTIFACTS, None)
    shots = sorted(folder.glob("*.png")) if folder is not None else []
    if shots:
        terminalreporter.write_sep("-", f"browser screenshots ({len(shots)}) in {folder}")
        for path in shots:
            terminalreporter.write_line(f"  {path.name}")


# --- work started with the session, in the background ---------------------------------------


# The fixtures that read headless runs -> the catalog those runs see: the sandbox's own, or
# the real 2025 one (the ../shared seed snapshot, served by the sandbox).
_RUN_FIXTURES = {"headless_runs": "sandbox", "real_catalog_runs": "real"}
# Session fixtures whose work starts with the session when a selected test uses them, in this
# order: it runs in the background (the second core) while the first tests run, and a test
# waits only for what it reads.  The browser checks wait for the headless runs themselves.
_STARTED_WITH_THE_SESSION = (
    *_RUN_FIXTURES, "entry_point_runs", "browser_checks"
)  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def _start_with_the_session(_session_home: Path, request: pytest.FixtureRequest) -> None:
    used = {name for item in request.session.items for name in item.fixturenames}
    for name in _STARTED_WITH_THE_SESSION:
        if name in used:
            # a missing tool (a widgets renderer, chromium) is for the tests that use it to say
            with contextlib.suppress(pytest.skip.Exception, pytest.fail.Exception):
                request.getfixturevalue(name)


@pytest.fixture(scope="session")
def entry_point_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EntryPointRuns]:
    """Each command group's `mpc` process (tests/cli/test_entry_points.py), one at a time."""
    runs = EntryPointRuns(tmp_path_factory)
    try:
        yield runs
    finally:
        runs.close()


# The browser test, whose checks (tests/browser.py) run in a thread of their own.
_BROWSER_TEST = "test_notebook_runs_in_jupyterlab_and_its_report_renders_offline"


@pytest.fixture(scope="session")
def browser_checks(
    _headless_pool: _HeadlessRuns,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    browser_artifacts: Path,
) -> Iterator[BrowserChecks]:
    """The browser checks of every notebook the session's browser tests name."""
    names = sorted(
        item.callspec.params["name"]
        for item in request.session.items
        if getattr(item, "originalname", None) == _BROWSER_TEST
    )
    checks = BrowserChecks(
        names, tmp_path_factory.mktemp("lab"), request, _headless_pool.result, browser_artifacts
    )
    checks.start()
    try:
        yield checks
    finally:
        checks.close()


@pytest.fixture(scope="session")
def widget_renderer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The html-manager bundle offline reports load (fetched once with npm into the cache).

    Skips when it cannot be fetched (no npm, no registry), except in CI, where it must be.
    """
    from mpc_lib.errors import ConfigError
    from mpc_lib.runs import fetch_widget_renderer

    try:
        return fetch_widget_renderer(Settings(home=tmp_path_factory.mktemp("renderer-book")))
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to fetch the widgets renderer: {exc}")
        pytest.skip(f"widgets renderer not available: {exc}")


@pytest.fixture(scope="session")
def _headless_pool(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, widget_renderer: Path
) -> Iterator[_HeadlessRuns]:
    """`mpc run NAME` once per session per workbook notebook and catalog, in a fresh workbook of
    its own: the one execution that strict nbval, the headless, report and index checks, the
    notebook's own data checks and the browser test all read.

    Every run the session's tests name is queued at once and run one at a time, the
    sandbox's first: each is a process of its own (a real `mpc run`) on the second core
    while the tests run on the first (two at a time starved the tests: the suite took
    5:57-6:24 instead of 5:34, measured on 2 cores).  No test stops the session's gateway
    (tests/api pulls a plug in front of it instead), so the gateway notebook's run starts
    with the others.
    """
    runs = _HeadlessRuns(tmp_path_factory, request)
    for catalog in ("sandbox", "real"):
        for item in request.session.items:
            callspec = getattr(item, "callspec", None)
            if not (callspec and "name" in callspec.params):
                continue
            if catalog not in {_RUN_FIXTURES.get(f) for f in item.fixturenames}:
                continue
            runs.start(callspec.params["name"], catalog)
    try:
        yield runs
    finally:
        runs.close()


@pytest.fixture(scope="session")
def headless_runs(_headless_pool: _HeadlessRuns) -> Callable[[str], HeadlessRun]:
    """The session's run of a workbook notebook on the sandbox (`MPC_SOURCE=sandbox`)."""
    return _headless_pool.result


@pytest.fixture(scope="session")
def real_catalog_runs(_headless_pool: _HeadlessRuns) -> Callable[[str], HeadlessRun]:
    """The session's run of a workbook notebook on a registry synced from the real 2025
    catalog (the sandbox serving the ../shared seed snapshot: no network)."""
    return functools.partial(_headless_pool.result, catalog="real")


@pytest.fixture(scope="session")
def real_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An outputs folder holding one sync of the real 2025 catalog: the ../shared seed
    snapshot served by the sandbox.  Skips when ../shared is absent.  Copy it before use."""
    seed = seed_snapshot()
    if seed is None:
        pytest.skip(f"{CHECKOUT.parent / 'shared'}: the seed snapshot is not available")
    outputs = tmp_path_factory.mktemp("real-catalog") / "outputs"
    report = sync(Settings(outputs_dir=outputs, source="sandbox", sandbox_snapshot=seed))
    assert report.status == "ok" and report.counts == {"fal": 866, "comet": 568}
    return outputs


class _HeadlessRuns:
    """The session's headless runs, each started once and read by every test that names it."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
        self._tmp = tmp_path_factory
        self._request = request
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headless-run")
        self._runs: dict[tuple[str, str], Future[HeadlessRun]] = {}

    def start(self, name: str, catalog: str = "sandbox") -> Future[HeadlessRun]:
        """Start `name`'s run on `catalog` (once); its services, environment and registry are
        settled here, in the test's thread, so a test's monkeypatching never reaches the run.

        On the "sandbox" catalog it starts in an empty workbook; on the "real" one, in a
        workbook holding a copy of the `real_catalog` registry, with the sandbox serving
        the seed snapshot that registry came from.
        """
        run_key = (name, catalog)
        if run_key not in self._runs:
            case = WORKBOOK[name]
            folder = self._tmp.mktemp(f"headless-{name}" + ("-real" if catalog == "real" else ""))
            env = {"MPC_SOURCE": "sandbox", "MPC_OUTPUTS_DIR": str(folder / "out")}
            try:
                if catalog == "real":
                    shutil.copytree(self._request.getfixturevalue("real_catalog"), folder / "out")
                    env["MPC_SANDBOX_SNAPSHOT"] = str(seed_snapshot())
                env.update(service_env(case, self._request))
            except (pytest.skip.Exception, pytest.fail.Exception) as exc:
                # a service it needs is missing (LiteLLM not installed, no ../shared): only
                # its tests say so
                self._runs[run_key] = missing = Future()
                missing.set_exception(exc)
                return missing
            params = [arg for key, value in case.parameters.items() for arg in ("-p", key, value)]
            argv = [mpc_script(), "run", name, *params, "--json"]
            stop = "stack" in case.needs  # the core it brings up is stopped right after
            self._runs[run_key] = self._pool.submit(_headless_run, argv, mpc_env(env), folder, stop)
        return self._runs[run_key]

    def result(self, name: str, catalog: str = "sandbox") -> HeadlessRun:
        return self.start(name, catalog).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _headless_run(argv: list[str], env: dict[str, str], folder: Path, stop: bool) -> HeadlessRun:
    try:
        done = subprocess.run(
            argv, env=env, cwd=folder, capture_output=True, text=True, timeout=300, check=False
        )
    finally:
        if stop:
            stop_local_core(env)
    assert done.returncode == 0, f"{' '.join(argv[1:])}: {done.stderr}"
    return HeadlessRun(folder / "out", json.loads(done.stdout.splitlines()[-1]), done.stderr)


# --- the gateway and MPC-API, for tests/gateway, tests/api and the gateway notebook ---------

# The session gateway's master key: a canary, so tests/test_secrets.py can look for it.
GATEWAY_KEY_CANARY = "sk-canary-gateway-3c9e1f7a5b2d4e6f8091a2b3c4d5e6f7"
API_KEY = "mpc-test-api-key-5e2b7c"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def port_factory() -> Any:
    """`free_port`, for tests that start servers of their own."""
    return free_port


@dataclass
class GatewayFixture:
    """A real LiteLLM proxy from a generated config, its upstreams the session sandbox."""

    home: Path
    settings: Settings  # the workbook's settings, with the gateway's URL and key
    process: GatewayProcess
    config: dict[str, Any]

    @property
    def url(self) -> str:
        return self.process.url


@pytest.fixture(scope="session")
def gateway(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayFixture]:
    """One LiteLLM process for the session (it takes ~10 s to start).

    Its workbook's registry is a direct sync of the session sandbox; the config is what
    `mpc gateway serve` writes with no provider keys set, plus one model of each unit kind
    the registry prices (tests/gateway/test_gateway_costs.py calls each).
    """
    if importlib.util.find_spec("litellm") is None:
        pytest.skip("litellm is not installed (pip install -e '.[gateway]')")
    home = tmp_path_factory.mktemp("gateway-book")
    direct = Settings(
        home=home,
        fal_key=sandbox.key("fal"),
        fal_base_url=sandbox.url("fal"),
        comet_key=sandbox.key("comet"),
        comet_base_url=sandbox.url("comet"),
    )
    registry = sync(direct)
    assert registry.status == "ok"
    settings = Settings(
        home=home,
        gateway_url=f"http://127.0.0.1:{free_port()}",
        gateway_key=GATEWAY_KEY_CANARY,
        max_retries=0,
    )
    models = RegistryStore(settings.outputs_dir).load()
    assert models is not None
    upstreams = sandbox_upstreams(sandbox)
    required = tuple(load_aliases().targets(models["models"]).values())
    required += tuple(unit_kinds(models["models"]).values())
    selection = with_required(GatewaySelection(), required)
    config = build_gateway_config(models, upstreams, selection)
    path = write_gateway_config(default_config_path(settings), config)
    process = GatewayProcess(
        path,
        port=int(settings.gateway_url.rsplit(":", 1)[1]),
        env=gateway_env(upstreams, GATEWAY_KEY_CANARY),
        log_path=path.parent / "litellm.log",
        settings=settings,
    )
    with process.start():
        # LiteLLM's first streamed call sets up its streaming path for ~0.7 s, long enough to
        # take a slow upstream's whole answer before relaying a byte: warm it up once here,
        # so tests that time a stream see the steady state.
        with GatewayClient(settings=settings) as client:
            for _chunk in client.chat_stream("gpt-4o-mini", [{"role": "user", "content": "warm"}]):
                pass
        yield GatewayFixture(home, settings, process, config)


@dataclass
class ApiFixture:
    """MPC-API on uvicorn, on a free loopback port, in front of the session gateway."""

    url: str
    settings: Settings
    key: str = API_KEY

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}


@pytest.fixture(scope="session")
def mpc_api(gateway: GatewayFixture) -> Iterator[ApiFixture]:
    """The MPC-API app, served by a real uvicorn in a thread, with a bearer key."""
    from mpc_lib.api import create_app
    from mpc_lib.sandbox.server import SandboxServer

    settings = gateway.settings.with_(api_key=API_KEY)
    with SandboxServer(create_app(settings), name="mpc-api") as server:
        yield ApiFixture(server.url, settings)
