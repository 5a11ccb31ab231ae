"""`radlite serve` as a child process: start it on a free 127.0.0.1 port, wait until it answers
/health, stop it afterwards (the load and browser tests, benchmarks/serve.py)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Iterator


class ServerURL(str):
    """The base URL of a started server; `.process` is its `radlite serve` process."""

    process: subprocess.Popen


@contextlib.contextmanager
def running_server(index: str | Path, *args: str, ready_s: float = 180, log: IO | None = None) -> Iterator[ServerURL]:
    """Yields the server's base URL once /health says ok; `args` go to `radlite serve`, `log`
    (a file) takes its output (else it is inherited)."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("radlite")
    proc = subprocess.Popen([str(exe), "serve", str(index), "--port", str(port), *args], stdout=log, stderr=log)
    base = ServerURL(f"http://127.0.0.1:{port}")
    base.process = proc
    try:
        deadline = time.time() + ready_s
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).json().get("status") == "ok":
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if proc.poll() is not None or time.time() > deadline:
                tail = ""
                if log is not None:
                    log.flush()
                    tail = ": " + Path(log.name).read_text()[-2000:]
                raise RuntimeError(f"radlite serve did not start{tail}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
