"""Batch diversification: informative *and* different, so a batch is not B near-duplicates.

Every method works on the candidate set (a few times B items, already the most informative of
the pool) through FAISS k-means or a k-center greedy with one distance per point: memory grows
with the candidates, never with their square.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alflow import strategy_params as P
from alflow.index import k_center_greedy, kmeans
from alflow.strategies.base import Candidates, register, top_k
from alflow.strategies.density import information_density


def round_robin(clusters: np.ndarray, order: np.ndarray, k: int, cluster_order=None) -> np.ndarray:
    """Walk clusters in turn, each time taking that cluster's next item in ``order``."""
    queues: dict[int, list[int]] = {}
    for i in order:
        queues.setdefault(int(clusters[i]), []).append(int(i))
    keys = list(cluster_order) if cluster_order is not None else sorted(queues)
    keys = [c for c in keys if c in queues]
    picked: list[int] = []
    while len(picked) < k and keys:
        for c in list(keys):
            if len(picked) == k:
                break
            picked.append(queues[c].pop(0))
            if not queues[c]:
                keys.remove(c)
    return np.asarray(picked, dtype=np.intp)


def top_then_k_center(
    candidates: Candidates, scores: np.ndarray, batch_size: int, top_factor: int
) -> np.ndarray:
    """The top ``top_factor`` x B by ``scores``, then k-center greedy down to B away from the
    labeled set, starting from the best-scored item (informative first, then diverse)."""
    top = top_k(scores, top_factor * batch_size, candidates.item_ids)
    chosen = k_center_greedy(
        candidates.features[top],
        batch_size,
        candidates.labeled_features,
        first=int(np.argmax(scores[top])),
    )
    return top[chosen]


CLUSTERED = frozenset({"features", "clusters"})


