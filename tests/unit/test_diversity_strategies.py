"""Each density, diversity and cold-start strategy does what its docstring claims."""

import numpy as np
import pytest

from alflow.index import k_center_greedy, kmeans, knn_similarity
from alflow.strategies import REGISTRY, Candidates
from alflow.strategies.diversity import exploration_count


def blobs(sizes, d=4, spread=0.2, seed=0):
    """Well-separated Gaussian blobs; returns features and the blob of each row."""
    rng = np.random.default_rng(seed)
    centers = np.eye(len(sizes), d) * 20.0
    blob = np.repeat(np.arange(len(sizes)), sizes)
    return (centers[blob] + rng.normal(scale=spread, size=(len(blob), d))).astype(np.float32), blob


def cands(features, utility, *, labeled=None, labeled_labels=None, proba=None, density=None):
    n = len(features)
    return Candidates(
        item_ids=np.array([f"i{j:05d}" for j in range(n)], dtype=object),
        utilities={"margin": utility, "random": np.random.default_rng(1).random(n)},
        proba=proba,
        classes=[] if proba is None else [str(c) for c in range(proba.shape[1])],
        features=features,
        labeled_features=labeled,
        labeled_labels=labeled_labels,
        density=density,
    )


def select(name, c, b, **params):
    return REGISTRY[name].select(c, b, random_state=0, **params)


def test_round_robin_spreads_a_batch_that_margin_would_take_from_one_blob():
    x, blob = blobs([10, 10, 10, 10])  # all within the top 10 x B it clusters
    utility = np.where(blob == 0, 0.9, 0.1) + np.random.default_rng(0).random(40) * 0.01
    c = cands(x, utility)
    assert set(blob[select("margin", c, 4)]) == {0}
    assert set(blob[select("kmeans_round_robin", c, 4)]) == {0, 1, 2, 3}


def test_coreset_goes_where_nothing_is_labeled():
    x, blob = blobs([40, 40, 40])
    c = cands(x, np.zeros(120), labeled=x[blob == 0][:5])
    picked = select("coreset", c, 2)
    assert set(blob[picked]) == {1, 2}


def test_margin_coreset_keeps_informative_and_diverse():
    x, blob = blobs([30, 30, 30])
    utility = np.where(blob == 2, 0.0, 0.5)  # blob 2 is never informative
    c = cands(x, utility, labeled=x[:0])
    picked = select("margin_coreset", c, 2, top_factor=30)
    assert set(blob[picked]) == {0, 1}


def test_information_density_prefers_dense_over_outlier():
    x, _ = blobs([99, 1])  # item 99 is alone
    density = knn_similarity(x, x, k=10)
    utility = np.full(100, 0.5)
    utility[99] = 0.6  # the outlier is slightly more uncertain
    c = cands(x, utility, density=density)
    assert select("margin", c, 1)[0] == 99
    assert select("information_density", c, 1)[0] != 99
    assert select("typicality", c, 1)[0] != 99


def test_cluster_margin_visits_every_cluster_before_repeating():
    x, blob = blobs([5, 20, 60])
    c = cands(x, np.random.default_rng(0).random(85))
    picked = select("cluster_margin", c, 3, n_clusters=3)
    assert sorted(blob[picked]) == [0, 1, 2]


def test_exploration_slice_sizes():
    x, _ = blobs([100])
    utility = np.linspace(0, 1, 100)
    picked = select("margin_explore", cands(x, utility), 10, explore=0.3)
    top7 = set(np.argsort(-utility)[:7])
    assert top7 <= set(picked) and len(set(picked)) == 10


@pytest.mark.parametrize(
    ("batch", "explore", "at_least", "expected"),
    [
        (20, 0.1, 4, 4),  # the floor lifts round(2.0) to 4
        (20, 0.1, 3, 3),
        (100, 0.1, 4, 10),  # the share is above the floor
        (10, 0.1, 4, 2),  # the floor stops at a fifth of the batch
        (4, 0.1, 3, 0),  # a fifth of 4 rounds down to none; round(0.4) is 0
        (20, 0.0, 3, 0),  # no exploration asked for, none given
        (20, 0.1, 0, 2),  # the floor switched off: the plain share
    ],
)
def test_the_exploration_count_has_a_floor_capped_at_a_fifth_of_the_batch(
    batch, explore, at_least, expected
):
    assert exploration_count(batch, explore, at_least) == expected


