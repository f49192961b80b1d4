"""Scoring on a real LocalCluster gives exactly what one process scoring every partition gives."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

from alflow.data.pool import to_table, write_partition
from alflow.scoring import compute
from alflow.scoring.compute import host_threads, score_pool
from alflow.scoring.score import ScoreRequest, keep_top, score_partition


def write_pool(tmp_path, n_parts=5, rows=300):
    rng = np.random.default_rng(1)
    urls, xs, ys = [], [], []
    for p in range(n_parts):
        x = rng.normal(size=(rows, 8)).astype(np.float32)
        y = np.where(x[:, 0] - x[:, 2] > 0.3, "a", np.where(x[:, 1] > 0, "b", "c"))
        ids = [f"p{p}-{i:04d}" for i in range(rows)]
        url = str(tmp_path / f"part-000001-{p:05d}.parquet")
        write_partition(to_table(ids, x, y), url)
        urls.append(url)
        xs.append(x)
        ys.append(y)
    model = LogisticRegression(max_iter=500).fit(np.vstack(xs)[:200], np.concatenate(ys)[:200])
    return urls, model


@pytest.mark.parametrize("merge_rows", [compute.MERGE_ROWS, 40 * 2])  # fan-in 8, then 2
def test_cluster_scoring_matches_single_process(tmp_path, dask_client, monkeypatch, merge_rows):
    monkeypatch.setattr(compute, "MERGE_ROWS", merge_rows)
    urls, model = write_pool(tmp_path)
    excluded = ["p0-0001", "p3-0100", "p4-0299"]
    ticks = []
    req = ScoreRequest(rank_by="margin", top_m=40, seed=7, round_id=3, excluded=excluded)
    got = score_pool(dask_client, urls, model, req, on_partition=lambda: ticks.append(1))
    assert len(ticks) == len(urls)
    arr = pa.array(sorted(excluded), pa.string())
    parts = [score_partition(u, model, arr, replace(req, top_m=10_000, excluded=())) for u in urls]
    reference = keep_top(pd.concat([p.candidates for p in parts]), 40, "margin")
    assert got.candidates["item_id"].tolist() == reference["item_id"].tolist()
    assert got.rows_scored == 5 * 300 - 3
    assert not set(excluded) & set(got.candidates["item_id"])
    for name, hist in got.histograms.items():
        np.testing.assert_array_equal(hist, sum(p.histograms[name] for p in parts))


def test_random_selection_does_not_depend_on_cluster(tmp_path, dask_client):
    urls, _ = write_pool(tmp_path, n_parts=3)
    req = ScoreRequest(rank_by="random", top_m=25, seed=1, round_id=1)
    a = score_pool(dask_client, urls, None, req).candidates["item_id"].tolist()
    b = score_pool(dask_client, list(reversed(urls)), None, req).candidates["item_id"].tolist()
    assert a == b and len(a) == 25


def test_a_scheduler_address_uses_that_cluster(tmp_path, dask_client):
    from alflow.config import ComputeConfig
    from alflow.scoring.compute import dask_client as open_client

    urls, model = write_pool(tmp_path, n_parts=2, rows=50)
    address = dask_client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    with open_client(ComputeConfig(scheduler_address=address)) as client:
        assert client.scheduler.address == address
        req = ScoreRequest(rank_by="entropy", top_m=5, seed=0, round_id=1)
        res = score_pool(client, urls, model, req)
    assert res.rows_scored == 100 and len(res.candidates) == 5


def test_one_task_after_the_pass_may_use_the_threads_of_its_machine(dask_client):
    workers = dask_client.scheduler_info(n_workers=-1)["workers"].values()
    assert len(workers) == 2 and {w["nthreads"] for w in workers} == {1}
    assert host_threads(dask_client) == 2  # two one-thread workers on this machine


def test_large_candidate_sets_are_merged_two_at_a_time():
    assert compute.merge_fan_in(1_000) == compute.FAN_IN
    assert compute.merge_fan_in(500_000) == 2  # a batch of 100k: 5 x 100k candidates
    assert compute.merge_fan_in(compute.MERGE_ROWS // 4) == 4
