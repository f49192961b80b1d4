"""Loaders for the real public datasets in ``../shared/datasets`` (see its README.md).

    from benchmarks.datasets import load, split
    data = load("adult", Path("../shared/datasets"))
    pool_x, pool_y, test_x, test_y = split(data, seed=0)

``load`` returns the raw official parts (cached per process); ``split`` caps and subsamples them
with a seed: the official test split where there is one, else a stratified hold-out. Text features
are 1-D object arrays of strings, numeric ones 2-D float64 arrays, and a mixed table (adult) is
read from its raw cells as ingest reads a CSV (``alflow.data.coerce.tabular_block``: numbers,
category texts, gaps) into alflow's tabular block, with the ``data.features`` config a user would
write; labels are 1-D string arrays.
"""

from __future__ import annotations

import csv
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from alflow.config import FeaturesConfig
from alflow.data.coerce import tabular_block

TEXT = frozenset({"sms_spam", "20newsgroups", "ag_news_test", "imdb_acl"})  # kind "text"
TABULAR = frozenset({"adult", "kddcup99_10pct", "mushroom", "electricity", "wine_quality"})
POOL_CAP = 20_000
TEST_CAP = 5_000
HOLDOUT_FRACTION = 0.25  # test share for datasets without an official test split


@dataclass(frozen=True)
class Dataset:
    """One dataset's official parts; ``x_test`` is None when there is no official test split."""

    name: str
    kind: str  # "text", "numeric" or "tabular" (alflow's data.features.kind)
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    features: FeaturesConfig | None = None  # a tabular table's columns, as a user's config


def _sms_spam(root: Path) -> Dataset:
    frame = pd.read_csv(
        root / "sms_spam" / "SMSSpamCollection",
        sep="\t",
        header=None,
        names=["label", "text"],
        quoting=csv.QUOTE_NONE,  # quotes inside messages would merge rows otherwise
        dtype=str,
        keep_default_na=False,
    )
    return Dataset("sms_spam", "text", _texts(frame["text"]), _labels(frame["label"]))


def _20newsgroups(root: Path) -> Dataset:
    """The 'bydate' tarball: members ``.../20news-bydate-<split>/<label>/<file>``, latin-1."""
    parts: dict[str, tuple[list[str], list[str]]] = {"train": ([], []), "test": ([], [])}
    with tarfile.open(root / "20newsgroups" / "20news-bydate.tar.gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            *_, split_dir, label, _name = member.name.split("/")
            split_name = "train" if split_dir.endswith("train") else "test"
            handle = tar.extractfile(member)
            assert handle is not None
            parts[split_name][0].append(handle.read().decode("latin-1"))
            parts[split_name][1].append(label)
    (x, y), (x_test, y_test) = parts["train"], parts["test"]
    return Dataset("20newsgroups", "text", _texts(x), _labels(y), _texts(x_test), _labels(y_test))


ADULT_NUMERIC = [
    "age",
    "fnlwgt",
    "education_num",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
]
ADULT_CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]


def _adult(root: Path) -> Dataset:
    """The raw files' cells as strings, through ingest's tabular coercion: six numeric and eight
    categorical columns, ``?`` a gap (imputed in the model pipeline, as in a user's config)."""
    features = FeaturesConfig(kind="tabular", numeric=ADULT_NUMERIC, categorical=ADULT_CATEGORICAL)
    parts = []
    for name in ("adult.data", "adult.test"):
        frame = pd.read_csv(
            root / "adult" / name, dtype=str, keep_default_na=False, skipinitialspace=True
        )
        labels = frame.pop("ltgt50k").str.rstrip(".")  # official test labels end with "."
        parts.append((tabular_block(frame, features, _refuse), _labels(labels)))
    (x, y), (x_test, y_test) = parts
    return Dataset("adult", "tabular", x, y, x_test, y_test, features)


def _refuse(row: int, column: str, message: str) -> None:
    raise ValueError(f"adult row {row}, column {column!r}: {message}")