def test_a_small_batch_explores_the_floor_and_keeps_the_top_by_utility():
    x, _ = blobs([100])
    utility = np.linspace(0, 1, 100)
    picked = select("margin_explore", cands(x, utility), 20)
    assert set(np.argsort(-utility)[:16]) <= set(picked) and len(set(picked)) == 20
    plain = select("margin_explore", cands(x, utility), 20, explore_at_least=0)
    assert set(np.argsort(-utility)[:18]) <= set(plain)


def test_stochastic_batches_favour_high_utility_but_vary_with_the_seed():
    x, _ = blobs([400])
    utility = np.linspace(0.001, 1, 400)
    c = cands(x, utility)
    a = REGISTRY["stochastic_power"].select(c, 20, random_state=1)
    b = REGISTRY["stochastic_power"].select(c, 20, random_state=2)
    assert set(a) != set(b)
    assert utility[a].mean() > 0.7 and utility[b].mean() > 0.7
    s = REGISTRY["stochastic_softmax"].select(c, 20, random_state=1, temperature=0.05)
    assert utility[s].mean() > 0.8


def test_class_quota_gives_rare_classes_room():
    n = 300
    rng = np.random.default_rng(0)
    proba = np.tile([0.8, 0.1, 0.1], (n, 1))
    proba[:30] = [0.1, 0.1, 0.8]  # 30 items predicted as class 2, all rather certain
    utility = np.where(np.arange(n) < 30, 0.1, 0.9) + rng.random(n) * 0.01
    labeled_labels = np.array(["0"] * 50 + ["1"] * 50 + ["2"] * 1)
    c = cands(
        rng.normal(size=(n, 3)).astype(np.float32),
        utility,
        labeled=None,
        labeled_labels=labeled_labels,
        proba=proba,
    )
    picked = select("class_quota", c, 10)
    assert (picked < 30).sum() >= 8  # class 2 has almost no labels: most of the quota
    assert (select("margin", c, 10) < 30).sum() == 0


def test_cold_starts_cover_the_clusters():
    x, blob = blobs([100, 100, 100, 100])
    c = cands(x, np.zeros(400), labeled=x[:0])
    assert set(blob[select("cluster_stratified", c, 4)]) == {0, 1, 2, 3}
    assert set(blob[select("typiclust", c, 4)]) == {0, 1, 2, 3}
    c_lab = cands(x, np.zeros(400), labeled=x[blob == 3][:3])
    assert set(blob[select("typiclust", c_lab, 3)]) == {0, 1, 2}


def test_index_helpers():
    x, blob = blobs([50, 50])
    _, assign = kmeans(x, 2, seed=0)
    assert len(set(zip(assign, blob, strict=True))) == 2
    first = k_center_greedy(x, 2)
    assert blob[first[0]] != blob[first[1]]


def test_pool_clusters_from_the_scoring_pass_replace_k_means():
    x, blob = blobs([10, 10, 10, 10])
    utility = np.where(blob == 0, 0.9, 0.1) + np.random.default_rng(0).random(40) * 0.01
    c = cands(x, utility)
    c.clusters = np.where(blob < 2, 7, 3)  # the pool index put blobs 0-1 and 2-3 together
    picks = select("kmeans_round_robin", c, 4)
    # two pool clusters: the best of each in turn, the cluster holding the best item first
    assert list(c.clusters[picks]) == [7, 3, 7, 3]
    assert picks[0] == np.argmax(utility)
    assert sorted(c.clusters[select("cluster_margin", c, 4)]) == [3, 3, 7, 7]
    c.clusters = None
    assert set(blob[select("kmeans_round_robin", c, 4)]) == {0, 1, 2, 3}  # k-means without
