"""Servers run as local processes on 127.0.0.1: a free port to start one on, waiting until it
answers its health check (or says why it will not), a ``prefect server`` of our own, and
stopping one with everything it started. Nothing
here imports Prefect: a command points ``PREFECT_API_URL`` at such a server before Prefect loads
its settings.

A new server home starts from a copy of a migrated empty Prefect database (SQLite, the
default): a server migrating a new database itself spends ~6 s of CPU on it before it answers.
The copy is made once per machine and Prefect version, in the user's cache."""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from alflow.errors import AlflowError

SERVER_GRACE = 3.0  # seconds a server of ``alflow serve`` gets after SIGTERM
OFFLINE = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false"}
logger = logging.getLogger(__name__)


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


@contextmanager
def server_process(home: Path, own_session: bool = False) -> Iterator[tuple[str, subprocess.Popen]]:
    """A ``prefect server start`` on 127.0.0.1 with its own PREFECT_HOME, not waited for;
    yields its API URL and process, and stops it (with what it started) on exit."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, **OFFLINE, "PREFECT_HOME": str(home), "PREFECT_API_URL": ""}
    seed_database(home, env)
    log = (home / "server.log").open("ab")
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), "--no-ui"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=own_session,
    )
    try:
        yield f"http://127.0.0.1:{port}/api", proc
    finally:
        stop_tree(proc, SERVER_GRACE if own_session else 30.0)
        log.close()


@contextmanager
def prefect_server(home: Path, timeout: float = 180.0) -> Iterator[str]:
    """A ``prefect server start`` on 127.0.0.1 (``server_process``), once it answers."""
    with server_process(home) as (url, proc):
        wait_healthy("prefect server", f"{url}/health", proc, home / "server.log", timeout)
        yield url


def seed_database(home: Path, env: dict[str, str]) -> None:
    """Give a server home without a database a copy of the migrated empty one (nothing to do
    when the server is configured with a database of its own)."""
    db = home / "prefect.db"
    configured = ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL")
    if db.exists() or any(env.get(k) for k in configured):
        return
    if (template := database_template(env)) is not None:
        _copy_database(template, db)


def database_template(env: dict[str, str]) -> Path | None:
    """The migrated empty database of the installed Prefect (``prefect server database
    upgrade`` in a scratch home the first time); None if it cannot be made (the server then
    migrates its own database and reports what is wrong)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "alflow"
    template = cache / f"prefect-{importlib.metadata.version('prefect')}.db"
    if template.exists():
        return template
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            cmd = [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"]
            subprocess.run(
                cmd,
                env={**env, "PREFECT_HOME": scratch},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=True,
                timeout=600,
            )
            _copy_database(Path(scratch) / "prefect.db", template)
    except (OSError, subprocess.SubprocessError, sqlite3.Error) as err:
        logger.warning("no Prefect database template (%s); the server migrates its own", err)
        return None
    return template


def _copy_database(source: Path, dest: Path) -> None:
    """A consistent copy of an SQLite database (its WAL included), put in place atomically."""
    part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(part)) as out,
    ):
        src.backup(out)
    os.replace(part, dest)
