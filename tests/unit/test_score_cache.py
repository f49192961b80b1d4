"""Stored scoring results: what is saved is what is loaded, keys change with every input."""

import numpy as np
import pandas as pd
import pytest

from alflow.score_cache import ScoreCache, cache_key, ids_hash
from alflow.scoring import FEATURES, PartitionScores, stack


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


def test_keys_change_with_any_part():
    base = {"pool": "p", "excluded": ids_hash(["a", "b"]), "model_version": "1", "round": 2}
    assert cache_key(**base) == cache_key(**dict(reversed(base.items())))
    assert ids_hash(["b", "a"]) == base["excluded"]
    for part, other in [("pool", "q"), ("excluded", ids_hash(["a"])), ("model_version", "2")]:
        assert cache_key(**{**base, part: other}) != cache_key(**base)
