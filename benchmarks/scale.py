"""Scale benchmark: one round's scoring, candidate reduction, density and diversification.

    python benchmarks/scale.py --rows 1000000 --dim 128
    python benchmarks/scale.py --rows 10000000 --dim 128   # about 5 GB of Parquet

Writes a clustered synthetic pool (a Gaussian mixture) in the workspace format
(``alflow.data.pool``), then measures, in one run:
  * alflow's scoring pass (``compute.score_pool``: Dask workers stream the partitions, the model and
    the excluded ids are scattered once, candidates merge by a tree reduction), warm workers;
  * the pool index's one-time build (``index.PoolIndex``) on a worker, as rounds build it (the
    driver never holds it), and its reuse (load) on the next round;
  * the scoring pass again with FAISS cluster assignment of the candidates to the index's
    centroids (``index.ClusterAssigner``), then ``kmeans_round_robin`` over those
    clusters for a batch;
  * density of the candidates from the pool index (on a worker), and ``density_coreset`` for a
    batch;
  * recall@10 of the pool index against exact search (streamed over every partition);
  * the single-process streaming loop (pyarrow reads each file, the model's ``predict_proba`` +
    entropy + top-M in numpy) and the in-memory bound (``predict_proba`` + entropy on data
    already in memory, ``--bound-rows`` rows), interleaved with the scoring pass ``--reps``
    times (the best of each counts), so the ratios see the same machine load.
Prints a table, writes JSON to benchmarks/results/scale-<rows>.json, and deletes the pool unless
``--keep``. Peak RSS is read from each process's ``ru_maxrss`` after each stage.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from report import emit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from alflow.config import ComputeConfig
from alflow.data.pool import features_of, pool_hash, read_partition, to_table, write_partition
from alflow.index.pool import (
    PoolIndex,
    cached_pool_index,
    exact_knn,
    index_spec,
    open_pool_index,
    pool_assigner,
    pool_density,
    recall_at_k,
)
from alflow.scoring.compute import dask_client, on_worker, score_pool
from alflow.scoring.score import CLUSTER, FEATURES, PARTITION, ROW, ScoreRequest, stack
from alflow.selection.candidates import CandidateSources, build_candidates
from alflow.strategies import candidate_count, get_strategy
from alflow.strategies.uncertainty import entropy


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def write_pool(folder: Path, rows: int, dim: int, part_rows: int, classes: int, components: int):
    """A Gaussian mixture: ``components`` centres ~ N(0, I), each row centre + N(0, 0.5^2 I);
    the truth is the component modulo ``classes`` (so a class is a union of clusters)."""
    centers = np.random.default_rng(0).normal(size=(components, dim)).astype(np.float32)
    parts = []
    for p, start in enumerate(range(0, rows, part_rows)):
        rng = np.random.default_rng([1, p])
        n = min(part_rows, rows - start)
        comp = rng.integers(components, size=n)
        x = centers[comp] + rng.normal(scale=0.5, size=(n, dim)).astype(np.float32)
        name = f"part-000001-{p:05d}.parquet"
        ids = [f"r{start + i:09d}" for i in range(n)]
        sha = write_partition(to_table(ids, x, (comp % classes).astype(str)), str(folder / name))
        parts.append((name, sha))
    return parts


def streaming_loop(urls: list[str], model, top_m: int) -> float:
    """Seconds for one process to read each file with pyarrow and score it with numpy."""
    t = time.perf_counter()
    for url in urls:
        table = pq.read_table(url, columns=["item_id", "x"])
        u = entropy(model.predict_proba(features_of(table, "numeric")))
        top = np.argpartition(-u, top_m - 1)[:top_m]
        table.column("item_id").take(pa.array(top))
    return time.perf_counter() - t


def timed_load(folder: str, h: str) -> float:
    """Seconds to load the stored index (a round on a worker that has not opened it yet)."""
    t = time.perf_counter()
    cached_pool_index(folder, h, None)
    return time.perf_counter() - t


def recall_where_the_index_is(folder: str, h: str, build, q: np.ndarray, chunks) -> float:
    """Recall@10 of the open index against exact search streamed over every partition."""
    index = open_pool_index(folder, h, build)
    _, found = index.search(q, 10)
    return recall_at_k(found, exact_knn(q, chunks, 10, index.prepare))


def chunks_of(urls: list[str]):
    def chunks():
        for url in urls:
            yield url.rsplit("/", 1)[-1], features_of(read_partition(url, ["x"]), "numeric")

    return chunks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--partition-rows", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--components", type=int, default=1_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--labeled", type=int, default=1_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bound-rows", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=2, help="interleaved timings; the best counts")
    ap.add_argument("--recall-queries", type=int, default=200)
    ap.add_argument("--workspace", default="benchmarks/data")
    ap.add_argument("--keep", action="store_true", help="keep the pool and its index")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = args.out or f"benchmarks/results/scale-{args.rows}.json"
    root = Path(args.workspace) / f"scale-{args.rows}"
    pool_dir = root / "pool"
    shutil.rmtree(root, ignore_errors=True)
    pool_dir.mkdir(parents=True, exist_ok=True)
    r: dict = {"rows": args.rows, "dim": args.dim, "load_avg_1m_at_start": os.getloadavg()[0]}

    t = time.perf_counter()
    parts = write_pool(
        pool_dir, args.rows, args.dim, args.partition_rows, args.classes, args.components
    )
    urls = [str(pool_dir / name) for name, _ in parts]
    r["partitions"] = len(urls)
    r["pool_parquet_gb"] = round(sum(os.path.getsize(u) for u in urls) / 2**30, 2)
    r["write_pool_s"] = round(time.perf_counter() - t, 1)

    first = read_partition(urls[0])
    x0 = features_of(first, "numeric")
    y0 = first.column("truth").to_numpy(zero_copy_only=False)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    model.fit(x0[args.labeled : args.labeled + 20_000], y0[args.labeled : args.labeled + 20_000])
    classes = [str(c) for c in model.classes_]
    labeled_ids = first.column("item_id").to_pylist()[: args.labeled]
    spec = get_strategy("density_coreset")
    top_m = candidate_count(spec, args.batch, 5)

    # --- alflow's scoring pass (warm workers: the first pass also pays imports)
    cfg = ComputeConfig(
        n_workers=args.workers, threads_per_worker=args.threads, memory_limit="6GiB"
    )
    req = ScoreRequest(
        rank_by=spec.ranks,
        top_m=top_m,
        seed=0,
        round_id=1,
        classes=classes,
        keep_features=True,
        excluded=labeled_ids,
    )
    n_mem = min(args.rows, args.bound_rows)
    x_mem = np.vstack(
        [
            features_of(read_partition(u, ["x"]), "numeric")
            for u in urls[: -(-n_mem // args.partition_rows)]
        ]
    )[:n_mem]
    times: dict[str, list[float]] = {"alflow": [], "loop": [], "bound": []}
    with dask_client(cfg) as client:
        score_pool(client, urls[: 2 * args.workers], model, req)  # warm: imports, scatter
        for rep in range(args.reps):  # interleaved, so each ratio sees the same machine load
            t = time.perf_counter()
            scores = score_pool(client, urls, model, req)
            times["alflow"].append(time.perf_counter() - t)
            if rep == 0:
                r["driver_peak_rss_gb_after_scoring"] = round(rss_gb(), 2)
                for i, gb in enumerate(worker_rss(client)):
                    r[f"worker{i}_peak_rss_gb"] = gb
            times["loop"].append(streaming_loop(urls, model, top_m))
            t = time.perf_counter()
            entropy(model.predict_proba(x_mem))
            times["bound"].append(time.perf_counter() - t)
        del x_mem
        assert scores.rows_scored == args.rows - args.labeled and len(scores.candidates) == top_m
        ratios(r, args, times, n_mem)
        index_and_selection(r, args, client, root, parts, urls, scores, req, model, spec, x0, y0)
    r["workers_x_threads"] = f"{args.workers}x{args.threads}"
    r["load_avg_1m_at_end"] = os.getloadavg()[0]
    if not args.keep:
        shutil.rmtree(root)
    emit(r, out)


def worker_rss(client) -> list[float]:
    return [round(gb, 2) for _, gb in sorted(client.run(rss_gb).items())]


def ratios(r: dict, args, times: dict[str, list[float]], n_mem: int) -> None:
    alflow_rate = args.rows / min(times["alflow"])
    loop_rate = args.rows / min(times["loop"])
    bound_rate = n_mem / min(times["bound"])
    r["scoring_s"] = round(min(times["alflow"]), 2)
    r["alflow_rows_per_s"] = round(alflow_rate)
    r["streaming_loop_rows_per_s"] = round(loop_rate)
    r["in_memory_bound_rows_per_s"] = round(bound_rate)
    r["ratio_vs_streaming_loop"] = round(alflow_rate / loop_rate, 2)
    r["ratio_vs_in_memory_bound"] = round(alflow_rate / bound_rate, 2)
    r["ratio_reps"] = [
        round((args.rows / a) / (args.rows / lo), 2)
        for a, lo in zip(times["alflow"], times["loop"], strict=True)
    ]
    r["ratio_median_of_reps"] = round(float(np.median(r["ratio_reps"])), 2)


def index_and_selection(r, args, client, root, parts, urls, scores, req, model, spec, x0, y0):
    """The pool index built and used on a worker, as a round does; the driver only sees
    candidates, densities and cluster ids."""
    chunks = chunks_of(urls)
    h = pool_hash(parts)
    folder = str(root / "index")
    build = partial(PoolIndex.build, chunks, args.rows, args.dim, standardize=False)
    r["index_spec"] = index_spec(args.rows, args.dim)
    t = time.perf_counter()
    assigner = on_worker(client, pool_assigner, folder, h, build)
    r["index_build_s_one_time"] = round(time.perf_counter() - t, 1)
    r["index_load_s_per_round"] = round(on_worker(client, timed_load, folder, h), 2)
    r["centroids"] = len(assigner.centroids)

    by_clusters = get_strategy("kmeans_round_robin")  # clusters from the pass
    top_m = candidate_count(by_clusters, args.batch, 5)
    passes = []
    for _ in range(args.reps):  # best of --reps, like the plain pass
        t = time.perf_counter()
        clustered = score_pool(client, urls, model, replace(req, top_m=top_m), assigner)
        passes.append(time.perf_counter() - t)
    r["scoring_with_cluster_assignment_s"] = round(min(passes), 2)
    r["scoring_with_cluster_assignment_reps_s"] = [round(p, 2) for p in passes]
    r["clustered_candidates"] = len(clustered.candidates)
    r["candidate_clusters"] = int(clustered.candidates[CLUSTER].nunique())
    t = time.perf_counter()
    frame = clustered.candidates
    raw = stack(frame[FEATURES].tolist())
    cand = build_candidates(frame, raw, by_clusters, CandidateSources(model=model))
    picked = by_clusters.choose(cand, args.batch, random_state=0)
    r["kmeans_round_robin_selection_s"] = round(time.perf_counter() - t, 3)
    assert len(np.unique(picked)) == args.batch

    frame = scores.candidates
    raw = stack(frame[FEATURES].tolist())
    where = frame[PARTITION].to_numpy(), frame[ROW].to_numpy()
    timing = {}

    def density(x):
        t = time.perf_counter()
        d = on_worker(client, pool_density, folder, h, build, x, *where)
        timing["density"] = time.perf_counter() - t
        return d

    t = time.perf_counter()
    cand = build_candidates(
        frame,
        raw,
        spec,
        CandidateSources(
            model=model,
            labeled_raw_x=x0[: args.labeled],
            labeled_labels=y0[: args.labeled],
            pool_density=density,
        ),
    )
    picked = spec.choose(cand, args.batch, random_state=0)
    total = time.perf_counter() - t
    assert len(np.unique(picked)) == args.batch
    r["candidates"] = len(frame)
    r["density_s"] = round(timing["density"], 2)
    r["diversification_s"] = round(total - timing["density"], 2)
    r["density_plus_diversification_s"] = round(total, 2)

    t = time.perf_counter()
    q = raw[: args.recall_queries]
    r["recall_at_10"] = round(
        on_worker(client, recall_where_the_index_is, folder, h, build, q, chunks), 3
    )
    r["exact_knn_s_for_recall"] = round(time.perf_counter() - t, 1)
    r["driver_peak_rss_gb_at_end"] = round(rss_gb(), 2)
    for i, gb in enumerate(worker_rss(client)):
        r[f"worker{i}_peak_rss_gb_at_end"] = gb


if __name__ == "__main__":
    main()
