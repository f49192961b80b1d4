"""Ingest: every bad-input path gives file, line or row, and column, and changes nothing."""

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alflow.config import config_from_dict
from alflow.data.ingest import ingest_file
from alflow.data.ingest_read import read_chunks, row_count
from alflow.data.ingest_validate import vector_column
from alflow.data.pool import features_of, read_partition
from alflow.errors import InputError
from alflow.ledger import Ledger


def data_config(**overrides):
    data = {
        "id_column": "id",
        "truth_column": "y",
        "features": {"kind": "numeric", "columns": ["a", "b"]},
        "labels": ["neg", "pos"],
        "partition_rows": 100,
        "read_chunk_rows": 100,
    }
    data.update(overrides)
    return config_from_dict({"data": data}, environ={}).data


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield led
    led.close()


def frame(n=250, start=0):
    rng = np.random.default_rng(start)
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(start, start + n)],
            "a": rng.normal(size=n).round(4),
            "b": rng.normal(size=n).round(4),
            "y": np.where(rng.random(n) > 0.5, "pos", "neg"),
        }
    )


def pool_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "pool").glob("*.parquet")) if (tmp_path / "pool").exists() else []


def ingest(path, ledger, tmp_path, **overrides):
    return ingest_file(str(path), data_config(**overrides), ledger, str(tmp_path / "pool"))


def assert_nothing_ingested(ledger, tmp_path):
    assert ledger.partitions() == []
    assert ledger.state_counts() == {}
    assert pool_files(tmp_path) == []


def test_csv_ingest_in_chunks_is_complete_and_partitioned(tmp_path, ledger):
    path = tmp_path / "in.csv"
    frame(250).to_csv(path, index=False)
    report = ingest(path, ledger, tmp_path)
    assert (report.rows_read, report.rows_added) == (250, 250)
    assert report.partitions == 3  # 100-row partitions from 100-row chunks
    assert ledger.state_counts() == {"unlabeled": 250}
    table = read_partition(str(pool_files(tmp_path)[0]))
    assert table.column_names == ["item_id", "x", "truth"]
    assert features_of(table, "numeric").shape == (100, 2)


def test_reingest_adds_nothing_and_new_file_adds_only_new(tmp_path, ledger):
    first, second = tmp_path / "a.csv", tmp_path / "b.jsonl"
    frame(150).to_csv(first, index=False)
    ingest(first, ledger, tmp_path)
    again = ingest(first, ledger, tmp_path)
    assert again.rows_added == 0 and again.partitions == 0
    overlap = pd.concat([frame(150).iloc[100:], frame(60, start=150)])
    overlap.to_json(second, orient="records", lines=True)
    report = ingest(second, ledger, tmp_path)
    assert (report.rows_read, report.rows_added) == (110, 60)
    assert ledger.state_counts() == {"unlabeled": 210}


def test_parquet_input_and_content_hash_ids(tmp_path, ledger):
    path = tmp_path / "in.parquet"
    frame(120).drop(columns=["id"]).to_parquet(path)
    report = ingest(path, ledger, tmp_path, id_column=None)
    assert report.rows_added == 120
    ids = read_partition(str(pool_files(tmp_path)[0]), ["item_id"]).column("item_id").to_pylist()
    assert all(len(i) == 32 for i in ids)
    assert ingest(path, ledger, tmp_path, id_column=None).rows_added == 0


def test_text_and_embedding_pools(tmp_path, ledger):
    texts = tmp_path / "t.jsonl"
    texts.write_text(
        "".join(
            json.dumps({"id": f"t{i}", "msg": f"hello {i}", "y": "pos"}) + "\n" for i in range(5)
        )
    )
    report = ingest(texts, ledger, tmp_path, features={"kind": "text", "text_column": "msg"})
    assert report.rows_added == 5
    emb = tmp_path / "e.csv"
    pd.DataFrame(
        {"id": ["e1", "e2"], "vec": ["[0.1, 0.2, 0.3]", "[1, 2, 3]"], "y": ["neg", "pos"]}
    ).to_csv(emb, index=False)
    report = ingest(
        emb, ledger, tmp_path, features={"kind": "embedding", "embedding_column": "vec"}
    )
    assert report.rows_added == 2


def test_missing_column_is_named(tmp_path, ledger):
    path = tmp_path / "in.csv"
    frame(10).drop(columns=["b"]).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"in\.csv: missing column\(s\) \['b'\]"):
        ingest(path, ledger, tmp_path)
    assert_nothing_ingested(ledger, tmp_path)


def test_wrong_type_names_line_and_column_and_changes_nothing(tmp_path, ledger):
    path = tmp_path / "in.csv"
    df = frame(250)
    df["a"] = df["a"].astype(object)
    df.loc[230, "a"] = "abc"  # line 232: header is line 1, row 0 is line 2
    df.to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        ingest(path, ledger, tmp_path)
    assert "in.csv:232: column 'a': 'abc' is not a finite number" in str(err.value)
    assert_nothing_ingested(ledger, tmp_path)


