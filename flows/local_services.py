"""Servers run as local processes on 127.0.0.1: a free port to start one on, waiting until it
answers its health check (or says why it will not), and a ``prefect server`` of our own. Nothing
here imports Prefect: a command points ``PREFECT_API_URL`` at such a server before Prefect loads
its settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alflow.errors import AlflowError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(
    name: str, health_url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0
) -> None:
    """Poll ``health_url`` until it answers 200; fail with the end of ``log`` if the process
    exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AlflowError(f"{name} exited ({proc.returncode}); {log}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(health_url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AlflowError(
                f"{name} not healthy at {health_url} after {timeout:.0f} s; {log}:\n{_tail(log)}"
            )
        time.sleep(0.5)


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


@contextmanager
def prefect_server(home: Path, timeout: float = 180.0) -> Iterator[str]:
    """A ``prefect server start`` on 127.0.0.1 with its own PREFECT_HOME; yields the API URL."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_API_URL": "",
    }
    log = (home / "server.log").open("ab")
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), "--no-ui"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy("prefect server", f"{url}/health", proc, home / "server.log", timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
