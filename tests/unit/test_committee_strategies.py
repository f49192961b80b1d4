"""Known values of the committee and look-ahead utilities, and building a committee."""

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from alflow.selection.committee import aligned_proba, build_committee, committee_proba
from alflow.strategies import REGISTRY, Candidates
from alflow.strategies.committee import bald, consensus_entropy, kl_to_consensus, vote_entropy
from alflow.strategies.expected import (
    expected_error_reduction,
    expected_gradient_length,
    fisher_weight,
    labeled_fisher_weights,
    refit_proba,
    variance_reduction,
)
from alflow.strategies.uncertainty import margin

DISAGREEMENT = (vote_entropy, kl_to_consensus, bald)
COMMITTEE_STRATEGIES = ("qbc_vote_entropy", "qbc_consensus_entropy", "qbc_kl", "bald")


def one_hot(labels: list[int], k: int) -> np.ndarray:
    return np.eye(k)[labels]


# --- committee utilities ---------------------------------------------------------------------


@pytest.mark.parametrize("utility", DISAGREEMENT)
def test_unanimous_committee_does_not_disagree(utility):
    member = np.array([[1.0, 0.0, 0.0], [0.2, 0.5, 0.3], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(utility(np.stack([member] * 4)), 0.0, atol=1e-9)


@pytest.mark.parametrize("utility", DISAGREEMENT)
def test_maximally_split_committee_scores_one(utility):
    # two members, three classes: each votes for a different class with certainty
    split = np.stack([one_hot([0], 3), one_hot([1], 3)])
    np.testing.assert_allclose(utility(split), [1.0], atol=1e-9)
    three_way = np.stack([one_hot([0], 3), one_hot([1], 3), one_hot([2], 3)])
    np.testing.assert_allclose(utility(three_way), [1.0], atol=1e-9)


def test_vote_entropy_counts_hard_votes():
    # four members vote 3:1 between two classes; soft confidence does not matter
    committee = np.array([[[0.9, 0.1]], [[0.6, 0.4]], [[0.51, 0.49]], [[0.2, 0.8]]])
    expected = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25)) / np.log(2)
    np.testing.assert_allclose(vote_entropy(committee), [expected])


def test_bald_is_zero_when_uncertain_members_agree_but_consensus_entropy_is_not():
    uniform = np.full((3, 1, 4), 0.25)
    np.testing.assert_allclose(bald(uniform), [0.0], atol=1e-9)
    np.testing.assert_allclose(consensus_entropy(uniform), [1.0])


def test_consensus_entropy_of_opposed_certain_members():
    committee = np.stack([one_hot([0, 1], 2), one_hot([1, 1], 2)])
    np.testing.assert_allclose(consensus_entropy(committee), [1.0, 0.0], atol=1e-9)


def test_kl_to_consensus_equals_bald_with_equal_member_weights():
    committee = np.random.default_rng(0).dirichlet(np.ones(5), size=(4, 50))
    np.testing.assert_allclose(kl_to_consensus(committee), bald(committee), atol=1e-9)
    assert (bald(committee) > 0).all() and (bald(committee) <= 1).all()


@pytest.mark.parametrize("utility", DISAGREEMENT)
def test_a_single_member_cannot_disagree(utility):
    np.testing.assert_array_equal(utility(np.array([[[0.5, 0.5], [1.0, 0.0]]])), [0.0, 0.0])


@pytest.mark.parametrize("name", COMMITTEE_STRATEGIES)
def test_committee_strategies_pick_the_contested_item(name):
    agree = one_hot([0, 0, 0], 3)
    committee = np.stack([agree, agree, agree])
    committee[:, 1] = one_hot([0, 1, 2], 3)  # item 1 is contested
    cand = Candidates(
        item_ids=np.array(["a", "b", "c"], dtype=object),
        utilities={},
        classes=["x", "y", "z"],
        committee_proba=committee,
    )
    np.testing.assert_array_equal(REGISTRY[name].select(cand, 1, random_state=0), [1])


# --- expected gradient length ----------------------------------------------------------------


def test_egl_is_zero_for_a_certain_prediction():
    features = np.array([[3.0, 4.0], [1.0, 1.0]])
    np.testing.assert_allclose(expected_gradient_length(one_hot([1, 0], 3), features), 0.0)


def test_egl_known_value_and_linear_in_the_feature_norm():
    proba = np.array([[0.5, 0.5]])
    # ||p - e_k|| = sqrt(0.5) for both labels, and ||x|| = 5
    np.testing.assert_allclose(
        expected_gradient_length(proba, np.array([[3.0, 4.0]])), [5 * 0.5**0.5]
    )
    x = np.array([[0.3, -1.2, 2.0]])
    p = np.array([[0.2, 0.7, 0.1]])
    np.testing.assert_allclose(
        expected_gradient_length(p, 2 * x), 2 * expected_gradient_length(p, x)
    )