def test_nan_feature_is_reported(tmp_path, ledger):
    path = tmp_path / "in.csv"
    df = frame(20)
    df.loc[4, "b"] = np.nan
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"in\.csv:6: column 'b': missing value \(NaN\)"):
        ingest(path, ledger, tmp_path)
    assert_nothing_ingested(ledger, tmp_path)


def test_parquet_problem_names_the_row(tmp_path, ledger):
    path = tmp_path / "in.parquet"
    df = frame(20)
    df.loc[7, "a"] = np.inf
    df.to_parquet(path)
    with pytest.raises(InputError, match=r"in\.parquet: row 8: column 'a'"):
        ingest(path, ledger, tmp_path)


def test_label_outside_schema_is_reported(tmp_path, ledger):
    path = tmp_path / "in.csv"
    df = frame(20)
    df.loc[2, "y"] = "maybe"
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"in\.csv:4: column 'y': label 'maybe' is not in"):
        ingest(path, ledger, tmp_path)


def test_a_pool_row_with_a_gap_for_its_label_is_unlabeled_but_an_eval_row_is_refused(
    tmp_path, ledger
):
    path = tmp_path / "in.csv"
    df = frame(20)
    df.loc[2, "y"], df.loc[5, "y"] = "?", ""
    df.to_csv(path, index=False)
    assert ingest(path, ledger, tmp_path).rows_added == 20
    truth = read_partition(str(pool_files(tmp_path)[0])).column("truth").to_pylist()
    assert truth[2] is None and truth[5] is None and set(truth) - {None} == {"neg", "pos"}
    df["id"] = [f"e{i}" for i in range(20)]
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"in\.csv:4: column 'y': label '\?' is not in"):
        ingest_file(str(path), data_config(), ledger, str(tmp_path / "eval"), target="eval")


def test_duplicate_id_with_different_content_in_one_file(tmp_path, ledger):
    path = tmp_path / "in.csv"
    df = frame(20)
    df.loc[9, "id"] = "r3"
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"in\.csv:11: column 'id': id 'r3' appeared at line 5"):
        ingest(path, ledger, tmp_path)
    assert_nothing_ingested(ledger, tmp_path)


def test_exact_duplicate_rows_are_one_item(tmp_path, ledger):
    path = tmp_path / "in.csv"
    df = frame(20)
    pd.concat([df, df.iloc[:5]]).to_csv(path, index=False)
    assert ingest(path, ledger, tmp_path).rows_added == 20


def test_duplicate_id_against_the_pool_changes_nothing(tmp_path, ledger):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    frame(30).to_csv(first, index=False)
    ingest(first, ledger, tmp_path)
    files_before = pool_files(tmp_path)
    changed = frame(30, start=25)
    changed.loc[0, "id"] = "r3"  # r3 exists with other values
    changed.to_csv(second, index=False)
    with pytest.raises(InputError, match=r"b\.csv:2: column 'id': id 'r3' is already in the pool"):
        ingest(second, ledger, tmp_path)
    assert ledger.state_counts() == {"unlabeled": 30}
    assert pool_files(tmp_path) == files_before


def test_malformed_jsonl_line_is_reported(tmp_path, ledger):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "a": 1, "b": 2, "y": "pos"}\n{"id": "b", "a": 1,\n')
    with pytest.raises(InputError, match=r"in\.jsonl:2: not valid JSON"):
        ingest(path, ledger, tmp_path)
    assert_nothing_ingested(ledger, tmp_path)


def test_jsonl_nan_constant_is_rejected(tmp_path, ledger):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "a": NaN, "b": 2, "y": "pos"}\n')
    with pytest.raises(InputError, match=r"in\.jsonl:1: not valid JSON: NaN is not allowed"):
        ingest(path, ledger, tmp_path)


def test_bad_embedding_dimension(tmp_path, ledger):
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"id": "1", "v": [1, 2], "y": "pos"}\n{"id": "2", "v": [1, 2, 3], "y": "pos"}\n'
    )
    with pytest.raises(
        InputError, match=r"e\.jsonl:2: column 'v': bad embedding: has 3 dimensions"
    ):
        ingest(path, ledger, tmp_path, features={"kind": "embedding", "embedding_column": "v"})


def test_empty_and_unknown_files(tmp_path, ledger):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        ingest(empty, ledger, tmp_path)
    with pytest.raises(InputError, match="unknown file type"):
        ingest(tmp_path / "pool.xlsx", ledger, tmp_path)
    assert_nothing_ingested(ledger, tmp_path)


