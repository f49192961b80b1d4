import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

from alflow.data.pool import to_table, write_partition
from alflow.scoring.score import (
    FEATURES,
    ScoreRequest,
    keep_top,
    random_scores,
    score_partition,
    stack,
)
from alflow.selection.candidates import CandidateSources, build_candidates
from alflow.strategies import REGISTRY


@pytest.fixture
def partition(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int).astype(str)
    ids = [f"it{i:04d}" for i in range(400)]
    url = str(tmp_path / "part-000001-00000.parquet")
    write_partition(to_table(ids, x, y), url)
    model = LogisticRegression().fit(x, y)
    return url, ids, model


NONE = pa.array([], pa.string())
TOP_10 = ScoreRequest(rank_by="margin", top_m=10, seed=0, round_id=1)


def score(url, model, excluded=NONE, **overrides):
    """``score_partition`` with the tests' defaults, overridden per call."""
    args = dict(rank_by="margin", top_m=500, seed=0, round_id=1)
    return score_partition(url, model, excluded, ScoreRequest(**{**args, **overrides}))


def test_excluded_items_are_never_candidates(partition):
    url, ids, model = partition
    excluded = pa.array(ids[:150], pa.string())
    out = score(url, model, excluded=excluded)
    assert out.rows_scored == 250
    assert not set(out.candidates["item_id"]) & set(ids[:150])
    assert all(h.sum() == 250 for h in out.histograms.values())


def test_keeps_the_top_m_by_the_ranking_utility(partition):
    url, _, model = partition
    full = score(url, model, rank_by="entropy", top_m=400)
    top = score(url, model, rank_by="entropy", top_m=15)
    assert len(top.candidates) == 15
    expected = full.candidates.nlargest(15, "entropy")["item_id"]
    assert set(top.candidates["item_id"]) == set(expected)
    cand = build_candidates(
        top.candidates, None, REGISTRY["entropy"], CandidateSources(model=model)
    )
    assert cand.proba.shape == (15, 2) and cand.classes == ["0", "1"]
    np.testing.assert_allclose(cand.proba.sum(axis=1), 1.0)
    assert cand.features is None  # entropy needs nothing beyond the utilities


def test_cold_start_scores_random_only(partition):
    url, _, _ = partition
    out = score(url, None, rank_by="random", top_m=10, seed=3, round_id=2)
    assert list(out.histograms) == ["random"]
    assert "entropy" not in out.candidates


def test_random_scores_depend_on_seed_round_and_partition_only():
    a = random_scores(100, 1, 2, "p1")
    np.testing.assert_array_equal(a, random_scores(100, 1, 2, "p1"))
    assert not np.array_equal(a, random_scores(100, 1, 3, "p1"))
    assert not np.array_equal(a, random_scores(100, 1, 2, "p2"))


def test_merge_is_independent_of_order(partition):
    url, _, model = partition
    full = score(url, model, top_m=400).candidates
    a, b = full.iloc[:200], full.iloc[200:]
    ab = keep_top(pd.concat([a, b]), 20, "margin")
    ba = keep_top(pd.concat([b, a]), 20, "margin")
    assert ab["item_id"].tolist() == ba["item_id"].tolist()


def test_features_and_a_uniform_sample_travel_with_the_candidates(partition):
    url, ids, model = partition
    excluded = pa.array(ids[:100], pa.string())
    out = score(url, model, excluded=excluded, top_m=12, keep_features=True, sample_m=50)
    out = out.with_feature_columns()
    x = stack(out.candidates[FEATURES].tolist())
    assert x.shape == (12, 6) and x.dtype == np.float32
    assert len(out.sample) == 50 and not set(out.sample["item_id"]) & set(ids[:100])
    full = score(url, None, excluded=excluded, rank_by="random", top_m=50)
    assert set(out.sample["item_id"]) == set(full.candidates["item_id"])  # same random order
    density_spec = REGISTRY["information_density"]
    cand = build_candidates(
        out.candidates,
        x,
        density_spec,
        CandidateSources(model=model, pool_sample_raw=stack(out.sample[FEATURES].tolist())),
    )
    assert cand.density.shape == (12,) and np.all(cand.density <= 1.0 + 1e-6)


def test_several_rankings_keep_the_union_of_their_tops(partition):
    url, _, model = partition
    args = dict(top_m=20, seed=4, round_id=2)
    both = score(url, model, rank_by=("margin", "random"), **args).candidates
    by_margin = score(url, model, rank_by="margin", **args).candidates
    by_random = score(url, model, rank_by="random", **args).candidates
    assert set(both["item_id"]) == set(by_margin["item_id"]) | set(by_random["item_id"])
    assert both["item_id"].tolist()[:20] == by_margin["item_id"].tolist()
    merged = keep_top(pd.concat([both.iloc[::2], both.iloc[1::2]]), 20, ("margin", "random"))
    assert set(merged["item_id"]) == set(both["item_id"])


def test_a_partition_with_nothing_left_to_score_merges_cleanly(partition):
    url, ids, model = partition
    empty = score(url, model, excluded=pa.array(ids, pa.string()), top_m=10)
    full = score(url, model, top_m=10)
    assert empty.rows_scored == 0 and set(empty.histograms) == set(full.histograms)
    for merged in (
        empty.merge(full, TOP_10),
        full.merge(empty, TOP_10),
        empty.merge(empty, TOP_10),
    ):
        assert set(merged.histograms) == set(full.histograms)
    assert (
        empty.merge(full, TOP_10).candidates["item_id"].tolist()
        == full.candidates["item_id"].tolist()
    )


def test_probabilities_follow_the_label_schema_not_the_model(partition):
    url, _, model = partition  # trained on classes "0" and "1" only
    out = score(url, model, top_m=5, classes=["0", "1", "2"])
    cols = [c for c in out.candidates.columns if c.startswith("p:")]
    assert cols == ["p:0", "p:1", "p:2"]
    assert (out.candidates["p:2"] == 0).all()
    np.testing.assert_allclose(out.candidates[cols].sum(axis=1), 1.0)
