"""The emulators in a process of their own (`mpc sandbox serve`), as the benchmarks use them.

A remote API does not share the caller's GIL, so the benchmarks keep the emulators
out of process too.  Import with `bench/` on sys.path (running a script in bench/ does).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

__all__ = ["Emulators", "serve"]


@dataclass
class Emulators:
    """The URLs of a `mpc sandbox serve` process (it accepts any key with the right scheme)."""

    fal_url: str
    comet_url: str

    def request_count(self) -> int:
        # both emulators share one request log
        return len(httpx.get(f"{self.comet_url}/_sandbox/requests").json()["requests"])


@contextlib.contextmanager
def serve(latency_ms: float) -> Iterator[Emulators]:
    """Start `mpc sandbox serve` on free ports and read its URLs from stdout."""
    command = [sys.executable, "-m", "mpc_lib.cli", "sandbox", "serve",
               "--fal-port", "0", "--comet-port", "0", "--openai-port", "0", "--apidog-port", "0",
               "--latency-ms", str(latency_ms)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        urls: dict[str, str] = {}
        assert process.stdout is not None
        while len(urls) < 2:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("mpc sandbox serve exited early")
            match = re.match(r"(FAL|Comet) emulator:\s+(\S+)", line)
            if match:
                urls[match.group(1)] = match.group(2)
        yield Emulators(urls["FAL"], urls["Comet"])
    finally:
        process.terminate()
        process.wait(timeout=10)
