"""``alflow serve`` says what each round did, starts its first round within 30 s, and a SIGTERM
or a Ctrl-C (SIGINT) stops it and every process it started (its own ``prefect server start``,
the flow runs and their Dask clusters) within 10 s, without a traceback."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from alflow.config import load_config
from alflow.project import Project
from tests.conftest import ROOT, make_config

pytestmark = pytest.mark.slow

# launch to the first round's "started" line: the supervisor starts the server before it loads
# anything heavy, the server starts from a migrated empty database, the runner opens MLflow's
# store and builds the deployments meanwhile, and runs the first round itself once the server
# answers (issue #13: within 30 s; measured 14-15 s on 2 cores at load 2-4)
FIRST_ROUND_SECONDS = 30
RESTART_ROUND_SECONDS = 30  # from the restarted serve's "serving" line to its round's "started"
STARTED = re.compile(r"^round 1: started$", re.M)
SELECTED = re.compile(r"^round 1: selected 10$", re.M)


def _workspace(tmp_path: Path, digits_csv) -> Path:
    """A tiny campaign: the digits pool, rounds every 5 s, no Dask scheduler (each flow run
    starts its own cluster: more processes for ``alflow serve`` to stop)."""
    config = make_config(
        tmp_path / "ws",
        project="signals",
        vendor={"kind": "file"},
        compute={"n_workers": 1, "threads_per_worker": 1},
        campaign={"batch_size": 10, "max_rounds": 5},
        schedule={"round_interval_seconds": 5, "poll_interval_seconds": 5, "max_in_flight": 10},
    )
    path = tmp_path / "alflow.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    project = Project(load_config(path))
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    return path


def _port_open(url: str) -> bool:
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _wait_for(pattern: re.Pattern, out: Path, proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := pattern.search(out.read_text()):
            return found.group(0)
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"no {pattern.pattern!r} in {timeout:.0f} s:\n{out.read_text()}")


def _serve(path: Path, tmp_path: Path, name: str) -> tuple[subprocess.Popen, Path, Path]:
    """``alflow serve`` on the workspace, its own session and Prefect server; stdout, stderr
    in ``<name>.out`` and ``<name>.err``."""
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    env.update(PYTHONPATH=str(ROOT), PREFECT_HOME=str(tmp_path / "prefect-home"))
    with out.open("w") as o, err.open("w") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", "-c", str(path)],
            env=env,
            stdout=o,
            stderr=e,
            cwd=ROOT,
            start_new_session=True,
        )
    return proc, out, err


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_serve_reports_rounds_and_stops_everything_on_a_signal(tmp_path, digits_csv, sig, code):
    path = _workspace(tmp_path, digits_csv)
    started = time.monotonic()
    proc, out, err = _serve(path, tmp_path, "serve")
    try:
        api = _wait_for(re.compile(r"on the Prefect API at (\S+)"), out, proc, 60).split()[-1]
        first = _wait_for(STARTED, out, proc, 120)
        first_after = time.monotonic() - started
        if sig == signal.SIGINT:  # SIGTERM arrives mid-round, SIGINT once it selected
            _wait_for(SELECTED, out, proc, 120)
        children = _descendants(proc.pid)
        os.killpg(proc.pid, sig) if sig == signal.SIGINT else proc.send_signal(sig)
        sent = time.monotonic()
        returncode = proc.wait(timeout=10)
        stopped_after = time.monotonic() - sent
        survivors = [c.pid for c in children if c.is_running() and c.status() != "zombie"]
    finally:
        _kill(proc)
    time.sleep(1)  # anything left would still be logging to the closed stderr file
    stderr = err.read_text()
    print(
        f"\nfirst round line after {first_after:.1f} s ({first!r}); {sig.name}: "
        f"exited {returncode} after {stopped_after:.1f} s; {len(children)} children"
    )
    assert first_after < FIRST_ROUND_SECONDS
    assert stopped_after < 10
    assert returncode == code, stderr
    assert survivors == [], f"still running after {sig.name}: {survivors}"
    assert not _port_open(api), f"the Prefect server at {api} still answers"
    assert "Traceback" not in stderr, stderr
    assert "Traceback" not in out.read_text()
    assert len(children) >= 1  # at least its own Prefect server was there to stop


def test_a_restart_after_a_kill_mid_round_resumes_the_round_at_once(tmp_path, digits_csv):
    """A kill of everything mid-round (SIGKILL: a lost machine, the OOM killer) leaves the
    round's flow run listed as running in the workspace's Prefect database (and the round open
    in the ledger); the restarted ``alflow serve`` marks it crashed and resumes the round within
    RESTART_ROUND_SECONDS of serving, instead of cancelling every run for want of the
    deployment's concurrency slot."""
    path = _workspace(tmp_path, digits_csv)
    proc, out, _ = _serve(path, tmp_path, "first")
    try:
        _wait_for(STARTED, out, proc, 120)
        tree = [psutil.Process(proc.pid), *_descendants(proc.pid)]
        for p in tree:
            p.kill()
        psutil.wait_procs(tree, timeout=10)
    finally:
        _kill(proc)
    proc, out, err = _serve(path, tmp_path, "again")
    try:
        _wait_for(re.compile(r"on the Prefect API at (\S+)"), out, proc, 60)
        serving = time.monotonic()
        _wait_for(STARTED, out, proc, 120)
        resumed_after = time.monotonic() - serving
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        _kill(proc)
    text = out.read_text()
    print(f"\nresumed round 1 {resumed_after:.1f} s after the restart served:\n{text}")
    assert "flow run signals-round-1-select was left running: marked crashed" in text
    assert "Traceback" not in err.read_text() + text
    assert resumed_after < RESTART_ROUND_SECONDS


# the main thread spends its time in finalizers, as it may when a round's Dask futures are
# collected: a KeyboardInterrupt raised there is printed ("Exception ignored in ... __del__")
# and swallowed, and the loop runs to its end (exit 3)
FINALIZERS = """
import sys, time
from flows.serve_runner import exit_on_interrupt

class Slow:
    def __del__(self):
        time.sleep(0.05)

with exit_on_interrupt():
    print("ready", flush=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        Slow()
sys.exit(3)
"""


def test_a_stop_during_the_first_round_exits_at_once_even_inside_a_finalizer():
    """The runner's first round runs in its own process under ``exit_on_interrupt``: the
    SIGINT of ``alflow serve`` stopping ends it with code 130 and no traceback, wherever the
    main thread was (CI once caught one in a Dask future's ``__del__``: the traceback printed,
    the round went on)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", FINALIZERS],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        code = proc.wait(timeout=15)
        took = time.monotonic() - sent
    finally:
        _kill(proc)
    stderr = proc.stderr.read()
    assert code == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert took < 5
