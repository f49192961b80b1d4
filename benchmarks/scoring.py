"""Scoring-pass benchmark: Dask over a Parquet pool vs the in-memory bound and a streaming loop.

    python benchmarks/scoring.py --rows 1000000 --dim 128

Writes a clustered synthetic pool (a Gaussian mixture, like real embeddings), fits a
LogisticRegression on a sample, then measures rows/s of:
  * in-memory bound: predict_proba + margin on data already in memory (no I/O);
  * streaming loop: one process, pyarrow reads each partition, numpy scores it, keeps top-M;
  * alflow: ``compute.score_pool`` on a LocalCluster (the real scoring pass).
Prints a table and writes JSON to benchmarks/results/scoring.json. Ratios within one run are what
to compare on a noisy machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np
import pyarrow as pa
from report import emit
from sklearn.linear_model import LogisticRegression

from alflow.compute import dask_client, score_pool
from alflow.config import ComputeConfig
from alflow.pool import features_of, read_partition, to_table, write_partition
from alflow.scoring import score_partition
from alflow.strategies.uncertainty import margin


def write_pool(folder: Path, rows: int, dim: int, part_rows: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(classes * 4, dim)).astype(np.float32)
    urls = []
    for p, start in enumerate(range(0, rows, part_rows)):
        n = min(part_rows, rows - start)
        comp = rng.integers(len(centers), size=n)
        x = centers[comp] + rng.normal(size=(n, dim)).astype(np.float32)
        ids = [f"r{start + i}" for i in range(n)]
        url = str(folder / f"part-000001-{p:05d}.parquet")
        write_partition(to_table(ids, x, (comp % classes).astype(str)), url)
        urls.append(url)
    return urls, centers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--partition-rows", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--top-m", type=int, default=5_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/scoring.json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        urls, _ = write_pool(Path(tmp), args.rows, args.dim, args.partition_rows, args.classes, 0)
        write_s = time.perf_counter() - t
        sample = read_partition(urls[0])
        model = LogisticRegression(max_iter=300).fit(
            features_of(sample, "numeric")[:20_000], sample.column("truth").to_numpy()[:20_000]
        )

        fit_rows = min(args.rows, 1_000_000)
        x_mem = np.vstack([features_of(read_partition(u, ["x"]), "numeric") for u in urls])[
            :fit_rows
        ]
        t = time.perf_counter()
        margin(model.predict_proba(x_mem))
        bound = fit_rows / (time.perf_counter() - t)
        del x_mem

        none = pa.array([], pa.string())
        t = time.perf_counter()
        for u in urls:
            score_partition(
                u,
                model,
                feature_kind="numeric",
                excluded=none,
                rank_by="margin",
                top_m=args.top_m,
                seed=0,
                round_id=1,
            )
        loop = args.rows / (time.perf_counter() - t)

        cfg = ComputeConfig(n_workers=args.workers, threads_per_worker=1, memory_limit="8GiB")
        t = time.perf_counter()
        with dask_client(cfg) as client:
            start_s = time.perf_counter() - t
            t = time.perf_counter()
            res = score_pool(
                client,
                urls,
                model,
                feature_kind="numeric",
                excluded_ids=[],
                rank_by="margin",
                top_m=args.top_m,
                seed=0,
                round_id=1,
            )
            dask_s = time.perf_counter() - t
        assert res.rows_scored == args.rows and len(res.candidates) == args.top_m
        dask_rate = args.rows / dask_s
        driver_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    result = {
        "rows": args.rows,
        "dim": args.dim,
        "partitions": len(urls),
        "workers": args.workers,
        "write_pool_s": round(write_s, 2),
        "cluster_start_s": round(start_s, 2),
        "in_memory_bound_rows_per_s": round(bound),
        "streaming_loop_rows_per_s": round(loop),
        "alflow_dask_rows_per_s": round(dask_rate),
        "alflow_dask_s": round(dask_s, 2),
        "ratio_vs_streaming_loop": round(dask_rate / loop, 2),
        "ratio_vs_in_memory_bound": round(dask_rate / bound, 2),
        "driver_peak_rss_gb_incl_in_memory_bound": round(driver_rss_gb, 2),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
