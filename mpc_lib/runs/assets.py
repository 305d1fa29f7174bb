"""The large assets offline reports share: plotly.js and the Jupyter widgets renderer.

They are written once into `<outputs>/runs/_assets/` and every report under
`runs/<date>/` points at them relatively, so a report stays small and opens with no
network.  plotly.js comes from the installed `plotly` package.  The widgets renderer
is the standalone bundle of the npm package `@jupyter-widgets/html-manager` (`embed.js`,
1.9 MB, BSD-3-Clause): too big to vendor, so `fetch_widget_renderer()` takes it from
the npm registry with `npm pack` (the ordinary client, so npm's own registry and proxy
settings apply), checks it against the pinned integrity hash, and keeps it in the
cache (`MPC_CACHE_DIR`) from where each runs folder gets a copy.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..errors import ConfigError
from ..storage import atomic_write_bytes

__all__ = [
    "ASSETS_DIRNAME",
    "WIDGET_RENDERER",
    "NpmBundle",
    "ReportAssets",
    "cache_dir",
    "fetch_widget_renderer",
    "prepare_assets",
    "widget_renderer_cached",
]

logger = logging.getLogger("mpc_lib.runs")

ASSETS_DIRNAME = "_assets"
_NPM_TIMEOUT_S = 180


@dataclass(frozen=True)
class NpmBundle:
    """A built file set from one pinned npm package version, checked by its registry hash."""

    package: str
    version: str
    integrity: str  # the registry's `dist.integrity` (sha512, base64) of the tarball
    entry: str  # the script a report loads, relative to the package root
    extra_suffixes: tuple[str, ...]  # other files of the entry's folder it loads at run time

    @property
    def folder(self) -> str:
        """The folder name the bundle is kept under, in the cache and in `_assets/`."""
        return f"{self.package.rsplit('/', 1)[-1]}-{self.version}"


# html-manager 1.x renders ipywidgets 8 state (version_major 2).  `embed.js` is the
# non-AMD bundle: it needs no require.js and renders every widget-state script on load.
WIDGET_RENDERER = NpmBundle(
    package="@jupyter-widgets/html-manager",
    version="1.0.15",
    integrity=(
        "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA=="
    ),
    entry="dist/embed.js",
    extra_suffixes=(".LICENSE.txt", ".woff2"),  # its licence notice and icon fonts
)


@dataclass(frozen=True)
class ReportAssets:
    """Script paths a report under `runs/<date>/` loads, relative to it (None: not available)."""

    plotly_js: str | None
    widget_renderer: str | None


def cache_dir(settings: Settings) -> Path:
    """Where fetched bundles are kept: MPC_CACHE_DIR, else ~/.cache/mpc-workbench."""
    return settings.cache_dir or Path.home() / ".cache" / "mpc-workbench"


def widget_renderer_cached(settings: Settings, bundle: NpmBundle = WIDGET_RENDERER) -> Path | None:
    """The cached renderer script, or None when it has not been fetched yet."""
    entry = cache_dir(settings) / bundle.folder / Path(bundle.entry).name
    return entry if entry.is_file() else None


def fetch_widget_renderer(settings: Settings, bundle: NpmBundle = WIDGET_RENDERER) -> Path:
    """Fetch the renderer with `npm pack` into the cache (once); ConfigError says why not."""
    cached = widget_renderer_cached(settings, bundle)
    if cached is not None:
        return cached
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError(
            f"cannot fetch the widgets renderer {bundle.package}@{bundle.version}: npm is not "
            "installed (install Node.js/npm, then run `mpc runs assets --fetch`)"
        )
    with tempfile.TemporaryDirectory(prefix="mpc-npm-") as tmp:
        done = subprocess.run(
            [npm, "pack", f"{bundle.package}@{bundle.version}", "--pack-destination", tmp,
             "--silent"],
            cwd=tmp, capture_output=True, text=True, timeout=_NPM_TIMEOUT_S, check=False,
        )  # fmt: skip
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            detail = " ".join((done.stderr or done.stdout).split())[-300:]
            raise ConfigError(
                f"npm pack {bundle.package}@{bundle.version} failed "
                f"(exit {done.returncode}): {detail or 'no tarball'}"
            )
        data = tarballs[0].read_bytes()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != bundle.integrity:
        raise ConfigError(
            f"{bundle.package}@{bundle.version}: the tarball npm returned does not match the "
            f"pinned integrity hash ({digest[:24]}... != {bundle.integrity[:24]}...)"
        )
    target = cache_dir(settings) / bundle.folder
    for name, content in _bundle_files(data, bundle).items():
        atomic_write_bytes(target / name, content)
    logger.info("fetched %s@%s into %s", bundle.package, bundle.version, target)
    entry = widget_renderer_cached(settings, bundle)
    if entry is None:
        raise ConfigError(f"{bundle.package}@{bundle.version}: no {bundle.entry} in the package")
    return entry


def prepare_assets(
    settings: Settings, runs_dir: Path, *, plotly: bool, widgets: bool
) -> ReportAssets:
    """Copy the assets a report needs into `runs_dir/_assets` (once) and say where they are.

    A missing widgets renderer is fetched when npm is there; otherwise the report is
    still written, with a note instead of rendered widgets.
    """
    folder = runs_dir / ASSETS_DIRNAME
    plotly_js = _plotly_js(folder) if plotly else None
    renderer = None
    if widgets:
        try:
            source = fetch_widget_renderer(settings)
        except ConfigError as exc:
            logger.warning("widgets will not render in the report: %s", exc)
        else:
            renderer = _copy_bundle(source.parent, folder / WIDGET_RENDERER.folder) / source.name
    return ReportAssets(
        plotly_js=_relative(plotly_js, runs_dir), widget_renderer=_relative(renderer, runs_dir)
    )


def _bundle_files(tarball: bytes, bundle: NpmBundle) -> dict[str, bytes]:
    """The entry script and the files beside it that it loads, by file name."""
    entry = f"package/{bundle.entry}"
    folder = entry.rsplit("/", 1)[0] + "/"
    wanted = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            name = member.name
            if not member.isfile() or not name.startswith(folder) or "/" in name[len(folder) :]:
                continue
            if name == entry or name.endswith(bundle.extra_suffixes):
                handle = archive.extractfile(member)
                if handle is not None:
                    wanted[name[len(folder) :]] = handle.read()
    return wanted


def _plotly_js(folder: Path) -> Path | None:
    """plotly.min.js of the installed plotly, named by its version (written once)."""
    try:  # plotly is optional (the notebooks extra): no plotly, no plotly.js to write
        import plotly
        from plotly.offline import get_plotlyjs
    except ImportError:
        return None
    path = folder / f"plotly-{plotly.__version__}.min.js"
    if not path.is_file():
        atomic_write_bytes(path, get_plotlyjs().encode("utf-8"))
    return path


def _copy_bundle(source: Path, target: Path) -> Path:
    """Copy every file of a cached bundle folder that `target` lacks."""
    for item in source.iterdir():
        if item.is_file() and not (target / item.name).is_file():
            atomic_write_bytes(target / item.name, item.read_bytes())
    return target


def _relative(path: Path | None, runs_dir: Path) -> str | None:
    """The path as a report in `runs_dir/<date>/` reaches it."""
    if path is None:
        return None
    return "../" + path.relative_to(runs_dir).as_posix()
