"""The workspace's shared Prefect server and Dask cluster, as ``alflow`` commands use them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flows.workspace_services import read_state, services_dir
from tests.conftest import SHARED_VARS, make_config

pytestmark = pytest.mark.slow  # each starts the workspace's server and cluster: 30-50 s

ALFLOW = str(Path(sys.executable).with_name("alflow"))


def alflow(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in SHARED_VARS}  # the session's services
    full |= {"ALFLOW_LOCAL_SERVICES": "1", **env}
    out = subprocess.run(
        [ALFLOW, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_rounds_share_one_server_and_cluster_until_stop(tmp_path, digits_csv):
    ws = tmp_path / "ws"
    cfg = tmp_path / "alflow.yaml"
    cfg.write_text(yaml.safe_dump(make_config(ws).model_dump(mode="json")))
    assert read_state(services_dir(ws)) is None
    alflow("ingest", str(digits_csv[0]), "-c", str(cfg), cwd=tmp_path)  # a flow: starts them
    state = read_state(services_dir(ws))

    first = alflow("round", "-c", str(cfg), cwd=tmp_path)
    assert "round 1: selected" in first.stdout
    assert read_state(services_dir(ws)) == state  # the ingest's server and cluster
    assert state["prefect_api_url"].startswith("http://127.0.0.1:")
    assert state["dask_address"].startswith("tcp://127.0.0.1:")
    assert alive(state["pid"])

    second = alflow("round", "-c", str(cfg), cwd=tmp_path)
    assert "round 2: selected" in second.stdout
    assert read_state(services_dir(ws)) == state  # found again, not started again
    # the round ran on that server: its flow runs are in the server's own database
    runs = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("
            "'select count(*) from flow_run').fetchone()[0])",
            str(services_dir(ws) / "prefect" / "prefect.db"),
        ],
        capture_output=True,
        text=True,
    )
    assert runs.stdout.strip() == "3", runs.stderr  # the ingest and the two rounds

    stopped = alflow("stop", "-c", str(cfg), cwd=tmp_path)
    assert "stopped the local services" in stopped.stdout
    assert not alive(state["pid"])
    assert read_state(services_dir(ws)) is None
    assert "no local services running" in alflow("stop", "-c", str(cfg), cwd=tmp_path).stdout


def transitions(dask_scheduler) -> int:
    return dask_scheduler.transition_counter


def test_a_configured_scheduler_wins(tmp_path, digits_csv, dask_client):
    ws = tmp_path / "ws"
    address = dask_client.scheduler.address
    raw = make_config(ws, compute={"scheduler_address": address}).model_dump(mode="json")
    cfg = tmp_path / "alflow.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    alflow("ingest", str(digits_csv[0]), "-c", str(cfg), cwd=tmp_path)
    before = dask_client.run_on_scheduler(transitions)
    alflow("round", "-c", str(cfg), cwd=tmp_path)
    assert dask_client.run_on_scheduler(transitions) > before  # the pass ran on that cluster
    state = read_state(services_dir(ws))
    try:
        assert state["dask_address"] is None  # no cluster of its own: the configured one ran it
        assert state["prefect_api_url"]
    finally:
        alflow("stop", "-c", str(cfg), cwd=tmp_path)
