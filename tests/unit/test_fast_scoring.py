"""The fast scoring path: folded linear models, class-major utilities, exclusion, tree merge."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from alflow.data.pool import features_of, read_partition, to_table, write_partition
from alflow.scoring.linear_scorer import linear_scorer, utilities_t
from alflow.scoring.score import (
    ROW,
    PartitionScores,
    ScoreRequest,
    histogram,
    keep_top,
    merge_all,
    score_partition,
)
from alflow.selection.committee import aligned_proba
from alflow.strategies import UTILITIES


def data(n_classes: int, n: int = 600, d: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, d)) * np.arange(1, d + 1) + 3).astype(np.float32)
    y = (np.digitize(x[:, 0] + x[:, 1], np.linspace(-3, 9, n_classes + 1)[1:-1])).astype(str)
    return x, y


@pytest.mark.parametrize("n_classes", [2, 4])
def test_a_folded_linear_model_gives_the_model_probabilities(n_classes):
    x, y = data(n_classes)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    classes = ["extra", *sorted(set(y))]  # a schema class the model never saw gets 0
    scorer = linear_scorer(model, classes)
    assert scorer is not None
    expected = aligned_proba(model, x, classes)
    np.testing.assert_allclose(scorer.proba_t(x).T, expected, atol=1e-5)


def test_other_models_are_not_folded():
    x, y = data(3)
    assert linear_scorer(RandomForestClassifier(n_estimators=3).fit(x, y), ["0", "1", "2"]) is None


def test_class_major_utilities_equal_the_strategy_functions():
    proba = np.random.default_rng(2).dirichlet(np.ones(6) * 0.4, size=500)
    fast = utilities_t(np.ascontiguousarray(proba.T))
    for name, fn in UTILITIES.items():
        np.testing.assert_allclose(fast[name], fn(proba), atol=1e-9, err_msg=name)


def test_histogram_counts_like_numpy():
    v = np.r_[np.random.default_rng(3).random(1_000), 0.0, 1.0, 0.5]
    np.testing.assert_array_equal(histogram(v), np.histogram(v, np.linspace(0, 1, 21))[0])


def test_excluded_rows_are_masked_and_candidates_point_at_their_rows(tmp_path):
    x, y = data(3, n=400)
    ids = [f"i{j:03d}" for j in range(400)]
    url = str(tmp_path / "part-000001-00000.parquet")
    write_partition(to_table(ids, x, y), url)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    scorer = linear_scorer(model, ["0", "1", "2"])
    excluded = ids[::3]
    req = ScoreRequest(
        rank_by="margin",
        top_m=50,
        seed=0,
        round_id=1,
        classes=["0", "1", "2"],
        keep_features=True,
        sample_m=30,
    )
    out = score_partition(url, scorer, pa.array(sorted(excluded)), req)
    cand = out.candidates
    assert out.rows_scored == 400 - len(excluded)
    assert not set(cand["item_id"]) & set(excluded) and not set(out.sample["item_id"]) & set(
        excluded
    )
    assert cand["item_id"].tolist() == [ids[r] for r in cand[ROW]]
    np.testing.assert_array_equal(out.features, x[cand[ROW].to_numpy()])
    # the same candidates as the model's own probabilities give (top 50 of the rest)
    keep = np.ones(400, bool)
    keep[::3] = False
    margin = UTILITIES["margin"](aligned_proba(model, x, ["0", "1", "2"]))[keep]
    best = np.array(ids)[keep][np.argsort(-margin, kind="stable")[:50]]
    assert len(set(best) ^ set(cand["item_id"])) <= 2  # float32 vs float64 at the cut
    assert all(h.sum() == out.rows_scored for h in out.histograms.values())


def test_a_tree_of_pairwise_merges_equals_one_full_sort(tmp_path):
    rng = np.random.default_rng(4)
    parts = []
    for p in range(7):
        frame = pd.DataFrame(
            {
                "item_id": [f"p{p}-{i}" for i in range(40)],
                "margin": rng.integers(0, 5, size=40) / 4,  # many ties: the id decides
            }
        )
        parts.append(keep_top(frame, 15, "margin"))
    level = parts
    while len(level) > 1:
        nxt = [
            keep_top(pd.concat(level[i : i + 2]), 15, "margin") for i in range(0, len(level) - 1, 2)
        ]
        level = nxt + ([level[-1]] if len(level) % 2 else [])
    full = pd.concat(parts).sort_values(["margin", "item_id"], ascending=[False, True])
    assert level[0]["item_id"].tolist() == full["item_id"].head(15).tolist()
    # a wider fan-in (all at once, or a tree of threes) is the same
    scores = [PartitionScores(p, {"margin": np.ones(20, int)}, 40) for p in parts]
    top_15 = ScoreRequest(rank_by="margin", top_m=15, seed=0, round_id=1)
    at_once = merge_all(scores, top_15)
    threes = merge_all([merge_all(scores[i : i + 3], top_15) for i in (0, 3, 6)], top_15)
    assert at_once.candidates["item_id"].tolist() == level[0]["item_id"].tolist()
    assert threes.candidates["item_id"].tolist() == level[0]["item_id"].tolist()
    assert at_once.rows_scored == 280 and at_once.histograms["margin"].sum() == 140


def test_vectors_of_the_earlier_list_layout_are_still_read(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    old = pa.table(
        {"item_id": list("abcd"), "x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 3)}
    )
    url = str(tmp_path / "old.parquet")
    write_partition(old, url)
    np.testing.assert_array_equal(features_of(read_partition(url), "numeric"), x)
    new = read_partition(url).slice(1, 2)
    np.testing.assert_array_equal(features_of(new, "numeric"), x[1:3])
    sliced = to_table(list("abcd"), x).slice(2, 2)
    np.testing.assert_array_equal(features_of(sliced, "numeric"), x[2:])
