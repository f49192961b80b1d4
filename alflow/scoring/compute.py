"""The Dask owner: the cluster, and the scoring pass as one Dask graph.

A ``LocalCluster`` by default; any scheduler address (``tcp://…``) when configured. The model
(folded to float32 weights when it is linear) and the excluded-id set reach each worker once
(scattered); partitions are scored where they are read, histograms included; per-partition
candidates are merged by a tree reduction (``merge_fan_in`` at a time, each merge run before
the next partition is scored, so the cluster holds a few candidate sets, never the pool's),
so only ``top_m`` rows reach the driver. A worker lost mid-pass only costs its partitions a
rerun: every result is a pure function of its inputs.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import dask.config
import pyarrow as pa
from distributed import Client, LocalCluster, as_completed

from alflow.config import ComputeConfig
from alflow.scoring.linear_scorer import linear_scorer
from alflow.scoring.score import (
    PartitionScores,
    ScoreRequest,
    merge_all,
    score_partition,
    with_clusters,
)
from alflow.stages import stage, timed

LOCAL_SCHEDULER = "ALFLOW_LOCAL_SCHEDULER"


@contextmanager
def dask_client(cfg: ComputeConfig) -> Iterator[Client]:
    """A client to the configured scheduler, else to the workspace's local cluster (its
    address in ``ALFLOW_LOCAL_SCHEDULER``, see ``flows.workspace_services``), else to a fresh
    LocalCluster closed on exit."""
    logging.getLogger("distributed").setLevel(logging.WARNING)
    address = scheduler_address(cfg)
    if address:
        with Client(address) as client:
            yield client
        return
    with local_cluster(cfg) as address, Client(address) as client:
        yield client


@contextmanager
def local_cluster(cfg: ComputeConfig) -> Iterator[str]:
    """A LocalCluster of worker processes on 127.0.0.1, shaped by ``cfg``; yields its address."""
    # the workers read it as they import distributed: no INFO lines of theirs on the console
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    with LocalCluster(
        n_workers=cfg.n_workers,
        threads_per_worker=cfg.threads_per_worker,
        memory_limit=cfg.memory_limit,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # a free port: two clusters never collide on 8787
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster.scheduler_address


def reread_config() -> None:
    """Dask's config again from the environment (a warm command's environment is its caller's,
    set after Dask was imported)."""
    dask.config.refresh()


def scheduler_address(cfg: ComputeConfig) -> str | None:
    """The configured scheduler, else the workspace's local one, else None (a LocalCluster)."""
    return cfg.scheduler_address or os.environ.get(LOCAL_SCHEDULER) or None


FAN_IN = 8  # partitions merged per reduction task: fewer levels, one selection per task
MERGE_ROWS = 1_000_000  # candidate rows one reduction task holds at most (~0.6 GB at 128-d)


def merge_fan_in(top_m: int) -> int:
    """Candidate sets merged per reduction task: ``FAN_IN``, fewer when each holds so many
    rows (a batch of 100k keeps 500k candidates) that ``FAN_IN`` of them would not fit a
    worker; at least two."""
    return max(2, min(FAN_IN, MERGE_ROWS // max(top_m, 1)))


def _merge(*parts: PartitionScores, req: ScoreRequest) -> PartitionScores:
    return merge_all(parts, req)


@timed("scoring pass")
def score_pool(
    client: Client,
    partition_urls: Sequence[str],
    model,
    req: ScoreRequest,
    assigner=None,
    on_partition: Callable[[], None] | None = None,
) -> PartitionScores:
    """Score every partition on the cluster as ``req`` asks and return the merged top
    ``req.top_m`` candidates (with their pool-level cluster, assigned on a worker at the root
    of the merge tree, when given an ``assigner``), the uniform sample and the confident rows.
    ``on_partition`` is called as each partition finishes."""
    if not partition_urls:
        raise ValueError("the pool is empty: ingest a file first")
    if model is not None and req.classes is not None:
        model = linear_scorer(model, req.classes) or model
    excluded = pa.array(sorted(req.excluded), pa.string())
    req = replace(req, excluded=(), keep_features=req.keep_features or assigner is not None)
    [model_f, excluded_f, assigner_f, req_f] = client.scatter(
        [model, excluded, assigner, req], broadcast=True, hash=False
    )
    futures = client.map(
        score_partition,
        list(partition_urls),
        model=model_f,
        excluded=excluded_f,
        req=req_f,
        pure=False,
    )
    if on_partition is not None:
        for _ in as_completed(futures):
            on_partition()
    level, depth, fan_in = futures, 0, merge_fan_in(req.top_m)
    while len(level) > 1:
        depth += 1
        level = [
            client.submit(_merge, *level[i : i + fan_in], req=req_f, pure=False, priority=depth)
            if len(level[i : i + fan_in]) > 1
            else level[i]
            for i in range(0, len(level), fan_in)
        ]
    if assigner is not None:  # the final candidates only: M rows, not M per partition
        level = [client.submit(with_clusters, level[0], assigner_f, pure=False, priority=depth + 1)]
    return level[0].result().with_feature_columns()


def on_worker(client: Client, fn: Callable, /, *args, **kwargs):
    """``fn(*args, **kwargs)`` as one task on a worker, its result back to the driver: pool-sized
    state (the pool index) lives on a worker, not in the driver; a lost worker reruns it."""
    return client.submit(fn, *args, pure=False, **kwargs).result()


def host_threads(client: Client) -> int:
    """The threads the cluster's workers on one machine have together (the smallest
    machine's): what one task may use while the rest of the cluster is idle (the pool index
    search after the scoring pass), where each worker's own libraries run on one thread."""
    per_host: dict[str, int] = {}
    for w in client.scheduler_info(n_workers=-1)["workers"].values():
        per_host[w["host"]] = per_host.get(w["host"], 0) + w["nthreads"]
    return min(per_host.values(), default=1)


_SHARED: dict[tuple, tuple[Client, object]] = {}


def shared_client(cfg: ComputeConfig) -> Client:
    """One client per process and compute config, reused across rounds, closed at exit."""
    key = (scheduler_address(cfg), cfg.n_workers, cfg.threads_per_worker, cfg.memory_limit)
    entry = _SHARED.get(key)
    if entry is not None and entry[0].status == "running":
        return entry[0]
    ctx = dask_client(cfg)
    with stage("cluster start"):
        client = ctx.__enter__()
    _SHARED[key] = (client, ctx)
    return client


@atexit.register
def close_shared_clients() -> None:
    while _SHARED:
        _, (_, ctx) = _SHARED.popitem()
        with stage("cluster stop"):
            ctx.__exit__(None, None, None)
