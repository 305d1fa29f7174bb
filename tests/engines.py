"""A machine where no container engine answers, whatever this one has (for tests whose
subject is the local mode, or `auto` finding nothing)."""

from __future__ import annotations

import os
from pathlib import Path


def engineless_env(folder: Path) -> dict[str, str]:
    """PATH and DOCKER_HOST for a process that must find no container engine answering:
    podman is not installed, and the docker CLI (where installed) talks to a socket nobody
    serves, as with Docker's daemon stopped.  (Unset CONTAINER_HOST as well.)

    Every PATH folder holding an engine is replaced by one in `folder` of links to all of its
    programs but podman: the programs themselves are the real ones."""
    folders = []
    for index, entry in enumerate(os.environ.get("PATH", "").split(os.pathsep)):
        where = Path(entry)
        if not ((where / "podman").exists() or (where / "docker").exists()):
            folders.append(entry)
            continue
        shadow = folder / f"path{index}"
        shadow.mkdir(parents=True, exist_ok=True)
        for program in where.iterdir():
            if program.name != "podman" and not (shadow / program.name).exists():
                (shadow / program.name).symlink_to(program)
        folders.append(str(shadow))
    return {"PATH": os.pathsep.join(folders), "DOCKER_HOST": f"unix://{folder / 'no-docker.sock'}"}
