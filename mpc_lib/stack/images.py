"""The images the stack runs, built offline with podman: `mpc stack images`.

Where no image registry answers, every image is built here from Debian's own packages:

1. `tools`: podman, runc and debootstrap (installed with apt-get when asked: `install=True`);
2. `rootfs`: `debootstrap --variant=minbase` of Debian bookworm with its python3 (3.11),
   imported as `localhost/mpc-workbench/debian:bookworm-minbase` (kept: built once);
3. `base`: `compose/Dockerfile.base` on it: a virtual environment on PATH
   (`localhost/mpc-workbench/python:3.11-bookworm`);
4. `wheels`: one wheelhouse for every image, filled by the host's pip (its index and
   certificates), checked against the base's own Python (markers such as
   `python_full_version` differ from the host's) and topped up until pip in the base
   resolves everything from it alone; kept while pyproject.toml's requirements are the same;
5. the images, each `podman build` with the wheelhouse mounted at /wheels and pip told
   to use it alone (no network inside a build): LiteLLM at the pinned version
   (`compose/Dockerfile.litellm`), MPC-API (which also runs the sandbox upstream) and
   the workbook (`mpc run`), tagged with their versions, never `:latest`.

A second run finds the root file system, the base and the wheelhouse cached, and podman's
layer cache turns every unchanged build step into a lookup.  `compose/compose.images.yaml`
makes the compose stack run these tags instead of the public images.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from .._version import __version__
from ..errors import StackError
from ..models import MpcModel
from ..storage import atomic_write_text, update_text
from .podman import Podman
from .processes import run_tool

__all__ = [
    "BASE_IMAGE",
    "DEBIAN_MIRROR",
    "LITELLM_VERSION",
    "ROOTFS_IMAGE",
    "BuildStep",
    "ImageBuild",
    "ImageSpec",
    "build_images",
    "core_images",
    "default_cache_dir",
]

log = logging.getLogger("mpc_lib.stack")

DEBIAN_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
# LiteLLM's version: pyproject's gateway extra pins it, compose's images are tagged with it.
LITELLM_VERSION = "1.108.7"
ROOTFS_IMAGE = f"localhost/mpc-workbench/debian:{SUITE}-minbase"
BASE_IMAGE = f"localhost/mpc-workbench/python:3.11-{SUITE}"
# Debian packages the root file system starts with: the interpreter, venv (ensurepip's
# wheels) and the CA bundle.
_ROOTFS_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# Debian package -> the program it brings.
_HOST_PACKAGES = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap"}
# What pip needs to build our own package inside an image (pyproject's build-system).
_BUILD_REQUIREMENTS = ("setuptools>=68", "wheel")
_GAP_ROUNDS = 12
_MISSING = re.compile(r"No matching distribution found for ([^;\s]+)")
_TOO_NEW = re.compile(r"Package '([^']+)' requires a different Python")

Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class ImageSpec:
    """One image the stack runs: its name, tag, Dockerfile and what pip installs into it."""

    name: str
    ref: str
    dockerfile: str
    # What pip installs: extras of this package, or (LiteLLM's image) pyproject's gateway
    # extra alone, as a requirements file.
    extras: tuple[str, ...] = ()
    gateway_extra: bool = False

    @property
    def local_ref(self) -> str:
        """The name podman stores it under (`localhost/...`)."""
        return self.ref if self.ref.startswith("localhost/") else f"localhost/{self.ref}"


def _pyproject(source: Path) -> dict:
    try:
        with open(source / "pyproject.toml", "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StackError(f"{source / 'pyproject.toml'}: unreadable ({exc})") from exc


def core_images(version: str = __version__) -> tuple[ImageSpec, ...]:
    """LiteLLM (at the gateway extra's pin), MPC-API and the workbook, tagged with versions."""
    return (
        ImageSpec("litellm", f"mpc-workbench/litellm:{LITELLM_VERSION}", "Dockerfile.litellm",
                  gateway_extra=True),
        ImageSpec("mpc-api", f"mpc-workbench/mpc-api:{version}", "Dockerfile.mpc-api", ("api",)),
        ImageSpec("workbook", f"mpc-workbench/workbook:{version}", "Dockerfile.workbook",
                  ("notebooks", "schedule")),
    )  # fmt: skip


def _gateway_requirements(source: Path) -> tuple[str, ...]:
    """pyproject's gateway extra: what the LiteLLM image installs (its litellm pin checked)."""
    gateway = tuple(_pyproject(source)["project"]["optional-dependencies"]["gateway"])
    if f"litellm[proxy]=={LITELLM_VERSION}" not in gateway:
        raise StackError(
            f"{source / 'pyproject.toml'}: the gateway extra does not pin "
            f"litellm[proxy]=={LITELLM_VERSION} (images.LITELLM_VERSION)"
        )
    return gateway


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/mpc-workbench/images` (else ~/.cache/...): outside any checkout."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "mpc-workbench" / "images"


class BuildStep(MpcModel):
    """One step of a build: what, how long, and whether the cache answered."""

    step: str
    seconds: float
    cached: bool
    detail: str = ""


class ImageBuild(MpcModel):
    """What `build_images` did: each step, the images by name, the total time."""

    steps: list[BuildStep] = Field(default_factory=list)
    images: dict[str, str] = Field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Builder:
    source: Path
    cache: Path
    podman: Podman
    images: tuple[ImageSpec, ...]
    mirror: str
    progress: Progress | None
    report: ImageBuild

    def step(self, name: str, run: Callable[[], tuple[bool, str]]) -> None:
        if self.progress is not None:
            self.progress(name, "started")
        started = time.monotonic()
        cached, detail = run()
        took = time.monotonic() - started
        self.report.steps.append(BuildStep(step=name, seconds=round(took, 2), cached=cached,
                                           detail=detail))  # fmt: skip
        if self.progress is not None:
            self.progress(name, f"{'cached' if cached else 'built'} in {took:.1f} s {detail}")

    # --- steps ----------------------------------------------------------------------------

    def rootfs(self) -> tuple[bool, str]:
        if self.podman.image_exists(ROOTFS_IMAGE):
            return True, ROOTFS_IMAGE
        if shutil.which("debootstrap") is None:
            raise StackError("debootstrap is not installed (apt-get install debootstrap)")
        target = self.cache / "rootfs"
        shutil.rmtree(target, ignore_errors=True)
        argv = ["debootstrap", "--variant=minbase", f"--include={','.join(_ROOTFS_PACKAGES)}",
                SUITE, str(target), self.mirror]  # fmt: skip
        run_tool(argv, "debootstrap", timeout_s=900)
        archive = self.cache / "rootfs.tar"
        run_tool(["tar", "-C", str(target), "-cf", str(archive), "."], "tar", timeout_s=300)
        self.podman.run(["import", str(archive), ROOTFS_IMAGE], timeout_s=300)
        archive.unlink()
        shutil.rmtree(target, ignore_errors=True)
        return False, ROOTFS_IMAGE

    def base(self) -> tuple[bool, str]:
        context = self.cache / "context" / "base"
        context.mkdir(parents=True, exist_ok=True)
        return self.build(BASE_IMAGE, "Dockerfile.base", context, {"BASE_IMAGE": ROOTFS_IMAGE})

    def wheels(self) -> tuple[bool, str]:
        wheels = self.cache / "wheels"
        wanted = self.requirements()
        stamp = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:16]
        stamp_file = wheels / ".complete"
        if stamp_file.is_file() and stamp_file.read_text(encoding="utf-8").strip() == stamp:
            return True, f"{sum(1 for _ in wheels.glob('*.whl'))} wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        stamp_file.unlink(missing_ok=True)
        requirements = self.cache / "requirements.txt"
        atomic_write_text(requirements, "\n".join(wanted) + "\n")
        run_tool([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheels),
                   "-r", str(requirements)], "pip wheel", timeout_s=1800)  # fmt: skip
        added = self.fill_gaps(wheels, requirements)
        atomic_write_text(stamp_file, stamp + "\n")
        count = sum(1 for _ in wheels.glob("*.whl"))
        return False, f"{count} wheels" + (f" ({added} for the base's Python)" if added else "")

    def requirements(self) -> list[str]:
        """Every requirement of every image, as pip lines (our extras expanded)."""
        data = _pyproject(self.source)
        project = data["project"]
        extras = project.get("optional-dependencies", {})
        lines = [*_BUILD_REQUIREMENTS, *project.get("dependencies", [])]
        for image in self.images:
            lines += _gateway_requirements(self.source) if image.gateway_extra else ()
            for extra in image.extras:
                lines += [req for req in extras.get(extra, []) if "mpc-workbench" not in req]
        return list(dict.fromkeys(lines))

    def fill_gaps(self, wheels: Path, requirements: Path) -> int:
        """Top the wheelhouse up until pip in the base resolves it all offline.

        The host's pip resolved for the host's Python; the base's (Debian's 3.11.2) may need
        a package only its markers ask for (`No matching distribution`: fetched), or an older
        release of one whose newest requires a newer Python (`requires a different Python`:
        that wheel is replaced by the newest one for the base's version).
        """
        version = self.podman.run(
            ["run", "--rm", "--network=none", BASE_IMAGE, "python", "-c",
             "import platform; print(platform.python_version())"], timeout_s=120,
        ).stdout.strip()  # fmt: skip
        added = 0
        for _round in range(_GAP_ROUNDS):
            argv = ["run", "--rm", "--network=none", "-v", f"{wheels}:/wheels:ro",
                    "-v", f"{requirements}:/requirements.txt:ro", BASE_IMAGE,
                    "python", "-m", "pip", "install", "--dry-run", "-q", "--no-index",
                    "--find-links", "/wheels", "-r", "/requirements.txt"]  # fmt: skip
            try:
                self.podman.run(argv, timeout_s=600)
                return added
            except StackError as exc:
                missing = _MISSING.findall(str(exc))
                too_new = _TOO_NEW.findall(str(exc))
                if not missing and not too_new:
                    raise
            if missing:
                run_tool([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheels),
                           *missing], "pip wheel", timeout_s=600)  # fmt: skip
            for name in too_new:
                for wheel in wheels.glob("*.whl"):
                    if _wheel_name(wheel.name.split("-", 1)[0]) == _wheel_name(name):
                        wheel.unlink()
                run_tool([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                           "--only-binary=:all:", "--python-version", version, "-d", str(wheels),
                           name], f"pip download {name} for Python {version}",
                          timeout_s=600)  # fmt: skip
            added += len(missing) + len(too_new)
        raise StackError(f"the wheelhouse still misses packages after {_GAP_ROUNDS} rounds")

    def image(self, spec: ImageSpec) -> tuple[bool, str]:
        context = self.cache / "context" / spec.name
        if spec.gateway_extra:
            context.mkdir(parents=True, exist_ok=True)
            lines = _gateway_requirements(self.source)
            update_text(context / "requirements.txt", "\n".join(lines) + "\n")
        else:
            _copy_source(self.source, context)
        return self.build(spec.local_ref, spec.dockerfile, context, {"BASE_IMAGE": BASE_IMAGE},
                          wheels=True)  # fmt: skip

    def build(
        self,
        ref: str,
        dockerfile: str,
        context: Path,
        args: dict[str, str],
        *,
        wheels: bool = False,
    ) -> tuple[bool, str]:
        argv = ["build", "--layers", "-f", str(self.source / "compose" / dockerfile), "-t", ref]
        for name, value in args.items():
            argv += ["--build-arg", f"{name}={value}"]
        if wheels:
            argv += ["-v", f"{self.cache / 'wheels'}:/wheels:ro",
                     "--build-arg", "PIP_NO_INDEX=1", "--build-arg", "PIP_FIND_LINKS=/wheels",
                     "--build-arg", "PIP_INDEX_URL=https://pypi.invalid/simple"]  # fmt: skip
        previous = self.podman.image_id(ref)
        done = self.podman.run([*argv, str(context)], timeout_s=1800)
        if previous is not None and previous != self.podman.image_id(ref):
            # the build it replaced, unless something still uses or names it: 0.4-0.9 GB each
            self.podman.remove_if_untagged(previous)
        steps = done.stdout.count("STEP ")
        cached = done.stdout.count("Using cache")
        return steps > 0 and cached >= steps - 1, f"{ref} ({cached}/{steps} steps cached)"


def _wheel_name(project: str) -> str:
    """A project's name as wheel files spell it (PEP 427: runs of -_. become _)."""
    return re.sub(r"[-_.]+", "_", project).lower()


_SOURCE_PARTS = ("pyproject.toml", "README.md", "mpc_lib", "notebooks", "openapi")


def _copy_source(source: Path, context: Path) -> None:
    """The package's source as the build context (no venv, outputs or caches)."""
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for part in _SOURCE_PARTS:
        item = source / part
        if item.is_dir():
            shutil.copytree(item, context / part, ignore=ignore)
        elif item.is_file():
            shutil.copy2(item, context / part)
        else:
            raise StackError(f"{item}: missing; build the images from a source checkout")


def install_host_tools() -> list[str]:
    """apt-get install podman, runc and debootstrap (what is missing); their names."""
    missing = [package for package, program in _HOST_PACKAGES.items() if not shutil.which(program)]
    if missing:
        run_tool(["apt-get", "update", "-q"], "apt-get update", timeout_s=600)
        run_tool(["apt-get", "install", "-y", "-q", *missing], "apt-get install", timeout_s=1200)
    return missing


def build_images(
    source: Path,
    *,
    cache_dir: Path | None = None,
    podman: Podman | None = None,
    install: bool = False,
    mirror: str = DEBIAN_MIRROR,
    progress: Progress | None = None,
) -> ImageBuild:
    """Build the base and the core images offline (see the module docstring)."""
    started = time.monotonic()
    cache = cache_dir or default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    podman = podman or Podman(cache)
    report = ImageBuild()
    builder = _Builder(Path(source), cache, podman, core_images(), mirror, progress, report)
    if install:
        builder.step("tools", lambda: (False, ", ".join(install_host_tools()) or "all present"))
    podman.cli  # noqa: B018  (EngineUnavailable now, before anything is built)
    builder.step("rootfs", builder.rootfs)
    builder.step("base", builder.base)
    builder.step("wheels", builder.wheels)
    for spec in builder.images:
        builder.step(spec.name, lambda spec=spec: builder.image(spec))  # type: ignore[misc]
        report.images[spec.name] = spec.local_ref
    report.seconds = round(time.monotonic() - started, 2)
    return report
