"""One contract for every registered strategy, plus the utilities' values."""

import tracemalloc

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from alflow.strategies import REGISTRY, UTILITIES, Candidates, top_k
from alflow.strategies.uncertainty import entropy, least_confidence, margin


def candidates(n: int, k: int = 5, seed: int = 0, d: int = 8, members: int = 4) -> Candidates:
    """A candidate set with every optional input a strategy may declare it needs."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(k, d))
    truth = rng.integers(k, size=n)
    features = (centers[truth] + rng.normal(size=(n, d))).astype(np.float32)
    proba = rng.dirichlet(np.ones(k), size=n)
    utilities = {name: fn(proba) for name, fn in UTILITIES.items()}
    utilities["random"] = rng.random(n)
    labeled_y = np.arange(60) % k
    labeled = (centers[labeled_y] + rng.normal(size=(60, d))).astype(np.float32)
    return Candidates(
        item_ids=np.array([f"i{j:07d}" for j in range(n)], dtype=object),
        utilities=utilities,
        proba=proba,
        classes=[str(c) for c in range(k)],
        features=features,
        committee_proba=rng.dirichlet(np.ones(k), size=(members, n)),
        labeled_features=labeled,
        labeled_labels=labeled_y.astype(str),
        density=rng.random(n),
        estimator=LogisticRegression(max_iter=200),
    )


# The look-ahead strategies refit the model max_candidates x K times whatever n is; the contract
# is about batch sizes, seeds and n, so they look ahead over fewer candidates (the refits cost
# time, not memory): 10 still puts batches of 1 inside the shortlist and 37+ beyond it.
LOOK_AHEAD_COST = {"expected_error_reduction": {"max_candidates": 10}}


@pytest.mark.parametrize("name", sorted(REGISTRY))
class TestStrategyContract:
    def test_batch_size_respected_and_indices_unique_within_candidates(self, name):
        cand = candidates(500)
        for b in (1, 37, 500, 900):
            idx = REGISTRY[name].select(cand, b, random_state=1, **LOOK_AHEAD_COST.get(name, {}))
            assert len(idx) == min(b, len(cand))
            assert len(np.unique(idx)) == len(idx)
            assert idx.min() >= 0 and idx.max() < len(cand)

    def test_deterministic_under_a_seed(self, name):
        cand = candidates(400)
        cost = LOOK_AHEAD_COST.get(name, {})
        a = REGISTRY[name].select(cand, 25, random_state=3, **cost)
        b = REGISTRY[name].select(cand, 25, random_state=3, **cost)
        np.testing.assert_array_equal(a, b)

    def test_ranks_by_a_utility_the_scoring_pass_computes(self, name):
        assert set(REGISTRY[name].ranks) <= set(candidates(10).utilities)

    def test_memory_grows_with_candidates_not_their_square(self, name):
        n = 100_000  # an n x n float64 matrix would need 80 GB
        cand = candidates(n, k=10)
        tracemalloc.start()
        REGISTRY[name].select(cand, 1000, random_state=0, **LOOK_AHEAD_COST.get(name, {}))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 64 * n * 8  # a few vectors of length n, never n x n


def test_utilities_known_values():
    proba = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(least_confidence(proba), [0.0, 1.0, 0.75])
    np.testing.assert_allclose(margin(proba), [0.0, 1.0, 1.0])
    np.testing.assert_allclose(entropy(proba), [0.0, 1.0, np.log(2) / np.log(3)], atol=1e-9)


def test_uncertain_items_rank_first():
    cand = candidates(300, k=4, seed=5)
    for name in ("least_confidence", "margin", "entropy"):
        idx = REGISTRY[name].select(cand, 10, random_state=0)
        chosen = cand.utilities[name][idx]
        assert chosen.min() >= np.sort(cand.utilities[name])[-10]


def test_top_k_breaks_ties_by_id():
    scores = np.array([0.5, 0.9, 0.5, 0.9])
    ids = np.array(["d", "c", "b", "a"], dtype=object)
    np.testing.assert_array_equal(top_k(scores, 3, ids), [3, 1, 2])


def test_top_k_is_independent_of_input_order_with_many_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=2000).astype(float)  # heavy ties
    ids = np.array([f"id{i:05d}" for i in range(2000)], dtype=object)
    expected = ids[top_k(scores, 100, ids)]
    assert list(expected) == sorted(expected, key=lambda i: (-scores[int(i[2:])], i))
    for _ in range(5):
        perm = rng.permutation(2000)
        got = ids[perm][top_k(scores[perm], 100, ids[perm])]
        assert list(got) == list(expected)


def test_candidate_count_honours_what_a_strategy_clusters():
    from alflow.strategies import candidate_count

    assert candidate_count(REGISTRY["margin"], 20, 5) == 100
    assert candidate_count(REGISTRY["cluster_margin"], 20, 5) == 200
    assert candidate_count(REGISTRY["coreset"], 20, 5) == 2_000
