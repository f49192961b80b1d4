"""The labeled-features store's files: appends of what is missing only, features in the asked
order, compaction into one file, and a compaction cut short duplicating nothing."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa

from alflow.data.pool import to_table
from alflow.training import labeled_features
from alflow.training.labeled_features import LabeledFeatures

X = np.arange(200 * 4, dtype=np.float32).reshape(200, 4)
IDS = [f"i{n:03d}" for n in range(200)]


def store(tmp_path, fetched: list[list[str]]) -> LabeledFeatures:
    def fetch(ids) -> pa.Table:
        fetched.append(list(ids))
        rows = [IDS.index(i) for i in ids]
        return to_table(list(ids)[::-1], X[rows][::-1])  # any order, as the pool returns them

    return LabeledFeatures(tmp_path / "lf", "embedding", fetch)


def test_appends_only_what_is_missing_and_returns_rows_in_order(tmp_path):
    fetched: list[list[str]] = []
    s = store(tmp_path, fetched)
    assert s.add(IDS[:10]) == 10
    assert s.add(IDS[5:15]) == 5 and fetched[-1] == IDS[10:15]
    assert s.add(IDS[:15]) == 0 and len(fetched) == 2
    wanted = [IDS[12], IDS[3], IDS[20]]  # the last one is not stored yet: fetched and kept
    np.testing.assert_array_equal(s.features(wanted), X[[12, 3, 20]])
    assert s.row_count() == 16


def test_compaction_merges_files_and_a_cut_short_one_duplicates_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(labeled_features, "COMPACT_AT", 4)
    s = store(tmp_path, [])
    for n in range(3):
        s.add(IDS[n * 2 : n * 2 + 2])
    before = sorted(p.name for p in s.folder.glob("*.parquet"))
    keep = tmp_path / "kept"
    shutil.copytree(s.folder, keep)
    s.add(IDS[6:8])  # the fourth file: merged with the three before
    assert [p.name for p in s.folder.glob("*.parquet")] == ["00000001-00000004.parquet"]
    for name in before:  # as if the process died after writing the merge, before the deletes
        shutil.copy(keep / name, s.folder / name)
    assert s.row_count() == 8
    np.testing.assert_array_equal(s.features(IDS[:8]), X[:8])
    assert s.add(IDS[8:9]) == 1
    assert s.row_count() == 9