def test_pool_on_an_fsspec_url(tmp_path, ledger):
    path = tmp_path / "in.csv"
    frame(120).to_csv(path, index=False)
    report = ingest_file(str(path), data_config(), ledger, "memory://alflow-test/pool")
    assert report.rows_added == 120
    names = [n for n, _ in ledger.partitions()]
    table = read_partition(f"memory://alflow-test/pool/{names[0]}")
    assert table.num_rows == 100 and table.column_names == ["item_id", "x", "truth"]


def test_pools_may_come_without_labels_but_evaluation_sets_may_not(tmp_path, ledger):
    unlabeled = tmp_path / "pool.csv"
    frame(30).drop(columns=["y"]).to_csv(unlabeled, index=False)
    assert ingest(unlabeled, ledger, tmp_path).rows_added == 30
    names = [n for n, _ in ledger.partitions()]
    assert "truth" not in read_partition(str(tmp_path / "pool" / names[0])).column_names
    labeled = tmp_path / "eval.csv"
    frame(10, start=100).to_csv(labeled, index=False)
    report = ingest_file(str(labeled), data_config(), ledger, str(tmp_path / "eval"), target="eval")
    assert report.rows_added == 10
    with pytest.raises(InputError, match=r"missing column\(s\) \['y'\]"):
        ingest_file(str(unlabeled), data_config(), ledger, str(tmp_path / "eval"), target="eval")
    with pytest.raises(InputError, match="an evaluation set needs its label column"):
        ingest_file(
            str(labeled),
            data_config(truth_column=None),
            ledger,
            str(tmp_path / "eval"),
            target="eval",
        )


def test_an_item_cannot_be_in_the_pool_and_the_evaluation_set(tmp_path, ledger):
    path = tmp_path / "in.csv"
    frame(20).to_csv(path, index=False)
    ingest(path, ledger, tmp_path)
    with pytest.raises(InputError, match=r"item 'r0' is already in the pool"):
        ingest_file(str(path), data_config(), ledger, str(tmp_path / "eval"), target="eval")
    assert ledger.eval_ids() == []


def test_parquet_embeddings_parse_in_one_step_and_bad_rows_are_named(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    x[2, 1] = np.nan
    batch = pa.record_batch(
        {"e": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 3), "id": list("abcd")}
    )
    got = vector_column(batch, "e")
    assert got.shape == (4, 3) and np.array_equal(got[[0, 1, 3]], x[[0, 1, 3]])
    ragged = pa.record_batch({"e": pa.array([[1.0, 2.0], [3.0]])})
    assert vector_column(ragged, "e") is None  # checked row by row instead
    path = tmp_path / "v.parquet"
    pq.write_table(pa.Table.from_batches([batch]), path)
    assert row_count(str(path)) == 4 and row_count(str(tmp_path / "v.csv")) is None


def _row_groups_file(path: Path, groups: int, rows: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, pa.schema([("v", pa.list_(pa.float32(), dim))])) as writer:
        for _ in range(groups):
            x = rng.normal(size=rows * dim).astype(np.float32)
            v = pa.FixedSizeListArray.from_arrays(pa.array(x), dim)
            writer.write_table(pa.table({"v": v}))


def test_parquet_chunks_number_every_row_once_across_row_groups(tmp_path):
    path = tmp_path / "groups.parquet"
    _row_groups_file(path, groups=3, rows=250, dim=2)
    chunks = list(read_chunks(str(path), 100))
    assert all(len(c.frame) <= 100 for c in chunks)
    positions = np.concatenate([c.positions for c in chunks])
    assert positions.tolist() == list(range(1, 751))
    assert sum(c.arrow.num_rows for c in chunks) == 750


def test_parquet_reading_holds_one_row_group_not_the_file(tmp_path):
    """One reader over the whole file kept each row group's read bytes until the file ended
    (traced: 50 MB per 100k rows x 128); memory must stay with one row group."""
    path = tmp_path / "big.parquet"
    groups, rows, dim = 16, 8_000, 64
    _row_groups_file(path, groups, rows, dim)
    group_bytes = rows * dim * 4
    tracemalloc.start()
    try:
        for _chunk in read_chunks(str(path), 3_000):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * group_bytes, f"{peak / group_bytes:.1f} row groups held at once"


@pytest.mark.parametrize("name", ["gone.parquet", "gone.csv", "gone.jsonl"])
def test_a_missing_file_is_one_clear_error(tmp_path, name):
    with pytest.raises(InputError, match=rf"{name.replace('.', r'[.]')}: file not found"):
        list(read_chunks(str(tmp_path / name), 100))


def test_a_file_that_is_not_parquet_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_text("not parquet\n")
    with pytest.raises(InputError, match=r"bad\.parquet: not a readable Parquet file"):
        list(read_chunks(str(path), 100))
