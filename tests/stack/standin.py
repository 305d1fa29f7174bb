"""A stand-in service for the local-mode tests: a real uvicorn process, shaped like MPC-API.

    python tests/stack/standin.py --port N [--upstream URL] [--child]

- `GET /health/liveliness` answers 200 while the process runs.
- `GET /health` is a deep health: 200 when `--upstream` answers 2xx, else 503 (as MPC-API
  answers when LiteLLM is down); it asks the upstream on every request, so it recovers
  by itself when the upstream comes back.
- `--child` also starts a grandchild in its own session (as `mpc gateway serve` starts
  LiteLLM) and exits with code 3 as soon as that child dies.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
import urllib.request

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def build_app(upstream: str | None) -> Starlette:
    async def liveliness(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    async def deep(_request: Request) -> JSONResponse:
        if upstream is None:
            return JSONResponse({"status": "ok"})
        try:
            with urllib.request.urlopen(upstream, timeout=1) as answer:
                ok = 200 <= answer.status < 300
        except OSError:
            ok = False
        return JSONResponse({"status": "ok" if ok else "degraded"}, status_code=200 if ok else 503)

    return Starlette(routes=[Route("/health/liveliness", liveliness), Route("/health", deep)])


def _watch(child: subprocess.Popen[bytes], server: uvicorn.Server) -> None:
    child.wait()
    print(f"standin: child {child.pid} exited with {child.returncode}", flush=True)
    server.should_exit = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream")
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(args.upstream), host="127.0.0.1", port=args.port, log_level="warning"
        )
    )
    child = None
    if args.child:
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(3600)"], start_new_session=True
        )
        print(f"standin: child pid {child.pid}", flush=True)
        threading.Thread(target=_watch, args=(child, server), daemon=True).start()
    print(f"standin: serving on {args.port}", flush=True)
    server.run()
    if child is not None and child.poll() is not None:
        time.sleep(0.1)
        sys.exit(3)


if __name__ == "__main__":
    main()
