"""Offline reports: no network reference, shared assets written once, a header, code hidden.

That the chart and the widget really draw with the network blocked is shown in a real
browser by tests/notebooks/test_jupyterlab_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

import pytest

from mpc_lib.config import Settings
from mpc_lib.runs import RunResult, run_notebook

FIXTURES = Path(__file__).parent / "fixtures"

MAX_REPORT_BYTES = 1_000_000
# Anything a browser would fetch from a network: script/link/img/iframe sources, CSS
# imports and url()s, dynamic imports.
_NETWORK_REFERENCE = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?\s*(?:https?:)?//"""
    r"""|import\(\s*["'](?:https?:)?//""",
    re.IGNORECASE,
)


def network_references(html: str) -> list[str]:
    """Every place in `html` that would make the browser fetch from a network."""
    return [html[m.start() : m.start() + 120] for m in _NETWORK_REFERENCE.finditer(html)]


def local_scripts(html_path: Path) -> list[Path]:
    """The files the report's <script src> tags load, resolved beside the report."""
    html = html_path.read_text(encoding="utf-8")
    return [
        (html_path.parent / src).resolve()
        for src in re.findall(r"<script\b[^>]*\bsrc=\"([^\"]+)\"", html)
    ]


def test_the_reference_pattern_catches_what_nbconvert_used_to_load() -> None:
    cdn = (
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js">'
        "</script><link rel=\"stylesheet\" href='//fonts.example/x.css'>"
        "<style>@import url('https://fonts.googleapis.com/css?family=Roboto');</style>"
        'const m = (await import("https://cdnjs.cloudflare.com/mermaid.mjs")).default;'
    )
    assert len(network_references(cdn)) == 4
    assert network_references('<a href="https://plotly.com/">docs</a> /* https://x.y */') == []


class ReportRuns(NamedTuple):
    """Two runs of the report fixture into one runs folder, and its assets between them."""

    settings: Settings
    full: RunResult  # with a title parameter
    bare: RunResult  # --report-only, after `full`
    assets_after_full: dict[Path, int]  # each asset file's mtime (ns) before `bare` ran


@pytest.fixture(scope="module")
def report_runs(tmp_path_factory: pytest.TempPathFactory, widget_renderer: Path) -> ReportRuns:
    """The runs the tests below read: one kernel start per run, shared."""
    settings = Settings(outputs_dir=tmp_path_factory.mktemp("reports") / "outputs")
    full = run_notebook(
        "report", {"title": "Quarterly <1>"}, settings=settings, notebooks_dir=FIXTURES
    )
    assets = settings.outputs_dir / "runs" / "_assets"
    written = {p.resolve(): p.stat().st_mtime_ns for p in assets.rglob("*") if p.is_file()}
    bare = run_notebook("report", settings=settings, notebooks_dir=FIXTURES, report_only=True)
    return ReportRuns(settings, full, bare, written)


def test_a_report_loads_nothing_from_a_network_and_stays_small(
    report_runs: ReportRuns, widget_renderer: Path
) -> None:
    settings, result = report_runs.settings, report_runs.full

    html = result.html_path.read_text(encoding="utf-8")
    assert network_references(html) == []
    assert result.html_path.stat().st_size <= MAX_REPORT_BYTES
    scripts = local_scripts(result.html_path)
    assets = settings.outputs_dir.resolve() / "runs" / "_assets"
    assert sorted(p.relative_to(assets).as_posix() for p in scripts) == [
        "html-manager-1.0.15/embed.js",
        f"plotly-{_plotly_version()}.min.js",
    ]
    assert all(path.is_file() for path in scripts)
    assert (assets / "html-manager-1.0.15" / "embed.js").read_bytes() == (
        widget_renderer.read_bytes()
    )
    # the widget's saved state and the chart's data are in the page itself
    assert 'type="application/vnd.jupyter.widget-state+json"' in html
    assert '"_options_labels":["x","y"]' in html.replace(" ", "")
    assert "Plotly.newPlot" in html and "Quarterly" in html
    # the header says what ran
    header = html[html.index('id="mpc-run"') :][:2000]
    assert "report: ok" in header
    assert 'title="Quarterly &lt;1&gt;"' in header  # parameters are escaped
    assert result.run_id in header


def test_assets_are_written_once_per_runs_folder(report_runs: ReportRuns) -> None:
    first, second = report_runs.full, report_runs.bare
    plotly_js = next(p for p in local_scripts(first.html_path) if p.name.startswith("plotly-"))
    written = report_runs.assets_after_full[plotly_js]

    assert second.html_path != first.html_path
    assert plotly_js in local_scripts(second.html_path)
    assert plotly_js.stat().st_mtime_ns == written
    assert len(list(plotly_js.parent.glob("plotly-*.js"))) == 1


def test_report_only_hides_code_but_keeps_outputs_and_markdown(report_runs: ReportRuns) -> None:
    full, bare = report_runs.full, report_runs.bare

    full_html = full.html_path.read_text(encoding="utf-8")
    bare_html = bare.html_path.read_text(encoding="utf-8")
    assert "SECRET_CODE_MARKER" in full_html
    assert "SECRET_CODE_MARKER" not in bare_html
    for html in (full_html, bare_html):
        assert "A small report" in html and "Plotly.newPlot" in html
    assert json.loads(bare.manifest_path.read_text())["report_only"] is True


def test_a_failed_run_gets_a_report_whose_header_says_so(
    fixtures_dir: Path, settings: Settings
) -> None:
    try:
        run_notebook("broken", settings=settings, notebooks_dir=fixtures_dir)
    except Exception as exc:
        output = exc.output_path  # type: ignore[attr-defined]
    html = output.with_suffix(".html").read_text(encoding="utf-8")
    header = html[html.index('id="mpc-run"') :][:2000]
    assert "broken: failed" in header
    assert "cell 2: ZeroDivisionError: division by zero" in header
    assert "mpc-failed" in html


def _plotly_version() -> str:
    import plotly

    return str(plotly.__version__)
