"""Cold start: the first batches, chosen before any model exists, from a uniform pool sample."""

from __future__ import annotations

import numpy as np

from alflow import strategy_params as P
from alflow.index import assign, kmeans, knn_distances, nearest_distances
from alflow.strategies.base import Candidates, register


@register(
    "cluster_stratified",
    rank_by="random",
    needs_model=False,
    needs=frozenset({"features"}),
    min_candidates=2_000,
)
def select_cluster_stratified(
    candidates: Candidates, batch_size: int, *, random_state=None
) -> np.ndarray:
    """FAISS k-means with B clusters; the item nearest each centroid (representative
    cluster-stratified sampling, e.g. Nguyen and Smeulders, ICML 2004)."""
    centroids, clusters = kmeans(candidates.features, batch_size, seed=random_state or 0)
    dist = ((candidates.features - centroids[clusters]) ** 2).sum(axis=1)
    order = np.lexsort((dist, clusters))
    first = np.flatnonzero(np.r_[True, clusters[order][1:] != clusters[order][:-1]])
    return order[first][:batch_size].astype(np.intp)


@register(
    "typiclust",
    rank_by="random",
    needs_model=False,
    needs=frozenset({"features", "labeled"}),
    min_candidates=2_000,
    params=P.Typiclust,
)
def select_typiclust(
    candidates: Candidates, batch_size: int, *, random_state=None, neighbours: int = 20
) -> np.ndarray:
    """TypiClust (Hacohen, Dekel and Weinshall, ICML 2022): k-means into |L| + B clusters; from
    the largest clusters holding no labeled item, the most typical point (typicality = 1 / mean
    distance to its nearest neighbours within the cluster)."""
    x = candidates.features
    labeled = candidates.labeled_features
    n_labeled = 0 if labeled is None else len(labeled)
    centroids, clusters = kmeans(x, n_labeled + batch_size, seed=random_state or 0)
    covered = set(assign(labeled, centroids).tolist()) if n_labeled else set()
    sizes = np.bincount(clusters, minlength=len(centroids))
    ranked = [int(c) for c in np.lexsort((np.arange(len(sizes)), -sizes)) if sizes[c]]
    picked: list[int] = []
    for c in [c for c in ranked if c not in covered] + [c for c in ranked if c in covered]:
        if len(picked) == batch_size:
            break
        members = np.flatnonzero(clusters == c)
        typical = 1.0 / (knn_distances(x[members], neighbours) + 1e-8)
        picked.append(int(members[np.argmax(typical)]))
    if len(picked) < batch_size:  # fewer clusters than B: farthest points from those picked
        far = np.argsort(-nearest_distances(x, x[picked]), kind="stable")
        picked.extend(int(i) for i in far if int(i) not in picked)
    return np.asarray(picked[:batch_size], dtype=np.intp)
