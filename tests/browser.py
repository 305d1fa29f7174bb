"""The JupyterLab browser checks, in a thread of their own started with the session.

For each workbook notebook: JupyterLab runs headless on loopback with a token and is loaded
once in Debian's chromium (driven by Playwright); the notebook (outputs cleared) is opened in
it, all cells run, and the plotly chart and the widget must render, the widget talking to the
live kernel; then the notebook is closed and its kernel shut down.  The notebook's HTML report
(from the session's headless run) is opened with every network request blocked, and the chart
and the widget must render from the report alone.  Screenshots go to the session's tmp dir.

The checks wait for the session's headless runs, then work through the notebooks while the
rest of the suite runs: they are mostly kernels and a browser working, which the second core
takes.  tests/notebooks/test_jupyterlab_browser.py reads each notebook's outcome: its failure
(or its skip: chromium or playwright missing, outside CI) is raised there.  The thread prints
nothing: other tests' in-process `mpc` runs swap sys.stdout meanwhile (the end of the run
lists the screenshots instead).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
from cli_runner import mpc_env
from engines import engineless_env
from workbook import NOTEBOOKS_DIR, WORKBOOK, HeadlessRun, WorkbookNotebook, service_env

CHROMIUM = Path("/usr/bin/chromium")
# As the machine notes: no sandbox as root, and nothing reaching out on its own.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "mpc-browser-test-token"
_RENDER_TIMEOUT_MS = 120_000


def unavailable(reason: str) -> None:
    """Skip, or fail under CI (`.ci/run` installs chromium and playwright)."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}")
    pytest.skip(reason)