def test_egl_matches_the_expected_norm_of_the_explicit_gradient():
    rng = np.random.default_rng(1)
    p, x = rng.dirichlet(np.ones(4)), rng.normal(size=3)
    explicit = sum(p[k] * np.linalg.norm(np.outer(p - np.eye(4)[k], x)) for k in range(4))
    np.testing.assert_allclose(expected_gradient_length(p[None], x[None]), [explicit])


# --- expected error reduction ----------------------------------------------------------------

LABELED_X = np.array([[-3, 0], [-3, 1], [-2, -1], [3, 0], [3, -1], [2, 1]], dtype=np.float32)
LABELED_Y = np.array(list("aaabbb"))
GRID = np.array([[x, y] for x in np.linspace(-4, 4, 9) for y in (-1, 0, 1)], dtype=np.float32)


@pytest.mark.parametrize("loss", ["log", "zero_one"])
def test_eer_prefers_a_point_between_the_classes_over_one_deep_inside(loss):
    between_and_deep = np.array([[0.0, 0.0], [-6.0, 0.0]], dtype=np.float32)
    proba = LogisticRegression().fit(LABELED_X, LABELED_Y).predict_proba(between_and_deep)
    risk = expected_error_reduction(
        LogisticRegression(),
        (LABELED_X, LABELED_Y),
        between_and_deep,
        proba,
        GRID,
        ["a", "b"],
        loss,
    )
    assert risk[0] < risk[1]