def clusters_of(candidates: Candidates, top: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster ids of the candidates ``top``: their pool-level clusters when the scoring pass
    assigned them, else FAISS k-means of their features into ``k`` clusters."""
    if candidates.clusters is not None:
        return np.unique(candidates.clusters[top], return_inverse=True)[1]
    return kmeans(candidates.features[top], k, seed=seed)[1]


@register(
    "kmeans_round_robin",
    rank_by="margin",
    needs=CLUSTERED,
    candidate_factor=10,
    params=P.KmeansRoundRobin,
)
def select_kmeans_round_robin(
    candidates: Candidates,
    batch_size: int,
    *,
    random_state=None,
    utility: str = "margin",
    top_factor: int = 10,
) -> np.ndarray:
    """The top ``top_factor`` x B by ``utility``, FAISS k-means into B clusters (or the pool
    index's clusters), then the most informative item of each cluster in turn, clusters with
    the best items first (cluster-based batch diversification as in Zhdanov 2019, "Diverse
    mini-batch active learning")."""
    top = top_k(candidates.utilities[utility], top_factor * batch_size, candidates.item_ids)
    clusters = clusters_of(candidates, top, batch_size, random_state or 0)
    best_first = pd.unique(clusters)  # ``top`` is ordered best first
    return top[round_robin(clusters, np.arange(len(top)), batch_size, best_first)]


@register(
    "coreset",
    rank_by="random",
    needs_model=False,
    needs=frozenset({"features", "labeled"}),
    min_candidates=2_000,
)
def select_coreset(candidates: Candidates, batch_size: int, *, random_state=None) -> np.ndarray:
    """k-center greedy over a uniform pool sample, away from the labeled set (Sener and Savarese,
    "Active learning for convolutional neural networks: a core-set approach", ICLR 2018)."""
    return k_center_greedy(candidates.features, batch_size, candidates.labeled_features)


@register(
    "margin_coreset",
    rank_by="margin",
    needs=frozenset({"features", "labeled"}),
    params=P.MarginCoreset,
)
def select_margin_coreset(
    candidates: Candidates,
    batch_size: int,
    *,
    random_state=None,
    utility: str = "margin",
    top_factor: int = 3,
) -> np.ndarray:
    """Hybrid: the top ``top_factor`` x B by ``utility``, then k-center greedy down to B
    (uncertainty pre-filter + core-set, as in Ash et al. 2020's discussion of hybrids)."""
    return top_then_k_center(candidates, candidates.utilities[utility], batch_size, top_factor)


@register(
    "cluster_margin",
    rank_by="margin",
    needs=CLUSTERED,
    candidate_factor=10,
    params=P.ClusterMargin,
)
def select_cluster_margin(
    candidates: Candidates,
    batch_size: int,
    *,
    random_state=None,
    top_factor: int = 10,
    n_clusters: int | None = None,
) -> np.ndarray:
    """Cluster-Margin (Citovsky et al., "Batch active learning at scale", NeurIPS 2021).

    The ``top_factor`` x B lowest-margin candidates (the paper's k_m) are clustered; clusters
    are visited smallest first, taking a random member of each in turn. The paper clusters the
    pool once with HAC (average linkage); here the pool index's clusters (assigned in the
    scoring pass) play that part when the pool index exists, else FAISS k-means (B clusters by
    default) clusters those candidates each round, which keeps time and memory linear.
    """
    rng = np.random.default_rng(random_state)
    top = top_k(candidates.utilities["margin"], top_factor * batch_size, candidates.item_ids)
    clusters = clusters_of(candidates, top, n_clusters or batch_size, random_state or 0)
    k = int(clusters.max()) + 1
    sizes = np.bincount(clusters, minlength=k)
    smallest_first = [int(c) for c in np.lexsort((np.arange(k), sizes)) if sizes[c]]
    return top[round_robin(clusters, rng.permutation(len(top)), batch_size, smallest_first)]


def exploration_count(batch_size: int, explore: float, at_least: int) -> int:
    """round(explore x B) uniform draws, raised to ``at_least`` but never past a fifth of the
    batch by that floor (4 of 20 at the defaults, 10 of 100); none when ``explore`` is 0."""
    if explore == 0:
        return 0
    return max(round(explore * batch_size), min(at_least, batch_size // 5))


@register("margin_explore", rank_by="margin", also_rank_by=("random",), params=P.MarginExplore)
def select_margin_explore(
    candidates: Candidates,
    batch_size: int,
    *,
    random_state=None,
    utility: str = "margin",
    explore: float = 0.1,
    explore_at_least: int = 4,
) -> np.ndarray:
    """(1 - explore) x B by ``utility``, the rest a uniform sample of the pool: the candidates
    also hold the pool's top items by seeded random score, so the highest random scores among
    the rest are a uniform draw (an exploration slice, 90/10 by default; Osugi, Kim and Scott,
    ICDM 2005). A small batch still draws ``explore_at_least`` items uniformly
    (``exploration_count``)."""
    n_explore = exploration_count(batch_size, explore, explore_at_least)
    exploit = top_k(candidates.utilities[utility], batch_size - n_explore, candidates.item_ids)
    rest = np.setdiff1d(np.arange(len(candidates)), exploit)
    order = top_k(candidates.utilities["random"][rest], n_explore, candidates.item_ids[rest])
    return np.concatenate([exploit, rest[order]]).astype(np.intp)


def gumbel_top_k(log_weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A sample of k indices without replacement, P proportional to exp(log_weights)."""
    keys = log_weights + rng.gumbel(size=len(log_weights))
    return np.argsort(-keys, kind="stable")[: min(k, len(keys))]


@register("stochastic_power", rank_by="margin", params=P.StochasticPower)
def select_stochastic_power(
    candidates: Candidates,
    batch_size: int,
    *,
    random_state=None,
    utility: str = "margin",
    power: float = 4.0,
) -> np.ndarray:
    """Sample B with P proportional to utility^power (Kirsch et al., "Stochastic batch
    acquisition: a simple baseline for deep active learning", TMLR 2023)."""
    rng = np.random.default_rng(random_state)
    u = np.clip(candidates.utilities[utility], 1e-12, None)
    return gumbel_top_k(power * np.log(u), batch_size, rng)


@register("stochastic_softmax", rank_by="margin", params=P.StochasticSoftmax)
def select_stochastic_softmax(
    candidates: Candidates,
    batch_size: int,
    *,
    random_state=None,
    utility: str = "margin",
    temperature: float = 0.1,
) -> np.ndarray:
    """Sample B with P proportional to exp(utility / temperature) (Kirsch et al. 2023)."""
    rng = np.random.default_rng(random_state)
    return gumbel_top_k(candidates.utilities[utility] / temperature, batch_size, rng)


@register("class_quota", rank_by="margin", needs=frozenset({"labeled"}), params=P.UtilityParams)
def select_class_quota(
    candidates: Candidates,
    batch_size: int,
    *,
    random_state=None,
    utility: str = "margin",
) -> np.ndarray:
    """Per predicted class quotas, larger for classes with fewer labels, most uncertain first
    within each class: rare-class discovery (in the spirit of Ertekin et al., CIKM 2007)."""
    classes = np.asarray(candidates.classes, dtype=object)
    predicted = classes[candidates.proba.argmax(axis=1)]
    counts = np.array([(candidates.labeled_labels == c).sum() for c in classes], dtype=float)
    want = 1.0 / (1.0 + counts)
    quota = np.floor(batch_size * want / want.sum()).astype(int)
    order = top_k(candidates.utilities[utility], len(candidates), candidates.item_ids)
    picked: list[int] = []
    for c, q in zip(classes, quota, strict=True):
        picked.extend(int(i) for i in order[predicted[order] == c][:q])
    for i in order:  # fill what quotas left over (rounding, or classes nobody predicts)
        if len(picked) >= batch_size:
            break
        if int(i) not in picked:
            picked.append(int(i))
    return np.asarray(picked[:batch_size], dtype=np.intp)


@register(
    "density_coreset",
    rank_by="margin",
    needs=frozenset({"features", "labeled", "density"}),
    params=P.DensityCoreset,
)
def select_density_coreset(
    candidates: Candidates,
    batch_size: int,
    *,
    random_state=None,
    utility: str = "margin",
    beta: float = 1.0,
    top_factor: int = 3,
) -> np.ndarray:
    """Informative, representative and diverse: the top ``top_factor`` x B by information
    density (Settles and Craven 2008), then k-center greedy to B away from the labeled set
    (Sener and Savarese 2018)."""
    scores = information_density(candidates.utilities[utility], candidates.density, beta)
    return top_then_k_center(candidates, scores, batch_size, top_factor)
