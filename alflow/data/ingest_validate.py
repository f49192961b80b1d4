"""Validating ingested chunks: missing columns, wrong types, NaN features, labels outside the
schema, one id with two contents; each problem named with file, line or row, and column."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from alflow.config import DataConfig
from alflow.data.coerce import not_number_hint, tabular_block
from alflow.data.ingest_read import Chunk
from alflow.errors import InputError, located

MAX_PROBLEMS = 50


class Validator:
    """Turns raw chunks into (ids, features, truth, content hashes), collecting problems."""

    def __init__(self, data: DataConfig, source: str, target: str = "pool") -> None:
        self.data = data
        self.source = source
        self.problems: list[str] = []
        self.n_problems = 0  # all of them; only the first MAX_PROBLEMS are kept
        f = data.features
        self.kind = f.kind
        self.feature_columns = (
            f.model_columns
            if f.kind in ("numeric", "tabular")
            else [f.text_column or f.embedding_column]
        )
        self.required = [*self.feature_columns]
        if data.id_column:
            self.required.append(data.id_column)
        if target == "eval":
            if not data.truth_column:
                raise InputError(
                    f"{source}: an evaluation set needs its label column: set data.truth_column"
                )
            self.required.append(data.truth_column)
        self.has_truth = False  # pools may carry ground truth (for simulations) or not
        self.target = target
        self.gap_labels = {m.strip() for m in f.missing_values}  # a pool row's gap: unlabeled
        self.labels = set(data.labels)
        self.width: int | None = None  # embedding width, fixed by the first vector

    def problem(self, pos: int, unit: str, column: str | None, message: str) -> None:
        self.n_problems += 1
        if len(self.problems) < MAX_PROBLEMS:
            field = f"column {column!r}" if column else None
            self.problems.append(located(self.source, int(pos), field, message, unit))

    def check_columns(self, frame: pd.DataFrame) -> None:
        self.has_truth = bool(self.data.truth_column) and self.data.truth_column in frame.columns
        missing = [c for c in self.required if c not in frame.columns]
        if missing:
            raise InputError(
                f"{self.source}: missing column(s) {missing}; found {list(frame.columns)[:30]}"
            )

    def features(self, chunk: Chunk) -> tuple[np.ndarray | list[str], np.ndarray]:
        """Parsed features and a mask of the rows that passed."""
        ok = np.ones(len(chunk.frame), dtype=bool)
        parse = {
            "numeric": self._numeric,
            "text": self._texts,
            "embedding": self._embeddings,
            "tabular": self._tabular,
        }
        return parse[self.kind](chunk, ok), ok

    def _numeric(self, chunk: Chunk, ok: np.ndarray) -> np.ndarray:
        x = np.empty((len(chunk.frame), len(self.feature_columns)), dtype=np.float32)
        for j, col in enumerate(self.feature_columns):
            raw = chunk.frame[col]
            values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isfinite(values)
            for i in np.flatnonzero(bad):
                v = raw.iloc[i]
                self.problem(chunk.positions[i], chunk.unit, col, not_number_hint(v, col))
            ok &= ~bad
            x[:, j] = np.where(bad, 0.0, values)
        return x

    def _tabular(self, chunk: Chunk, ok: np.ndarray) -> np.ndarray:
        def report(i: int, column: str, message: str) -> None:
            self.problem(chunk.positions[i], chunk.unit, column, message)
            ok[i] = False

        return tabular_block(chunk.frame, self.data.features, report)

    def _texts(self, chunk: Chunk, ok: np.ndarray) -> list[str]:
        col = self.feature_columns[0]
        texts = chunk.frame[col].tolist()
        for i, v in enumerate(texts):
            if not isinstance(v, str) or not v.strip():
                msg = "missing text" if is_missing(v) else f"{v!r} is not a string"
                self.problem(chunk.positions[i], chunk.unit, col, msg)
                ok[i] = False
                texts[i] = ""
        return texts

    def _embeddings(self, chunk: Chunk, ok: np.ndarray) -> np.ndarray:
        col = self.feature_columns[0]
        x = vector_column(chunk.arrow, col)
        if x is not None and self.width in (None, x.shape[1]):
            self.width = x.shape[1]
            bad = ~np.isfinite(x).all(axis=1)
            for i in np.flatnonzero(bad):
                msg = "bad embedding: contains NaN or infinity"
                self.problem(chunk.positions[i], chunk.unit, col, msg)
            ok &= ~bad
            x[bad] = 0.0
            return x.astype(np.float32, copy=False)
        vectors: list[np.ndarray | None] = []
        for i, v in enumerate(chunk.frame[col].tolist()):
            try:
                if isinstance(v, str):
                    v = json.loads(v)
                arr = np.asarray(v, dtype=np.float64)
                if arr.ndim != 1 or arr.size == 0:
                    raise ValueError("not a flat list of numbers")
                if self.width is None:
                    self.width = arr.size
                if arr.size != self.width:
                    raise ValueError(f"has {arr.size} dimensions, expected {self.width}")
                if not np.isfinite(arr).all():
                    raise ValueError("contains NaN or infinity")
                vectors.append(arr.astype(np.float32))
            except (ValueError, TypeError) as err:
                self.problem(chunk.positions[i], chunk.unit, col, f"bad embedding: {err}")
                ok[i] = False
                vectors.append(None)
        width = self.width or 1
        x = np.zeros((len(vectors), width), dtype=np.float32)
        for i, vec in enumerate(vectors):
            if vec is not None:
                x[i] = vec
        return x

    def truth(self, chunk: Chunk, ok: np.ndarray) -> list[str | None] | None:
        """The truth column's labels; in a pool, a gap (``missing_values``) is no truth."""
        col = self.data.truth_column
        if not self.has_truth:
            return None
        values: list[str | None] = [label_text(v) for v in chunk.frame[col].tolist()]
        for i, v in enumerate(values):
            if self.target == "pool" and v in self.gap_labels and v not in self.labels:
                values[i] = None
            elif v not in self.labels:
                self.problem(
                    chunk.positions[i],
                    chunk.unit,
                    col,
                    f"label {v!r} is not in the label schema {sorted(self.labels)}",
                )
                ok[i] = False
        return values

    def ids(self, chunk: Chunk, ok: np.ndarray, content: list[str]) -> list[str]:
        col = self.data.id_column
        if not col:
            return content
        ids = []
        for i, v in enumerate(chunk.frame[col].tolist()):
            s = label_text(v)
            if not s:
                self.problem(chunk.positions[i], chunk.unit, col, "missing id")
                ok[i] = False
            ids.append(s)
        return ids

    def dedupe(self, chunk: Chunk, ok: np.ndarray, ids: list[str], hashes: list[str], seen: dict):
        """The rows to keep: exact repeats within the file dropped (``seen``: id -> (hash,
        position) of the rows so far); one id with two contents reported."""
        keep = []
        for i in np.flatnonzero(ok):
            prev = seen.get(ids[i])
            if prev is None:
                seen[ids[i]] = (hashes[i], int(chunk.positions[i]))
                keep.append(int(i))
            elif prev[0] != hashes[i]:
                what = f"id {ids[i]!r}" if self.data.id_column else "the same features"
                self.problem(
                    chunk.positions[i],
                    chunk.unit,
                    self.data.id_column,
                    f"{what} appeared at {chunk.unit} {prev[1]} with different content",
                )
        return keep


def vector_column(batch: pa.RecordBatch | None, column: str) -> np.ndarray | None:
    """A list-of-numbers column with one width and no nulls as an ``(n, d)`` array in one
    step (no Python object per row); None when it is anything else (checked row by row)."""
    if batch is None or column not in batch.schema.names:
        return None
    arr = batch.column(column)
    kind = arr.type
    if not (pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind)) or not len(arr):
        return None
    if arr.null_count or not (
        pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)
    ):
        return None
    lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
    if lengths[0] == 0 or (lengths != lengths[0]).any() or arr.flatten().null_count:
        return None
    flat = arr.flatten().to_numpy(zero_copy_only=False)
    return flat.astype(np.float64 if flat.dtype != np.float32 else np.float32).reshape(
        len(arr), int(lengths[0])
    )


def is_missing(v: object) -> bool:
    return v is None or v == "" or (isinstance(v, float) and math.isnan(v))


def label_text(v: object) -> str:
    """Canonical string of an id or label: ints stay ints even when read as floats."""
    if is_missing(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()
