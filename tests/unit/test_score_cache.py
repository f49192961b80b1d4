"""Stored scoring results: what is saved is what is loaded, keys change with every input."""

import numpy as np
import pandas as pd
import pytest

from alflow.data.tabular import block, is_tabular
from alflow.scoring.score import FEATURES, PartitionScores, stack
from alflow.scoring.score_cache import ScoreCache, cache_key, ids_hash


@pytest.mark.parametrize("features", ["numeric", "text"])
def test_saved_scores_load_back_equal(tmp_path, features):
    rng = np.random.default_rng(0)
    x = list(rng.normal(size=(5, 3))) if features == "numeric" else [f"t{i}" for i in range(5)]
    candidates = pd.DataFrame(
        {"item_id": [f"i{i}" for i in range(5)], "margin": rng.random(5), FEATURES: x}
    )
    scores = PartitionScores(
        candidates=candidates,
        histograms={"margin": np.arange(20)},
        rows_scored=123,
        sample=candidates[["item_id", FEATURES]].assign(random=rng.random(5)),
    )
    cache = ScoreCache(tmp_path / "scores")
    assert cache.load("k") is None
    cache.save("k", scores)
    back = cache.load("k")
    assert back.rows_scored == 123 and back.confident is None
    np.testing.assert_array_equal(back.histograms["margin"], np.arange(20))
    pd.testing.assert_frame_equal(
        back.candidates.drop(columns=FEATURES), candidates.drop(columns=FEATURES)
    )
    if features == "numeric":
        np.testing.assert_array_equal(stack(back.candidates[FEATURES].tolist()), np.vstack(x))
        np.testing.assert_array_equal(stack(back.sample[FEATURES].tolist()), np.vstack(x))
    else:
        assert back.candidates[FEATURES].tolist() == x
    assert [p.name for p in (tmp_path / "scores").iterdir()] == ["k"]  # no temp folder left


def test_tabular_feature_rows_load_back_with_gaps_and_categories(tmp_path):
    x = block(np.array([[39.0, np.nan], [50.0, 13.0]]), [["State-gov"], [None]])
    frame = pd.DataFrame({"item_id": ["a", "b"], "margin": [0.1, 0.2], FEATURES: list(x)})
    cache = ScoreCache(tmp_path / "scores")
    cache.save("k", PartitionScores(candidates=frame, histograms={}, rows_scored=2))
    back = stack(cache.load("k").candidates[FEATURES].tolist())
    assert is_tabular(back) and back.shape == (2, 3)
    assert back[0, 0] == 39.0 and np.isnan(back[0, 1]) and back[0, 2] == "State-gov"
    assert back[1, 2] is None and isinstance(back[1, 1], float)


def test_keys_change_with_any_part():
    base = {"pool": "p", "excluded": ids_hash(["a", "b"]), "model_version": "1", "round": 2}
    assert cache_key(**base) == cache_key(**dict(reversed(base.items())))
    assert ids_hash(["b", "a"]) == base["excluded"]
    for part, other in [("pool", "q"), ("excluded", ids_hash(["a"])), ("model_version", "2")]:
        assert cache_key(**{**base, part: other}) != cache_key(**base)