def _letter_recognition(root: Path) -> Dataset:
    frame = pd.read_csv(root / "letter_recognition" / "letter-recognition.data", header=None)
    return Dataset("letter_recognition", "numeric", _numbers(frame.iloc[:, 1:]), _labels(frame[0]))


def _pendigits(root: Path) -> Dataset:
    train, test = (
        pd.read_csv(root / "pendigits" / f"pendigits.{ext}", header=None, skipinitialspace=True)
        for ext in ("tra", "tes")
    )
    return Dataset(
        "pendigits",
        "numeric",
        _numbers(train.iloc[:, :16]),
        _labels(train[16]),
        _numbers(test.iloc[:, :16]),
        _labels(test[16]),
    )


def _covertype(root: Path) -> Dataset:
    frame = pd.read_csv(root / "covertype_sample_15k" / "covtype.csv")
    y = _labels(frame.pop("Cover_Type"))
    return Dataset("covertype_sample_15k", "numeric", _numbers(frame), y)


def _skin_segmentation(root: Path) -> Dataset:
    frame = pd.read_csv(root / "skin_segmentation" / "Skin_NonSkin.txt", sep="\t", header=None)
    return Dataset("skin_segmentation", "numeric", _numbers(frame.iloc[:, :3]), _labels(frame[3]))


def _spambase(root: Path) -> Dataset:
    frame = pd.read_csv(root / "spambase" / "spambase.data", header=None)
    return Dataset("spambase", "numeric", _numbers(frame.iloc[:, :57]), _labels(frame[57]))


def _magic_gamma(root: Path) -> Dataset:
    frame = pd.read_csv(root / "magic_gamma" / "magic04.data")
    y = _labels(frame.pop("class"))
    return Dataset("magic_gamma", "numeric", _numbers(frame), y)


def _satimage(root: Path) -> Dataset:
    train, test = (
        pd.read_csv(root / "satimage" / f"sat.{ext}", sep=" ", header=None)
        for ext in ("trn", "tst")
    )
    return Dataset(
        "satimage",
        "numeric",
        _numbers(train.iloc[:, :36]),
        _labels(train[36]),
        _numbers(test.iloc[:, :36]),
        _labels(test[36]),
    )


def _ag_news_test(root: Path) -> Dataset:
    """Title and description joined, as a user's text column would hold a news item."""
    frame = pd.read_csv(root / "ag_news_test" / "test.csv", dtype=str, keep_default_na=False)
    text = frame["title"] + ". " + frame["description"].str.replace("\\", " ", regex=False)
    return Dataset("ag_news_test", "text", _texts(text), _labels(frame["label"]))


def _imdb_acl(root: Path) -> Dataset:
    """Members ``aclImdb/<split>/<pos|neg>/<id>_<rating>.txt``: the official 25k/25k split."""
    parts: dict[str, tuple[list[str], list[str]]] = {"train": ([], []), "test": ([], [])}
    with tarfile.open(root / "imdb_acl" / "aclImdb_labeled.tar.gz") as tar:
        for member in tar:
            path = member.name.split("/")
            if not member.isfile() or len(path) != 4 or path[1] not in parts:
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            parts[path[1]][0].append(handle.read().decode("utf-8"))
            parts[path[1]][1].append(path[2])
    (x, y), (x_test, y_test) = parts["train"], parts["test"]
    return Dataset("imdb_acl", "text", _texts(x), _labels(y), _texts(x_test), _labels(y_test))


def _kddcup99(root: Path) -> Dataset:
    """The usual task, normal vs attack, on the 145,586 unique rows (the file repeats 348,435);
    three categorical columns (protocol, service, flag)."""
    folder = root / "kddcup99_10pct"
    names = [
        line.split(":")[0]
        for line in (folder / "kddcup.names").read_text().splitlines()
        if ":" in line
    ]
    frame = pd.read_csv(
        folder / "kddcup.data_10_percent.gz", header=None, names=[*names, "label"], dtype=str
    ).drop_duplicates(ignore_index=True)
    y = np.where(frame.pop("label") == "normal.", "normal", "attack")
    categorical = ["protocol_type", "service", "flag"]
    numeric = [c for c in names if c not in categorical]
    return _table("kddcup99_10pct", frame, y, numeric, categorical)


