"""One local Prefect server and one local Dask cluster per workspace, shared by its commands.

Starting Prefect's embedded API costs 10-13 s and a ``LocalCluster`` 3 s in every ``alflow round``
or ``alflow import``. Instead the first command of a workspace starts a small daemon
(``python -m flows.workspace_services``, its own session, on 127.0.0.1) that holds both; it
writes ``<workspace>/services/services.json`` (pid, API URL, scheduler address) and later
commands find them there and only connect. Warm workers also keep the pool index open between
rounds. The daemon exits after ``ALFLOW_SERVICES_IDLE_SECONDS`` (default 1800) without a
command, when the workspace folder disappears, or on ``alflow stop``.

A configured Prefect server (``PREFECT_API_URL``, in the environment or the active Prefect
profile) or ``compute.scheduler_address`` still wins: the daemon then runs only what is missing.
``ALFLOW_LOCAL_SERVICES=0`` turns it off (the embedded API and a cluster per command, as before).
The daemon restarts when alflow's code or the compute shape changed since it started.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alflow.config import AlflowConfig, ComputeConfig
from alflow.errors import AlflowError
from alflow.stages import stage
from alflow.workspace import Workspace
from flows.local_services import prefect_server
from flows.warm import code_fingerprint

SWITCH = "ALFLOW_LOCAL_SERVICES"
IDLE = "ALFLOW_SERVICES_IDLE_SECONDS"
SCHEDULER = "ALFLOW_LOCAL_SCHEDULER"  # alflow.scoring.compute.LOCAL_SCHEDULER (not imported: Dask)
STATE, LAST_USED, LOG = "services.json", "last-used", "services.log"


def services_dir(root: Path) -> Path:
    return root / "services"


def prefect_configured() -> bool:
    """A Prefect API is configured: in the environment or in the active Prefect profile."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    home = Path(os.environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    try:
        profiles = tomllib.loads((home / "profiles.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    return bool(profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL"))


def use_workspace_services(config: AlflowConfig) -> None:
    """Point this process at the workspace's Prefect server and Dask cluster (started on first
    use). Call it before Prefect is imported."""
    if os.environ.get(SWITCH, "1") == "0":
        return
    prefect = not prefect_configured()
    dask = config.compute.scheduler_address is None and not os.environ.get(SCHEDULER)
    if not (prefect or dask):
        return
    root = Workspace.from_config(config).root
    with stage("local services"):
        state = ensure_running(root, config.compute, prefect=prefect, dask=dask)
    if prefect:
        os.environ["PREFECT_API_URL"] = state["prefect_api_url"]
    if dask:
        os.environ[SCHEDULER] = state["dask_address"]


def _key(compute: ComputeConfig, prefect: bool, dask: bool) -> dict:
    shape = [compute.n_workers, compute.threads_per_worker, compute.memory_limit]
    return {"code": code_fingerprint(), "compute": shape if dask else None, "prefect": prefect}


def ensure_running(root: Path, compute: ComputeConfig, *, prefect: bool, dask: bool) -> dict:
    """The running daemon's state, starting (or restarting) it when needed."""
    d = services_dir(root)
    d.mkdir(parents=True, exist_ok=True)
    key = _key(compute, prefect, dask)
    with _locked(d):
        state = read_state(d)
        if state is not None and state["key"] == key and _alive(state):
            (d / LAST_USED).touch()
            return state
        if state is not None:
            _terminate(state, d)
        return _start(root, d, key)


@contextmanager
def _locked(d: Path) -> Iterator[None]:
    """One command at a time checks or starts the daemon."""
    with (d / "lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_state(d: Path) -> dict | None:
    try:
        return json.loads((d / STATE).read_text())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    """``pid`` runs (a daemon this process started and that exited is reaped, not a zombie)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not this process's child: started by an earlier command
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _listening(address: str | None) -> bool:
    """Something accepts connections at ``tcp://host:port`` or ``http://host:port/...``."""
    if not address:
        return True
    hostport = address.split("://", 1)[-1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def _alive(state: dict) -> bool:
    return (
        _pid_alive(state["pid"])
        and _listening(state.get("prefect_api_url"))
        and _listening(state.get("dask_address"))
    )


def _start(root: Path, d: Path, key: dict) -> dict:
    (d / STATE).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "flows.workspace_services", str(root), json.dumps(key)]
    with (d / LOG).open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal does not stop it
        )
    deadline = time.monotonic() + float(os.environ.get("ALFLOW_SERVICES_START_SECONDS", "240"))
    while time.monotonic() < deadline:
        state = read_state(d)
        if state is not None and state["pid"] == proc.pid:
            (d / LAST_USED).touch()
            return state
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    tail = (d / LOG).read_text(errors="replace")[-2000:]
    raise AlflowError(f"the workspace's local services did not start; {d / LOG}:\n{tail}")


def stop(root: Path, timeout: float = 60.0) -> dict | None:
    """Stop the workspace's daemon (and its Prefect server and cluster); its state or None."""
    d = services_dir(root)
    if not d.is_dir():
        return None
    with _locked(d):
        state = read_state(d)
        if state is None:
            return None
        _terminate(state, d, timeout)
        return state


def _terminate(state: dict, d: Path, timeout: float = 60.0) -> None:
    pid = state["pid"]
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)  # the daemon leads its own session
    (d / STATE).unlink(missing_ok=True)


# ------------------------------------------------------------------------------- the daemon
def _write_state(d: Path, state: dict) -> None:
    tmp = d / f"{STATE}.tmp"
    tmp.write_text(json.dumps(state))
    tmp.replace(d / STATE)


def _idle(d: Path, root: Path) -> bool:
    limit = float(os.environ.get(IDLE, "1800"))
    try:
        return time.time() - (d / LAST_USED).stat().st_mtime > limit
    except OSError:
        return not root.exists()


@contextmanager
def _cluster(compute: list | None) -> Iterator[str | None]:
    if compute is None:
        yield None
        return
    from alflow.scoring.compute import local_cluster

    n_workers, threads, memory = compute
    shape = ComputeConfig(n_workers=n_workers, threads_per_worker=threads, memory_limit=memory)
    with local_cluster(shape) as address:
        yield address


@contextmanager
def _prefect(root: Path, wanted: bool) -> Iterator[str | None]:
    if not wanted:
        yield None
        return
    with prefect_server(services_dir(root) / "prefect") as url:
        yield url


def daemon(root: Path, key: dict) -> None:
    """Hold the cluster and the Prefect server until stopped, idle, or the workspace is gone."""
    d = services_dir(root)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: done.set())
    with _cluster(key["compute"]) as address, _prefect(root, key["prefect"]) as url:
        state = {"pid": os.getpid(), "key": key, "prefect_api_url": url, "dask_address": address}
        _write_state(d, state)
        while not done.wait(2.0):
            if not root.exists() or _idle(d, root) or read_state(d) != state:
                break
    if read_state(d) == state:
        (d / STATE).unlink(missing_ok=True)


if __name__ == "__main__":
    daemon(Path(sys.argv[1]), json.loads(sys.argv[2]))
