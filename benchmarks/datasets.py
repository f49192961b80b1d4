"""Loaders for the real public datasets in ``../shared/datasets`` (see its README.md).

    from benchmarks.datasets import load, split
    data = load("adult", Path("../shared/datasets"))
    pool_x, pool_y, test_x, test_y = split(data, seed=0)

``load`` returns the raw official parts (cached per process); ``split`` caps and subsamples them
with a seed: the official test split where there is one, else a stratified hold-out. Text features
are 1-D object arrays of strings, numeric ones 2-D float64 arrays, and a mixed table (adult) is
read from its raw cells as ingest reads a CSV (``alflow.coerce.tabular_block``: numbers, category
texts, gaps) into alflow's tabular block, with the ``data.features`` config a user would write;
labels are 1-D string arrays.
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

from alflow.coerce import tabular_block
from alflow.config import FeaturesConfig

TEXT = frozenset({"sms_spam", "20newsgroups"})  # the datasets of kind "text"
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


LOADERS: dict[str, Callable[[Path], Dataset]] = {
    "sms_spam": _sms_spam,
    "20newsgroups": _20newsgroups,
    "adult": _adult,
    "letter_recognition": _letter_recognition,
    "pendigits": _pendigits,
    "covertype_sample_15k": _covertype,
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
