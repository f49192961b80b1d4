"""The benchmark's loaders read every shared dataset as its README describes it."""

from __future__ import annotations

import numpy as np
import pytest

from alflow.data.tabular import is_tabular, n_numeric
from benchmarks.datasets import LOADERS, POOL_CAP, TABULAR, TEXT, load, split
from tests.conftest import DATASETS, require_dataset

# rows of the training part and classes, as ../shared/datasets/README.md gives them
# (kddcup99: its unique rows, normal vs attack, the usual task the README names)
README = {
    "sms_spam": (5_574, 2),
    "20newsgroups": (11_314, 20),
    "adult": (32_561, 2),
    "letter_recognition": (20_000, 26),
    "pendigits": (7_494, 10),
    "covertype_sample_15k": (15_000, 7),
    "kddcup99_10pct": (145_586, 2),
    "skin_segmentation": (245_057, 2),
    "ag_news_test": (7_600, 4),
    "imdb_acl": (25_000, 2),
    "spambase": (4_601, 2),
    "magic_gamma": (19_020, 2),
    "satimage": (4_435, 6),
    "mushroom": (8_124, 2),
    "electricity": (45_312, 2),
    "wine_quality": (6_497, 7),
}


def test_every_shared_dataset_has_a_loader():
    require_dataset("adult")
    on_disk = {p.name for p in DATASETS.iterdir() if (p / "ORIGIN.md").exists()}
    assert on_disk == set(LOADERS) == set(README)


@pytest.mark.parametrize("name", sorted(README))
def test_loader_reads_the_documented_rows_and_classes(name):
    require_dataset(name)
    data = load(name, DATASETS)
    rows, classes = README[name]
    assert len(data.y) == len(data.x) == rows
    assert len(set(data.y)) == classes
    assert data.kind == ("text" if name in TEXT else "tabular" if name in TABULAR else "numeric")
    if data.kind == "tabular":
        f = data.features
        assert is_tabular(data.x) and data.x.shape[1] == len(f.numeric) + len(f.categorical)
        assert n_numeric(data.x) == len(f.numeric)
    elif data.kind == "numeric":
        assert data.x.dtype == np.float64 and np.isfinite(data.x).all()
    else:
        assert all(isinstance(t, str) and t.strip() for t in data.x[:100])

    x_pool, y_pool, x_test, y_test = split(data, seed=0)
    assert len(y_pool) == min(POOL_CAP, len(data.y)) or data.x_test is None
    assert len(y_pool) <= POOL_CAP and len(x_pool) == len(y_pool) and len(x_test) == len(y_test)
    assert set(y_test) <= set(y_pool)  # stratified: no class only in the test part


def test_mushroom_question_marks_are_gaps_not_a_category():
    require_dataset("mushroom")
    data = load("mushroom", DATASETS)
    stalk_root = data.features.categorical.index("c11")
    cells = data.x[:, stalk_root]
    assert sum(c is None for c in cells) == 2_480
    assert "?" not in set(cells)
