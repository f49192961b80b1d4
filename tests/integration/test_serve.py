"""``alflow serve`` runs a campaign by itself: a real Prefect server (started by ``alflow serve``,
or by the test), the served deployments on their schedules, the simulated annotator, a Dask
cluster, MLflow and the ledger on SQLite."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from alflow.config import load_config
from alflow.project import Project
from flows.cli import app
from flows.local_services import prefect_server
from tests.conftest import ROOT, make_config

pytestmark = pytest.mark.slow


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    return {**env, "PYTHONPATH": str(ROOT), "PREFECT_HOME": str(home), **extra}


def _campaign(tmp_path: Path, digits_csv, dask_client, **schedule) -> tuple[Path, Project]:
    config = make_config(
        tmp_path / "ws",
        project="served",
        vendor={"kind": "simulated"},
        compute={"scheduler_address": dask_client.scheduler.address},
        campaign={"batch_size": 20, "max_rounds": 2, "control_fraction": 0.2},
        schedule={"poll_interval_seconds": 6, "max_in_flight": 20, **schedule},
    )
    path = tmp_path / "alflow.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    project = Project(load_config(path))
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    return path, project


def _wait(predicate, timeout: float, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"alflow serve exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(2)


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT to the process's group (it leads one), then SIGKILL to whatever is left of it, so
    no child (the Prefect server ``alflow serve`` started, a flow run) outlives the test."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _deployments(api_url: str) -> dict[str, bool]:
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api_url) as client:
        return {d.name: d.paused for d in client.read_deployments()}


def test_served_campaign_runs_its_rounds_and_stops_itself(tmp_path, digits_csv, dask_client):
    path, project = _campaign(tmp_path, digits_csv, dask_client, round_interval_seconds=8)
    log = (tmp_path / "serve.log").open("w+")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "-c", str(path)],
        env=_env(tmp_path / "prefect-home"),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        _wait(lambda: project.ledger.active_stop() is not None, 900, proc, "the campaign's stop")
        stopped_after = time.monotonic() - started
        api_url = re.search(r"on the Prefect API at (\S+)", Path(log.name).read_text()).group(1)
        _wait(lambda: all(_deployments(api_url).values()), 60, proc, "paused schedules")
        paused = _deployments(api_url)
    finally:
        _stop(proc)
    output = Path(log.name).read_text()
    print(f"\nserved campaign: stopped itself after {stopped_after:.0f} s")

    assert paused == {"served-rounds": True, "served-labels": True}
    stop = project.ledger.active_stop()
    assert stop.reason == "max_rounds 2 done" and stop.round_id == 2
    summary = project.ledger.round_summary()
    assert summary["round"].tolist() == [1, 2]
    assert summary["status"].tolist() == ["trained"] * 2
    assert summary["selected"].tolist() == [20] * 2 and summary["labeled_back"].tolist() == [20] * 2
    assert project.ledger.event_count() == 40  # every label imported once
    for r in (1, 2):
        batch = project.ledger.selection(r)
        assert (batch["reason"] == "control").sum() == 4
        run = project.tracker.client.get_run(project.ledger.get_round(r).mlflow_run_id)
        assert run.info.status == "FINISHED" and run.data.tags["alflow.model_version"]
        assert (
            run.data.tags["prefect.flow_run_id.select"] == project.ledger.get_round(r).flow_run_id
        )
        with tempfile.TemporaryDirectory() as tmp:
            assert (
                "Learning curve"
                in project.tracker.download(run.info.run_id, "report.html", tmp).read_text()
            )
    assert run.data.tags["alflow.campaign_stopped"] == "max_rounds 2 done"
    csv = tmp_path / "rounds.csv"
    out = CliRunner().invoke(app, ["audit", "rounds", "-c", str(path), "--csv", str(csv)])
    assert out.exit_code == 0 and pd.read_csv(csv)["status"].tolist() == ["trained"] * 2
    out = CliRunner().invoke(app, ["audit", "round", "2", "-c", str(path), "--csv", str(csv)])
    assert out.exit_code == 0 and (pd.read_csv(csv)["reason"] == "control").sum() == 4
    assert "serving served on the Prefect API" in output


def test_prefect_yaml_on_a_prefect_server_with_a_work_pool(tmp_path, digits_csv, dask_client):
    """``prefect server start`` on 127.0.0.1 (own PREFECT_HOME, free port); the repository's
    ``prefect.yaml`` deployed to a process work pool; a ``prefect worker`` runs the scheduled
    round to completion."""
    from prefect.client.orchestration import SyncPrefectClient

    path, project = _campaign(tmp_path, digits_csv, dask_client)
    started = time.monotonic()
    with prefect_server(tmp_path / "server-home") as api_url:
        server_up = time.monotonic() - started
        env = _env(
            tmp_path / "client-home",
            PREFECT_API_URL=api_url,
            ALFLOW_CONFIG=str(path),
            ALFLOW_PROJECT="served",
            # every 10 s (a sixth cron field is seconds): the next run is due within 10 s, not
            # within the minute; the worker polls every 2 s, not 10
            ALFLOW_ROUND_CRON="* * * * * */10",
            PREFECT_WORKER_QUERY_SECONDS="2",
            ALFLOW_REPO=str(ROOT),
        )
        prefect = [sys.executable, "-m", "prefect"]
        for cmd in (
            ["work-pool", "create", "alflow", "--type", "process"],
            ["--no-prompt", "deploy", "--all", "--prefect-file", str(ROOT / "prefect.yaml")],
        ):
            done = subprocess.run(
                [*prefect, *cmd], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, done.stdout + done.stderr
        log = (tmp_path / "worker.log").open("w+")
        proc = subprocess.Popen(
            [*prefect, "worker", "start", "--pool", "alflow", "--limit", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            start_new_session=True,
        )
        try:
            _wait(lambda: project.ledger.last_exported_round_id() == 1, 600, proc, "round 1")
            with SyncPrefectClient(api_url) as client:
                deployments = {d.id: d for d in client.read_deployments()}
                flow_run = client.read_flow_run(project.ledger.get_round(1).flow_run_id)
                deadline = time.monotonic() + 120
                while not flow_run.state.is_final() and time.monotonic() < deadline:
                    time.sleep(1)
                    flow_run = client.read_flow_run(flow_run.id)
        finally:
            _stop(proc)
    took = time.monotonic() - started
    print(f"\nprefect server up in {server_up:.0f} s; scheduled round 1 done after {took:.0f} s")
    dep = deployments[flow_run.deployment_id]
    assert dep.name == "served-rounds" and dep.work_pool_name == "alflow"
    assert "alflow-campaign:served" in dep.tags and dep.parameters["config"] == str(path)
    assert flow_run.state.is_completed() and flow_run.auto_scheduled
    assert {d.name for d in deployments.values()} == {"served-rounds", "served-labels"}
    assert len(project.ledger.selection(1)) == 20
