"""JupyterLab and the offline reports in a real browser (Debian's chromium, driven by Playwright).

For each workbook notebook: it runs in JupyterLab, its plotly chart and widget must render (the
widget talking to the live kernel), and its headless run's HTML report must render the same
with every network request blocked.  The checks themselves (tests/browser.py) run in a thread
started with the session, once the headless runs are done; each test here waits for its
notebook's outcome and raises what the check raised.  Screenshots go to the session's tmp dir
(the end of the run names the folder).

Skipped when /usr/bin/chromium or playwright is missing, except in CI (`.ci/run` installs
chromium), where that is a failure.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from browser import CHROMIUM, BrowserChecks, unavailable
from workbook import WORKBOOK


@pytest.mark.parametrize("name", sorted(WORKBOOK))
def test_notebook_runs_in_jupyterlab_and_its_report_renders_offline(
    name: str, browser_checks: BrowserChecks
) -> None:
    browser_checks.result(name)


def test_chromium_is_debians_when_present() -> None:
    """Guards the apt install in .ci/run: the binary the test drives is the packaged one."""
    if not CHROMIUM.is_file():
        unavailable(f"{CHROMIUM} is not installed")
    done = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("Chromium "), done.stdout + done.stderr
    assert shutil.which("chromium") == str(CHROMIUM)
