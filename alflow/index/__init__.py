"""The FAISS owner (this package): nearest neighbours, k-means and k-center distances, never
an N x N matrix; ``alflow.index.pool`` is the index over the whole pool.

Index choice by size (in the spirit of autofaiss): exact ``IndexFlat`` up to ``EXACT_MAX`` base
vectors, an IVF index trained on a sample above that. All inputs are float32 row-major copies.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

EXACT_MAX = 100_000
IVF_NPROBE = 16


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _normalized(x: np.ndarray) -> np.ndarray:
    x = _f32(x).copy()
    faiss.normalize_L2(x)
    return x


def build_index(base: np.ndarray, *, metric: str = "l2", seed: int = 0) -> faiss.Index:
    """An index over ``base`` (cosine = inner product on normalised vectors): exact when small."""
    base = _f32(base)
    n, d = base.shape
    kind = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
    if n <= EXACT_MAX:
        index = faiss.IndexFlatIP(d) if metric == "ip" else faiss.IndexFlatL2(d)
    else:
        nlist = int(4 * math.sqrt(n))
        quantizer = faiss.IndexFlatIP(d) if metric == "ip" else faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, kind)
        rng = np.random.default_rng(seed)
        train = base[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
        index.train(train)
        index.nprobe = IVF_NPROBE
    index.add(base)
    return index


def knn_similarity(queries: np.ndarray, base: np.ndarray, k: int = 10) -> np.ndarray:
    """Mean cosine similarity of each query to its ``k`` nearest base vectors (density)."""
    k = min(k, len(base))
    index = build_index(_normalized(base), metric="ip")
    sims, _ = index.search(_normalized(queries), k)
    return sims.mean(axis=1)


def nearest_distances(queries: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Squared L2 distance of each query to its nearest base vector (inf when base is empty)."""
    if len(base) == 0:
        return np.full(len(queries), np.inf, dtype=np.float32)
    dist, _ = build_index(base).search(_f32(queries), 1)
    return dist[:, 0]


def assign(queries: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid for each query."""
    _, idx = build_index(centroids).search(_f32(queries), 1)
    return idx[:, 0]


def knn_distances(x: np.ndarray, k: int) -> np.ndarray:
    """Mean L2 distance of each row of ``x`` to its ``k`` nearest other rows."""
    k = min(k, len(x) - 1)
    if k <= 0:
        return np.zeros(len(x), dtype=np.float32)
    dist, _ = build_index(x).search(_f32(x), k + 1)
    return np.sqrt(np.maximum(dist[:, 1:], 0.0)).mean(axis=1)


INIT_SAMPLE = 20_000


def kmeans(
    x: np.ndarray, k: int, *, seed: int = 0, niter: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """FAISS k-means on every point (no silent subsampling); returns (centroids, assignment).

    Seeded with a farthest-first traversal of a sample (Gonzalez 1985): random seeds merge
    well-separated clusters more often than not once k exceeds a handful.
    """
    x = _f32(x)
    k = max(1, min(k, len(x)))
    sample = np.random.default_rng(seed).permutation(len(x))[:INIT_SAMPLE]
    init = x[sample[k_center_greedy(x[sample], k)]]
    km = faiss.Kmeans(
        x.shape[1],
        k,
        niter=niter,
        seed=seed,
        verbose=False,
        max_points_per_centroid=max(256, math.ceil(len(x) / k) + 1),
        min_points_per_centroid=1,
    )
    km.train(x, init_centroids=init)
    _, assign = km.index.search(x, 1)
    return km.centroids, assign[:, 0]


def k_center_greedy(
    x: np.ndarray, k: int, labeled: np.ndarray | None = None, *, first: int = 0
) -> np.ndarray:
    """Core-set selection (Sener and Savarese 2018): repeatedly take the point farthest from
    everything chosen or labeled. Keeps one distance per point: O(k * n * d) time, O(n) memory.
    """
    x = _f32(x)
    n = len(x)
    k = min(k, n)
    norms = (x * x).sum(axis=1)
    if labeled is not None and len(labeled):
        mind = nearest_distances(x, labeled)
    else:
        mind = np.full(n, np.inf, dtype=np.float32)
    chosen = np.empty(k, dtype=np.intp)
    for i in range(k):
        j = first if (i == 0 and np.isinf(mind).all()) else int(np.argmax(mind))
        chosen[i] = j
        d = norms - 2.0 * (x @ x[j]) + norms[j]
        np.minimum(mind, np.maximum(d, 0.0), out=mind)
        mind[chosen[: i + 1]] = -1.0
    return chosen