def test_refit_aligns_classes_the_labeled_set_lacks():
    proba = refit_proba(LogisticRegression(), LABELED_X, LABELED_Y, GRID, ["c", "b", "a"])
    assert proba.shape == (len(GRID), 3)
    np.testing.assert_array_equal(proba[:, 0], 0.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[0, 2] > proba[0, 1]  # GRID[0] = (-4, -1) lies on the "a" side
    single = refit_proba(LogisticRegression(), LABELED_X[:3], LABELED_Y[:3], GRID, ["b", "a"])
    np.testing.assert_array_equal(single, np.tile([0.0, 1.0], (len(GRID), 1)))


def test_eer_scores_a_label_the_labeled_set_has_never_seen():
    proba = np.array([[0.2, 0.3, 0.5]])
    risk = expected_error_reduction(
        LogisticRegression(), (LABELED_X, LABELED_Y), GRID[:1], proba, GRID, ["a", "b", "c"]
    )
    assert np.isfinite(risk).all() and risk[0] > 0


def test_eer_rejects_an_unknown_loss():
    with pytest.raises(ValueError, match="loss"):
        expected_error_reduction(
            LogisticRegression(),
            (LABELED_X, LABELED_Y),
            GRID,
            np.ones((27, 2)) / 2,
            GRID,
            ["a", "b"],
            "l2",
        )


def look_ahead_candidates(n: int = 40, seed: int = 0) -> Candidates:
    rng = np.random.default_rng(seed)
    features = rng.normal(scale=2.0, size=(n, 2)).astype(np.float32)
    proba = rng.dirichlet(np.ones(2), size=n)
    return Candidates(
        item_ids=np.array([f"i{j:03d}" for j in range(n)], dtype=object),
        utilities={"margin": margin(proba)},
        proba=proba,
        classes=["a", "b"],
        features=features,
        labeled_features=LABELED_X,
        labeled_labels=LABELED_Y,
        estimator=LogisticRegression(),
    )


def test_eer_batch_beyond_max_candidates_continues_in_margin_order():
    cand = look_ahead_candidates()
    by_margin = np.lexsort((cand.item_ids, -cand.utilities["margin"]))
    chosen = REGISTRY["expected_error_reduction"].select(
        cand, 8, random_state=0, max_candidates=3, eval_size=20
    )
    assert sorted(chosen[:3]) == sorted(by_margin[:3])
    np.testing.assert_array_equal(chosen[3:], by_margin[3:8])


# --- variance reduction ----------------------------------------------------------------------

ALONG_X = np.array([[t, 0] for t in (-3, -2, -1, 1, 2, 3)], dtype=np.float32)
SPREAD = np.array([[x, y] for x in (-3, 0, 3) for y in (-3, 0, 3)], dtype=np.float32)


def test_fisher_weight_known_values():
    proba = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(fisher_weight(proba), [0.0, 0.5, 2 / 3])


def test_variance_reduction_prefers_an_unexplored_direction():
    features = np.vstack([[[3.0, 0.0], [0.0, 3.0]], SPREAD])
    proba = np.full((len(features), 2), 0.5)
    weights = np.full(len(ALONG_X), 0.25)
    scores = variance_reduction(proba, features, ALONG_X, weights, np.arange(len(features)))
    assert scores[1] > 5 * scores[0]


def test_variance_reduction_is_the_drop_in_average_output_variance():
    rng = np.random.default_rng(2)
    features, proba = rng.normal(size=(30, 3)), rng.dirichlet(np.ones(3), size=30)
    labeled, weights = rng.normal(size=(10, 3)), rng.random(10)
    scores = variance_reduction(proba, features, labeled, weights, np.arange(30), reg=0.5)
    x = np.hstack([features, np.ones((30, 1))])
    z = np.hstack([labeled, np.ones((10, 1))])
    w = fisher_weight(proba)
    a = 0.5 * np.eye(4) + (z * weights[:, None]).T @ z
    u = (x * w[:, None]).T @ x / 30
    for i in (0, 7, 29):
        after = a + w[i] * np.outer(x[i], x[i])
        drop = np.trace(u @ np.linalg.inv(a)) - np.trace(u @ np.linalg.inv(after))
        np.testing.assert_allclose(scores[i], drop, rtol=1e-8)


def test_labeled_weights_come_from_a_refit_or_fall_back_to_a_quarter():
    refit = labeled_fisher_weights(LogisticRegression(), LABELED_X, LABELED_Y, ["a", "b"])
    assert refit.shape == (6,) and (refit > 0).all() and (refit < 0.5).all()
    fallback = labeled_fisher_weights(
        LogisticRegression(), LABELED_X[:3], LABELED_Y[:3], ["a", "b"]
    )
    np.testing.assert_array_equal(fallback, 0.25)


def test_variance_reduction_strategy_is_seeded_by_its_sample():
    cand = look_ahead_candidates(200)
    select = REGISTRY["variance_reduction"].select
    a = select(cand, 10, random_state=0, eval_size=50)
    np.testing.assert_array_equal(a, select(cand, 10, random_state=0, eval_size=50))
    assert len(set(a)) == 10


# --- building a committee --------------------------------------------------------------------


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.array(["a"] * 20 + ["b"] * 20 + ["c"])  # "c" has a single item
    centers = {"a": (-2.0, 0.0), "b": (2.0, 0.0), "c": (0.0, 3.0)}
    return np.array([centers[c] for c in y]) + rng.normal(size=(len(y), 2)), y


def test_committee_proba_aligns_to_the_given_class_order():
    X, y = blobs()
    two_class = LogisticRegression().fit(X[y != "c"], y[y != "c"])
    proba = committee_proba([two_class], X, ["c", "b", "a"])
    assert proba.shape == (1, len(y), 3)
    np.testing.assert_array_equal(proba[0, :, 0], 0.0)
    np.testing.assert_allclose(proba[0, :, 1:], two_class.predict_proba(X)[:, ::-1])
    with pytest.raises(ValueError, match="not in"):
        aligned_proba(two_class, X, ["a"])


def test_bagging_members_differ_and_each_sees_every_class():
    X, y = blobs()
    members = build_committee(LogisticRegression(), X, y, n_members=4, kind="bagging")
    assert all(list(m.classes_) == ["a", "b", "c"] for m in members)
    coefs = [m.coef_ for m in members]
    assert not any(np.allclose(coefs[0], c) for c in coefs[1:])


def test_seed_committees_are_deterministic_and_diverse():
    X, y = blobs()
    forest = RandomForestClassifier(n_estimators=5)
    first = committee_proba(
        build_committee(forest, X, y, n_members=3, kind="seeds"), X, ["a", "b", "c"]
    )
    again = committee_proba(
        build_committee(forest, X, y, n_members=3, kind="seeds"), X, ["a", "b", "c"]
    )
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[0], first[1])


def test_seed_committee_needs_a_random_state_and_a_known_kind():
    X, y = blobs()
    with pytest.raises(ValueError, match="random_state"):
        build_committee(KNeighborsClassifier(), X, y, kind="seeds")
    with pytest.raises(ValueError, match="kind"):
        build_committee(LogisticRegression(), X, y, kind="boosting")


def test_committee_over_a_text_pipeline():
    texts = ["good great fine", "great good", "fine good", "bad awful", "awful poor", "poor bad"]
    labels = ["pos", "pos", "pos", "neg", "neg", "neg"]
    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression(random_state=0))
    members = build_committee(pipeline, texts, labels, n_members=3, random_state=1)
    seeds = {m.get_params()["logisticregression__random_state"] for m in members}
    assert len(seeds) == 3  # seeds reach the estimator inside the pipeline
    proba = committee_proba(members, ["good fine", "awful bad"], ["pos", "neg"])
    assert proba.shape == (3, 2, 2)
    np.testing.assert_allclose(proba.sum(axis=2), 1.0)
    assert (proba[:, 0, 0] > 0.5).all() and (proba[:, 1, 1] > 0.5).all()
