"""``alflow init --from``: columns and labels inferred from a small sample, and the config."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from alflow.config import config_from_dict
from alflow.data.infer import classify, infer, read_sample
from alflow.data.ingest import ingest_file
from alflow.errors import InputError
from alflow.ledger import Ledger
from alflow.starter import config_from_file, features_kind, render

N = 60
RNG = np.random.default_rng(0)
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "in", "rain"]


def sentence(i: int) -> str:
    return " ".join(RNG.choice(WORDS, size=5 + i % 7)) + f" {i}"


def table(**extra) -> pd.DataFrame:
    """Strings as a CSV reads them: a number, a category with gaps, labels with gaps."""
    return pd.DataFrame(
        {
            "age": [str(20 + i % 37) for i in range(N)],
            "work": [
                "?" if i % 10 == 0 else ["Private", "State-gov", "Self"][i % 3] for i in range(N)
            ],
            "y": ["" if i % 15 == 0 else ["<=50K", ">50K"][i % 2] for i in range(N)],
            **extra,
        }
    )


def kinds(frame: pd.DataFrame, **kw) -> dict[str, str]:
    return {c.name: c.kind for c in infer(frame, "f.csv", "y", **kw).columns}


def test_numeric_and_categorical_columns_with_gaps_and_the_label_schema():
    inf = infer(table(), "f.csv", "y")
    assert {c.name: c.kind for c in inf.columns} == {"age": "numeric", "work": "categorical"}
    work = inf.columns[1]
    assert work.gaps == 6 and "3 distinct values in 60 sampled rows, 6 gaps ('?')" in work.why
    assert inf.labels == ["<=50K", ">50K"] and inf.label_gaps == 4
    assert sum(inf.label_counts.values()) == 56
    assert features_kind(inf) == ("tabular", [])


def test_text_column_and_the_text_kind_leaves_the_rest_as_comments():
    frame = table(body=[sentence(i) for i in range(N)])
    inf = infer(frame, "f.csv", "y")
    assert kinds(frame)["body"] == "text"
    kind, unused = features_kind(inf)
    assert kind == "text" and [c.name for c in unused] == ["age", "work"]
    cfg = yaml.safe_load(render(inf, "alflow init"))
    assert cfg["data"]["features"] == {"kind": "text", "text_column": "body"}


@pytest.mark.parametrize("as_text", [False, True], ids=["lists", "json-in-csv"])
def test_embedding_list_column(as_text):
    vectors = [RNG.normal(size=4).round(3).tolist() for _ in range(N)]
    frame = table(emb=[json.dumps(v) if as_text else v for v in vectors])
    inf = infer(frame, "f.jsonl", "y")
    assert kinds(frame)["emb"] == "embedding"
    assert "lists of 4 numbers in all 60 sampled rows" in inf.columns[-1].why
    assert features_kind(inf)[0] == "embedding"


def test_id_column_is_checked_and_left_out_of_the_features():
    frame = table(row=[f"r{i}" for i in range(N)])
    with pytest.raises(InputError, match=r"cannot classify column 'row' \(60 distinct short"):
        infer(frame, "f.csv", "y")
    assert kinds(frame, id_column="row") == {"age": "numeric", "work": "categorical"}
    dup = frame.assign(row=["same"] * N)
    with pytest.raises(InputError, match="gives 'same' to different rows"):
        infer(dup, "f.csv", "y", id_column="row")
    gap = frame.assign(row=["" if i == 3 else f"r{i}" for i in range(N)])
    with pytest.raises(InputError, match="is empty in 1 sampled rows"):
        infer(gap, "f.csv", "y", id_column="row")


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (["?"] * N, "no value in the 60 sampled rows"),
        ([str(i) for i in range(1, N + 1)], "consecutive integers 1..60, like a row number"),
        ([f"user{i}@x.org" for i in range(N)], "60 distinct short values"),
        ([[1.0, 2.0] if i % 2 else [1.0, 2.0, 3.0] for i in range(N)], "lists of 2 to 3 numbers"),
        ([[1.0, 2.0] if i % 2 else "abc" for i in range(N)], "mixes lists of numbers"),
        ([{"a": i} for i in range(N)], "holds nested objects"),
    ],
    ids=["all-gaps", "row-number", "emails", "widths", "mixed", "objects"],
)
def test_a_column_it_cannot_classify_is_named_with_what_to_do(values, reason):
    with pytest.raises(InputError) as err:
        infer(table(bad=values), "f.csv", "y")
    message = str(err.value)
    assert "\n" not in message and "cannot classify column 'bad'" in message
    assert reason in message and "--ignore bad" in message
    assert kinds(table(bad=values), ignore=["bad"]) == {"age": "numeric", "work": "categorical"}


def test_two_bad_columns_are_both_named_on_one_line():
    frame = table(a=["?"] * N, b=[f"u{i}" for i in range(N)])
    with pytest.raises(InputError, match=r"cannot classify 2 columns 'a' \(.*; 'b' \("):
        infer(frame, "f.csv", "y")


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (["a"] * (N - 5) + ["?"] * 5, r"1 distinct label\(s\) \('a'\) in 60 sampled rows \(5 unl"),
        ([f"{i * 1.37:.2f}" for i in range(N)], "60 distinct values in 60 labeled sampled rows"),
    ],
)
def test_a_label_column_without_classes_says_so(labels, match):
    with pytest.raises(InputError, match=match):
        infer(table().assign(y=labels), "f.csv", "y")


def test_missing_columns_are_named():
    with pytest.raises(InputError, match=r"no label column 'label'; its columns: \['age'"):
        infer(table(), "f.csv", "label")
    with pytest.raises(InputError, match="no id column 'pid'"):
        infer(table(), "f.csv", "y", id_column="pid")


def test_numbers_read_as_numbers_booleans_as_categories_and_codes_get_a_hint():
    assert classify(pd.Series([1.5, None, 3.0] * 10), "x", 30).kind == "numeric"
    assert classify(pd.Series([True, False] * 10), "x", 20).kind == "categorical"
    codes = classify(pd.Series(["1", "2", "3"] * 10), "x", 30)
    assert codes.kind == "numeric" and "list it under categorical" in codes.why


def test_numeric_only_table_without_gaps_is_kind_numeric():
    frame = pd.DataFrame({"a": RNG.normal(size=N), "b": RNG.normal(size=N), "y": ["p", "q"] * 30})
    inf = infer(frame, "f.parquet", "y")
    cfg = yaml.safe_load(render(inf, "alflow init"))
    assert cfg["data"]["features"] == {"kind": "numeric", "columns": ["a", "b"]}
    assert cfg["data"]["labels"] == ["p", "q"]


def test_numeric_labels_sort_as_numbers():
    frame = table().assign(y=[str(i % 11) for i in range(N)])
    assert infer(frame, "f.csv", "y").labels == [str(i) for i in range(11)]


def test_the_written_config_is_valid_and_quotes_odd_names(tmp_path):
    frame = table().rename(columns={"work": "work class: #1"})
    frame["y"] = ["a/b" if i % 2 else "with space" for i in range(N)]
    path = tmp_path / "my data.csv"
    frame.to_csv(path, index=False)
    text, inf = config_from_file(str(path), "y")
    assert "# categorical: 3 distinct values in 60 sampled rows, 6 gaps ('?')" in text
    raw = yaml.safe_load(text)
    cfg = config_from_dict(raw, environ={})
    assert cfg.project == "my-data" and cfg.data.truth_column == "y"
    assert cfg.data.features.kind == "tabular"
    assert cfg.data.features.numeric == ["age"]
    assert cfg.data.features.categorical == ["work class: #1"]
    assert cfg.data.labels == ["a/b", "with space"] == inf.labels
    assert cfg.data.id_column is None


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_sample_is_bounded(tmp_path, fmt):
    frame = pd.DataFrame({"a": np.arange(500, dtype=float), "y": ["p", "q"] * 250})
    path = tmp_path / f"f.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
        with path.open("a") as f:
            f.write("{not json\n")  # never read: past the sample
    else:
        pq.write_table(pa.Table.from_pandas(frame), path, row_group_size=100)
    sample = read_sample(str(path), rows=100)
    assert len(sample) == 100 and list(sample.columns) == ["a", "y"]


def test_inference_loads_no_heavy_library():
    code = (
        "import sys, alflow.starter; heavy = [m for m in ('sklearn', 'faiss', 'prefect', "
        "'mlflow', 'dask') if m in sys.modules]; assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_written_config_ingests_the_file_it_was_inferred_from(tmp_path, fmt):
    vectors = [RNG.normal(size=3).round(4).tolist() for _ in range(N)]
    frames = {
        "csv": table(),  # a table with '?' gaps, and '' for unlabeled rows
        "jsonl": table(body=[sentence(i) for i in range(N)]),
        "parquet": pd.DataFrame({"emb": vectors, "y": ["p", "q"] * (N // 2)}),
    }
    path = tmp_path / f"f.{fmt}"
    frame = frames[fmt]
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    text, _ = config_from_file(str(path), "y")
    cfg = config_from_dict(yaml.safe_load(text), environ={})
    assert (
        cfg.data.features.kind == {"csv": "tabular", "jsonl": "text", "parquet": "embedding"}[fmt]
    )
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        report = ingest_file(str(path), cfg.data, ledger, str(tmp_path / "pool"))
        assert report.rows_added == N
    finally:
        ledger.close()