def _mushroom(root: Path) -> Dataset:
    """22 one-letter categorical columns; ``?`` (2,480 cells, all in stalk-root) is a gap."""
    frame = pd.read_csv(
        root / "mushroom" / "agaricus-lepiota.data", header=None, dtype=str, keep_default_na=False
    )
    y = frame.pop(0)
    frame.columns = [f"c{j}" for j in frame.columns]
    return _table("mushroom", frame, y, [], list(frame.columns))


def _electricity(root: Path) -> Dataset:
    """Seven numeric columns and the day of week as a category (its features.json)."""
    frame = pd.read_csv(root / "electricity" / "electricity.csv", dtype=str)
    y = frame.pop("class")
    return _table("electricity", frame, y, [c for c in frame.columns if c != "day"], ["day"])


def _wine_quality(root: Path) -> Dataset:
    """Red and white wines together, the colour a category; quality 3-9 the class."""
    frame = pd.concat(
        [
            pd.read_csv(root / "wine_quality" / f"winequality-{c}.csv", sep=";", dtype=str).assign(
                color=c
            )
            for c in ("red", "white")
        ],
        ignore_index=True,
    )
    y = frame.pop("quality")
    return _table("wine_quality", frame, y, [c for c in frame.columns if c != "color"], ["color"])


def _table(
    name: str, frame: pd.DataFrame, y, numeric: list[str], categorical: list[str]
) -> Dataset:
    """A raw table's cells through ingest's tabular coercion, with the config a user would write."""
    features = FeaturesConfig(kind="tabular", numeric=numeric, categorical=categorical)

    def refuse(row: int, column: str, message: str) -> None:
        raise ValueError(f"{name} row {row}, column {column!r}: {message}")

    return Dataset(
        name, "tabular", tabular_block(frame, features, refuse), _labels(y), features=features
    )


LOADERS: dict[str, Callable[[Path], Dataset]] = {
    "sms_spam": _sms_spam,
    "20newsgroups": _20newsgroups,
    "adult": _adult,
    "letter_recognition": _letter_recognition,
    "pendigits": _pendigits,
    "covertype_sample_15k": _covertype,
    "kddcup99_10pct": _kddcup99,
    "skin_segmentation": _skin_segmentation,
    "ag_news_test": _ag_news_test,
    "imdb_acl": _imdb_acl,
    "spambase": _spambase,
    "magic_gamma": _magic_gamma,
    "satimage": _satimage,
    "mushroom": _mushroom,
    "electricity": _electricity,
    "wine_quality": _wine_quality,
}


@cache
def load(name: str, root: Path) -> Dataset:
    """The named dataset's official parts, read once per process."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(LOADERS)}") from None
    return loader(Path(root))


def split(
    data: Dataset, seed: int, pool_cap: int = POOL_CAP, test_cap: int = TEST_CAP
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_pool, y_pool, x_test, y_test), capped and subsampled (stratified) with ``seed``."""
    if data.x_test is None or data.y_test is None:
        n_test = min(test_cap, round(HOLDOUT_FRACTION * len(data.y)))
        x_pool, x_test, y_pool, y_test = train_test_split(
            data.x, data.y, test_size=n_test, stratify=data.y, random_state=seed
        )
    else:
        x_pool, y_pool, x_test, y_test = data.x, data.y, data.x_test, data.y_test
    x_pool, y_pool = _subsample(x_pool, y_pool, pool_cap, seed)
    x_test, y_test = _subsample(x_test, y_test, test_cap, seed)
    return x_pool, y_pool, x_test, y_test


def _subsample(x: np.ndarray, y: np.ndarray, cap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(y) <= cap:
        return x, y
    x_kept, _, y_kept, _ = train_test_split(x, y, train_size=cap, stratify=y, random_state=seed)
    return x_kept, y_kept


def _texts(values) -> np.ndarray:
    return np.asarray(list(values), dtype=object)


def _labels(values) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=object)


def _numbers(frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy(dtype=float)
