"""Checking and coercing a chunk's tabular columns (numeric and categorical, gaps allowed).

A cell equal to one of ``data.features.missing_values`` (after trimming), or null, is a gap:
``nan`` in a numeric column, ``None`` in a categorical one. A numeric column's other cells must
be finite numbers; categorical cells become their canonical text (``3.0`` read as a float is
``"3"``). Problems are reported per cell with what to change in the config.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from alflow.config import FeaturesConfig
from alflow.data.tabular import block

Report = Callable[[int, str, str], None]  # (row in chunk, column, message)


def gap_mask(raw: pd.Series, markers: set[str]) -> np.ndarray:
    """True where a cell is null or, trimmed, one of the missing-value markers."""
    text = raw.astype("string").str.strip()
    return (raw.isna() | text.isin(markers).fillna(True)).to_numpy(dtype=bool)


def numeric_column(raw: pd.Series, column: str, markers: set[str], report: Report) -> np.ndarray:
    """Floats, ``nan`` at gaps; each cell that is neither a number nor a gap is reported."""
    gaps = gap_mask(raw, markers)
    values = pd.to_numeric(raw.where(~gaps), errors="coerce").to_numpy(dtype=np.float64, copy=True)
    bad = ~gaps & ~np.isfinite(values)
    for i in np.flatnonzero(bad):
        v = raw.iloc[i]
        report(
            int(i),
            column,
            f"{v!r} is not a number: list {column!r} under data.features.categorical if it "
            f"holds categories, or add {str(v).strip()!r} to data.features.missing_values if "
            "it marks a gap",
        )
    values[gaps | bad] = np.nan
    return values


def category_text(v: object) -> str:
    """A category's canonical text: whole floats lose their ``.0``."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def categorical_column(raw: pd.Series, markers: set[str]) -> list[str | None]:
    """Category texts, ``None`` at gaps."""
    gaps = gap_mask(raw, markers)
    return [None if g else category_text(v) for v, g in zip(raw.tolist(), gaps, strict=True)]


def tabular_block(frame: pd.DataFrame, features: FeaturesConfig, report: Report) -> np.ndarray:
    """The chunk's tabular block (``alflow.data.tabular``); bad cells are reported and left as
    gaps."""
    markers = {m.strip() for m in features.missing_values}
    numeric = np.empty((len(frame), len(features.numeric)), dtype=np.float64)
    for j, col in enumerate(features.numeric):
        numeric[:, j] = numeric_column(frame[col], col, markers, report)
    cats = [categorical_column(frame[col], markers) for col in features.categorical]
    rows = [list(r) for r in zip(*cats, strict=True)] if cats else []
    return block(numeric, rows)


def not_number_hint(value: object, column: str) -> str:
    """The numeric-kind message for a cell that is not a finite number, with what to do."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return (
            "missing value (NaN): with data.features.kind 'tabular' gaps are allowed and imputed "
            "('alflow init --from FILE' writes such a config)"
        )
    return (
        f"{value!r} is not a finite number: if {column!r} holds categories, use "
        "data.features.kind 'tabular' and list it under 'categorical' "
        "('alflow init --from FILE' writes such a config)"
    )