class BrowserChecks:
    """The browser checks of `names`, one thread working through them; `result(name)` waits
    for a notebook's and raises what it raised."""

    def __init__(
        self,
        names: list[str],
        root: Path,
        request: pytest.FixtureRequest,
        headless_runs: Callable[[str], HeadlessRun],
        artifacts: Path,
    ) -> None:
        self._names = names
        self._headless_runs = headless_runs
        self._artifacts = artifacts
        self._done: dict[str, Future[None]] = {name: Future() for name in names}
        # the services the notebooks need are settled here, in the session's thread
        self._book = _write_book(root, names, request)
        self._thread = threading.Thread(target=self._work, name="browser-checks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def result(self, name: str) -> None:
        self._done[name].result()

    def close(self) -> None:
        self._thread.join(timeout=300)

    def _work(self) -> None:
        pending = dict(self._done)
        for name in self._names:  # the runs first: the cores are theirs until they are done
            with contextlib.suppress(BaseException):  # a failed run: its own check says so
                self._headless_runs(name)
        try:
            with _lab(self._book) as lab, _chromium() as browser, _lab_page(browser, lab) as page:
                for name in self._names:
                    try:
                        run = self._headless_runs(name)
                        _check(name, page, browser, lab, run, self._artifacts)
                    except BaseException as exc:  # the test raises it
                        pending.pop(name).set_exception(exc)
                    else:
                        pending.pop(name).set_result(None)
        except BaseException as exc:  # every test still waiting raises it
            for future in pending.values():
                future.set_exception(exc)


def _check(
    name: str, page: Any, browser: Any, lab: dict[str, Any], run: HeadlessRun, artifacts: Path
) -> None:
    case = WORKBOOK[name]
    # The report loads with the network off in a context of its own while JupyterLab runs
    # the notebook (the browser renders one as the kernel works for the other).
    offline = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    reached: list[str] = []

    def block(route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            reached.append(route.request.url)
            route.abort()

    offline.route("**/*", block)
    try:
        report = offline.new_page()
        report.goto(run.html_path.as_uri(), wait_until="commit")
        _run_in_jupyterlab(page, lab["paths"][name], case, artifacts / name)
        _assert_renders(report, case, artifacts / f"{name}-report-offline")
        assert report.locator("#mpc-run").inner_text().startswith(f"{name}: ok")
    finally:
        offline.close()
    assert reached == [], f"the report tried the network: {reached}"


@contextmanager
def _chromium() -> Iterator[Any]:
    """Headless Debian chromium under Playwright (never Playwright's own browser download)."""
    if not CHROMIUM.is_file():
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _write_book(root: Path, names: list[str], request: pytest.FixtureRequest) -> dict[str, Any]:
    """A workbook whose notebooks have no outputs, with the .env that points them at their
    services; a notebook that starts the core gets a workbook (and ports) of its own."""
    book = root / "book"
    (book / "notebooks").mkdir(parents=True)
    (book / "pyproject.toml").write_text('[project]\nname = "ops"\n\n[tool.mpc]\n')
    shared = [name for name in names if "stack" not in WORKBOOK[name].needs]
    services = {k: v for name in shared for k, v in service_env(WORKBOOK[name], request).items()}
    lines = ["MPC_SOURCE=sandbox", f"MPC_OUTPUTS_DIR={root / 'outputs'}"]
    lines += [f"{name}={value}" for name, value in services.items()]
    (book / ".env").write_text("\n".join(lines) + "\n")
    paths: dict[str, str] = {}
    for name in names:
        home = book
        if name not in shared:
            # It starts the core on ports of its own: a workbook of its own, with its own .env.
            home = book / name
            (home / "notebooks").mkdir(parents=True)
            (home / "pyproject.toml").write_text('[project]\nname = "ops"\n\n[tool.mpc]\n')
            own = ["MPC_SOURCE=sandbox", f"MPC_OUTPUTS_DIR={root / f'outputs-{name}'}"]
            own += [f"{k}={v}" for k, v in service_env(WORKBOOK[name], request).items()]
            (home / ".env").write_text("\n".join(own) + "\n")
        nb = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, home / "notebooks" / f"{name}.ipynb")
        paths[name] = (home / "notebooks" / f"{name}.ipynb").relative_to(book).as_posix()
    return {"root": root, "book": book, "paths": paths}


@contextmanager
def _lab(written: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """JupyterLab on a free loopback port, serving the written workbook."""
    root, book = written["root"], written["book"]
    jupyter = root / "jupyter"
    settings = jupyter / "settings" / "@jupyterlab"
    # Every cell in the DOM (no windowing), and no news/update prompts over the page.
    _settings(settings / "notebook-extension" / "tracker.jupyterlab-settings",
              {"windowingMode": "none"})  # fmt: skip
    _settings(settings / "apputils-extension" / "notification.jupyterlab-settings",
              {"fetchNews": "false", "checkForUpdates": False})  # fmt: skip
    env = mpc_env()  # the kernels read the workbook's .env only
    # stack_bringup runs on its defaults here (`auto`): no engine answers, so the core runs
    # as local processes on the ports its .env names (containers: test_containers.py).
    env.update(engineless_env(root / "engineless"))
    env.pop("CONTAINER_HOST", None)
    env.update(
        JUPYTER_CONFIG_DIR=str(jupyter / "config"), JUPYTER_DATA_DIR=str(jupyter / "data"),
        JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"), IPYTHONDIR=str(jupyter / "ipython"),
        JUPYTERLAB_SETTINGS_DIR=str(jupyter / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(jupyter / "workspaces"),
    )  # fmt: skip
    port = _free_port()
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={book}",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (root / "lab.log").open("w")
    server = subprocess.Popen(command, cwd=book, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_server(port, server, root / "lab.log")
        yield {"url": f"http://127.0.0.1:{port}", **written}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


@contextmanager
def _lab_page(browser: Any, lab: dict[str, Any]) -> Iterator[Any]:
    """JupyterLab loaded once in one page; each notebook opens in it (the app's own start-up,
    seconds of it, is paid once, not per notebook)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{lab['url']}/lab?reset&token={TOKEN}")
        page.get_by_role("menuitem", name="File", exact=True).wait_for(timeout=_RENDER_TIMEOUT_MS)
        yield page
    finally:
        context.close()


def _run_in_jupyterlab(page: Any, path: str, case: WorkbookNotebook, shots: Path) -> None:
    """Open `path` in the lab, run all its cells, check what renders; close it, kernel and all."""
    _menu_item(page, "File", "Open from Path…").click()
    field = page.get_by_placeholder("/path/relative/to/jlab/root")
    field.fill(path)
    field.press("Enter")
    try:
        page.locator(".jp-NotebookPanel").wait_for(timeout=_RENDER_TIMEOUT_MS)
        page.get_by_text("| Idle").first.wait_for(timeout=_RENDER_TIMEOUT_MS)  # kernel is up
        run_all = _menu_item(page, "Run", "Run All Cells")
        assert run_all.get_attribute("aria-disabled") != "true"
        run_all.click()
        _assert_renders(page, case, shots.with_name(f"{shots.name}-jupyterlab"))
        if case.live_widget:  # the widget is live: a change goes to the kernel and back
            dropdown = page.locator(".widget-dropdown select").first
            summary = page.locator(".widget-html-content", has_text=" of ").first
            before = summary.inner_text()
            options = dropdown.locator("option").all_inner_texts()
            dropdown.select_option(options[-1])
            page.wait_for_function(
                "([el, text]) => el.innerText !== text",
                arg=[summary.element_handle(), before], timeout=_RENDER_TIMEOUT_MS,
            )  # fmt: skip
    finally:  # the next notebook opens in an empty lab, with this kernel gone
        _menu_item(page, "File", "Close and Shut Down Notebook…").click()
        page.locator(".jp-Dialog .jp-mod-accept").click()
        page.locator(".jp-NotebookPanel").wait_for(state="detached", timeout=_RENDER_TIMEOUT_MS)


def _menu_item(page: Any, menu: str, item: str) -> Any:
    """`item` of JupyterLab's `menu`, the menu opened (the caller clicks it)."""
    page.get_by_role("menuitem", name=menu, exact=True).click()
    # an item's accessible name ends with its shortcut, if it has one
    entry = page.get_by_role("menuitem", name=re.compile(rf"^{re.escape(item)}(\s|$)"))
    entry.wait_for()
    return entry


def _assert_renders(page: Any, case: WorkbookNotebook, shot: Path) -> None:
    """The chart has drawn bars and the widget its controls, visibly; a screenshot is kept."""
    if case.chart:
        plot = page.locator(".js-plotly-plot").first
        plot.locator(".main-svg").first.wait_for(timeout=_RENDER_TIMEOUT_MS)
        if case.chart_data:
            assert plot.locator(".trace .point, .trace .box").count() > 0  # data, not just axes
        # a busy machine may still be laying the output area out: the same patience as above
        plot.scroll_into_view_if_needed(timeout=_RENDER_TIMEOUT_MS)
        assert plot.is_visible() and plot.bounding_box()["height"] > 100
        _screenshot(page, shot.with_name(f"{shot.name}-chart.png"))
    if case.widget:
        shown = page.locator(".widget-html-content", has_text=case.widget_text).first
        shown.wait_for(timeout=_RENDER_TIMEOUT_MS)
        shown.scroll_into_view_if_needed(timeout=_RENDER_TIMEOUT_MS)
        assert shown.is_visible()
        if case.live_widget:
            dropdown = page.locator(".widget-dropdown select").first
            assert dropdown.is_visible() and dropdown.locator("option").count() > 1
        _screenshot(page, shot.with_name(f"{shot.name}-widget.png"))


def _screenshot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000  # a blank page compresses to far less


def _settings(path: Path, values: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values), encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_server(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    """Until /api/status answers on loopback (JupyterLab takes ~4 s to start)."""
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"JupyterLab exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", timeout=2).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"JupyterLab did not answer in 90s: {log.read_text()[-3000:]}")
