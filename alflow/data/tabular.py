"""Mixed tabular rows: numeric and categorical columns, with gaps, in the pool and in memory.

In memory a tabular block is a 2-D object array: the numeric columns first (Python floats,
``nan`` where missing), then the categorical ones (strings, ``None`` where missing), in the
order of ``data.features.numeric`` and ``data.features.categorical``. In a partition the
numeric columns are the float32 vector column ``x`` (NaN where missing) and the categorical
ones a list-of-strings column ``cat``. The encoding (imputation, scaling, one-hot) is not done
here: it lives in the model pipeline (``alflow.data.features``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from alflow.data.vector_layout import vectors_array

CATEGORIES = "cat"


def is_tabular(x) -> bool:
    """Whether ``x`` is a tabular block (a 2-D object array)."""
    return isinstance(x, np.ndarray) and x.dtype == object and x.ndim == 2


def n_numeric(x: np.ndarray) -> int:
    """How many of a block's leading columns are numeric (floats; categoricals are str/None)."""
    if not len(x):
        return 0
    first = x[0]
    return next((j for j, v in enumerate(first) if not isinstance(v, float)), len(first))


def block(numeric: np.ndarray, categorical: Sequence[Sequence[str | None]]) -> np.ndarray:
    """The object block of float ``numeric`` (n, dn) and categorical rows (n, dc)."""
    n, dn = numeric.shape
    dc = len(categorical[0]) if len(categorical) else 0
    out = np.empty((n, dn + dc), dtype=object)
    out[:, :dn] = numeric.astype(np.float64)
    if dc:
        out[:, dn:] = np.array(list(categorical), dtype=object).reshape(n, dc)
    return out


def columns_of(x: np.ndarray) -> dict[str, pa.Array]:
    """A block as partition columns: ``x`` (float32 vectors, when there are numeric columns)
    and ``cat`` (lists of strings, when there are categorical ones)."""
    dn = n_numeric(x)
    cols: dict[str, pa.Array] = {}
    if dn:
        cols["x"] = vectors_array(x[:, :dn].astype(np.float32))
    if x.shape[1] > dn:
        cols[CATEGORIES] = pa.array(x[:, dn:].tolist(), pa.list_(pa.string()))
    return cols


def from_table(table: pa.Table, vectors) -> np.ndarray:
    """A partition's tabular block (``vectors`` reads the ``x`` column as a float array)."""
    n = table.num_rows
    numeric = vectors(table) if "x" in table.column_names else np.empty((n, 0), np.float32)
    cats = table.column(CATEGORIES).to_pylist() if CATEGORIES in table.column_names else []
    return block(numeric, cats)


def row_bytes(x: np.ndarray) -> list[bytes]:
    """A stable byte string per row (its content, for content hashes)."""
    return [
        json.dumps([None if isinstance(v, float) and math.isnan(v) else v for v in row]).encode()
        for row in x.tolist()
    ]


def display_frame(x: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """A block as a frame with the user's column names (what annotators see)."""
    return pd.DataFrame(x, columns=list(names))
