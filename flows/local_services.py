"""Servers run as local processes on 127.0.0.1: a free port to start one on, waiting until
it answers its health check (or says why it will not), and stopping one with everything it
started."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil

from alflow.errors import AlflowError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(
    name: str, health_url: str, proc: subprocess.Popen | None, log: Path, timeout: float = 180.0
) -> None:
    """Poll ``health_url`` until it answers 200; fail with the end of ``log`` if the process
    (when it is ours) exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
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


def stop_tree(proc: subprocess.Popen, grace: float, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to ``proc``; after ``grace`` seconds SIGKILL what is left of it and of every
    process it started (also those in sessions of their own, such as Prefect's flow runs)."""
    if proc.poll() is not None:
        return
    tree = _descendants(proc.pid)
    proc.send_signal(sig)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    tree += _descendants(proc.pid)
    for child in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(tree, timeout=2)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""
