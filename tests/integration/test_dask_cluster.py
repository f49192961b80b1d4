"""A real cluster: ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, used by
address; a worker killed (SIGKILL) mid-scoring does not change the selection."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from distributed import Client
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from alflow.config import ComputeConfig
from alflow.data.pool import to_table, write_partition
from alflow.index.pool import ClusterAssigner
from alflow.project import Project
from alflow.scoring.compute import dask_client, score_pool
from alflow.scoring.score import CLUSTER, ScoreRequest
from flows.local_services import free_port
from tests.conftest import ROOT, make_config

pytestmark = pytest.mark.slow


def dask_cli() -> str:
    return shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"


@contextmanager
def cluster(n_workers: int = 2) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A scheduler and ``n_workers`` single-threaded workers (no nanny: a killed worker stays
    dead), each its own process; all stopped on exit."""
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    quiet = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [
        subprocess.Popen(
            [
                dask_cli(),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                address.rsplit(":", 1)[1],
                "--dashboard-address",
                f"127.0.0.1:{free_port()}",
            ],
            **quiet,
        )
    ]
    try:
        workers = [
            subprocess.Popen(
                [
                    dask_cli(),
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--memory-limit",
                    "2GiB",
                ],
                **quiet,
            )
            for _ in range(n_workers)
        ]
        procs += workers
        with Client(address, timeout=60) as client:
            client.wait_for_workers(n_workers, timeout=120)
        yield address, workers
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_a_round_runs_on_a_cluster_given_by_address(tmp_path, digits_csv):
    with cluster() as (address, _):
        config = make_config(tmp_path / "ws", compute={"scheduler_address": address})
        project = Project(config)
        project.ingest(str(digits_csv[0]))
        start = project.start_round()
        with dask_client(config.compute) as client:
            batch = project.select(start.round_id, client)
            # each worker's own log of the tasks it ran (a task stream, read back by start
            # time, once came back empty on a busy machine)
            scored = client.run(_scored_partitions)
        assert len(batch) == config.campaign.batch_size
        assert len(scored) == 2 and all(scored.values())  # both worker processes scored
        keys = [k for ks in scored.values() for k in ks]
        assert len(keys) == len(set(keys)) == len(project.ledger.partitions())


def _scored_partitions(dask_worker) -> list[str]:
    """The ``score_partition`` tasks this worker ran (its log of state transitions)."""
    return [
        str(e[0])
        for e in dask_worker.state.log
        if len(e) > 2 and e[1:3] == ("executing", "memory") and "score_partition" in str(e[0])
    ]


def write_pool(folder: Path, parts: int = 16, rows: int = 20_000, d: int = 32):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(50, d)).astype(np.float32)
    urls = []
    for p in range(parts):
        comp = rng.integers(50, size=rows)
        x = centers[comp] + rng.normal(scale=0.5, size=(rows, d)).astype(np.float32)
        url = str(folder / f"part-000001-{p:05d}.parquet")
        write_partition(
            to_table([f"p{p}-{i:05d}" for i in range(rows)], x, (comp % 4).astype(str)), url
        )
        urls.append((url, x, comp % 4))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    model.fit(urls[0][1][:5_000], urls[0][2][:5_000].astype(str))
    return [u for u, _, _ in urls], model


@pytest.mark.parametrize("clustered", [False, True], ids=["plain", "with-assigner"])
def test_a_worker_killed_mid_scoring_yields_the_same_selection(tmp_path, clustered):
    """Also on the default strategy's path: the cluster assigner (scattered to every worker)
    survives the loss of one, so only the lost partitions rerun."""
    urls, model = write_pool(tmp_path)
    centroids = np.random.default_rng(1).normal(size=(40, 32)).astype(np.float32)
    assigner = ClusterAssigner(centroids, None, None) if clustered else None
    req = ScoreRequest(
        excluded=[f"p3-{i:05d}" for i in range(100)],
        rank_by=("margin", "random"),
        top_m=300,
        seed=5,
        round_id=2,
        keep_features=True,
        sample_m=200,
        classes=["0", "1", "2", "3"],
    )
    with (
        cluster() as (address, workers),
        dask_client(ComputeConfig(scheduler_address=address)) as c,
    ):
        calm = score_pool(c, urls, model, req, assigner=assigner)
        done = []

        def kill_after_first():
            done.append(1)
            if len(done) == 1:
                workers[1].send_signal(signal.SIGKILL)

        hit = score_pool(c, urls, model, req, assigner, kill_after_first)
        assert workers[1].wait(timeout=30) == -signal.SIGKILL
        assert len(c.scheduler_info()["workers"]) == 1  # the pass finished on one worker
    assert len(done) == len(urls)
    assert hit.rows_scored == calm.rows_scored == 16 * 20_000 - 100
    assert hit.candidates["item_id"].tolist() == calm.candidates["item_id"].tolist()
    assert hit.sample["item_id"].tolist() == calm.sample["item_id"].tolist()
    if clustered:
        assert hit.candidates[CLUSTER].tolist() == calm.candidates[CLUSTER].tolist()
        assert hit.candidates[CLUSTER].nunique() > 1
    for name, counts in calm.histograms.items():
        np.testing.assert_array_equal(hit.histograms[name], counts)
