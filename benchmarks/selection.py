"""Selection benchmark: B items from M candidates with density weighting and core-set.

    python benchmarks/selection.py --candidates 100000 --batch 1000 --dim 128

Builds the inputs a round builds (features of M candidates, a uniform pool sample for density,
a labeled set), then times each step of ``density_coreset`` and of the other diversity strategies
on clustered data. Prints a table and writes JSON to benchmarks/results/selection.json, with the
process's peak RSS (an M x M float32 matrix at M = 100,000 would need 40 GB).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from report import emit

from alflow.index import knn_similarity
from alflow.strategies import REGISTRY, UTILITIES, Candidates


def clustered(n: int, d: int, k: int, rng: np.random.Generator) -> np.ndarray:
    centers = rng.normal(scale=4.0, size=(k, d)).astype(np.float32)
    return centers[rng.integers(k, size=n)] + rng.normal(size=(n, d)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candidates", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--pool-sample", type=int, default=5_000)
    ap.add_argument("--labeled", type=int, default=2_000)
    ap.add_argument(
        "--strategies",
        default="density_coreset,margin_coreset,kmeans_round_robin,"
        "cluster_margin,information_density,coreset",
    )
    ap.add_argument("--out", default="benchmarks/results/selection.json")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    m, d = args.candidates, args.dim
    features = clustered(m, d, 50, rng)
    proba = rng.dirichlet(np.ones(10) * 0.5, size=m)
    base = clustered(args.pool_sample, d, 50, rng)
    t = time.perf_counter()
    density = knn_similarity(features, base, 10)
    density_s = time.perf_counter() - t
    cand = Candidates(
        item_ids=np.array([f"c{i:07d}" for i in range(m)], dtype=object),
        utilities={**{u: f(proba) for u, f in UTILITIES.items()}, "random": rng.random(m)},
        proba=proba,
        classes=[str(c) for c in range(10)],
        features=features,
        labeled_features=clustered(args.labeled, d, 50, rng),
        labeled_labels=rng.integers(10, size=args.labeled).astype(str),
        density=density,
    )
    rows = {"density_knn_s": round(density_s, 2)}
    for name in args.strategies.split(","):
        t = time.perf_counter()
        picked = REGISTRY[name].select(cand, args.batch, random_state=0)
        rows[f"{name}_s"] = round(time.perf_counter() - t, 2)
        assert len(np.unique(picked)) == args.batch
    rows["density_coreset_total_s"] = round(rows["density_knn_s"] + rows["density_coreset_s"], 2)
    rows["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    result = {"candidates": m, "batch": args.batch, "dim": d, **rows}
    emit(result, args.out)


if __name__ == "__main__":
    main()
