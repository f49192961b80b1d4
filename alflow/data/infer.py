"""What a data file holds, inferred from a bounded sample: the columns' kinds and the labels.

``alflow init --from FILE --label-column COL`` reads the first ``rows`` records (never the whole
file) and classifies each column: ``numeric`` (every value a finite number), ``categorical``
(short values that repeat), ``text`` (several words, mostly distinct), ``embedding`` (lists of
numbers of one width). Cells equal to a missing-value marker (``?``, empty, ``NA``...) are
gaps. The label schema is the label column's distinct values. A column that is none of these
(all gaps, distinct short strings, a row counter, nested objects) is named with what to do.
``alflow.starter`` writes the result as a commented config.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alflow.config import MISSING_MARKERS
from alflow.data.ingest_read import read_chunks
from alflow.errors import InputError

SAMPLE_ROWS = 2_000
MIN_TEXT_WORDS = 3  # median words per value from which a mostly distinct column is a text
FEW_CATEGORIES = 20  # this many distinct values are categories, however few the rows
MAX_DISTINCT_SHARE = 0.2  # above it (and FEW_CATEGORIES), distinct short values are no category
MAX_LABELS = 1_000


@dataclass(frozen=True)
class Column:
    """One feature column: its inferred kind and why (shown as a comment in the config)."""

    name: str
    kind: str  # numeric | categorical | text | embedding
    why: str
    gaps: int = 0
    mean_length: float = 0.0


@dataclass(frozen=True)
class Inference:
    """What the sample of ``source`` says: its columns, the label schema, the id column."""

    source: str
    rows: int
    columns: list[Column]
    label_column: str
    label_counts: dict[str, int]
    label_gaps: int
    id_column: str | None = None
    ignored: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """The label schema: every label seen, numbers in numeric order, else sorted."""
        names = list(self.label_counts)
        if all(_is_number(n) for n in names):
            return sorted(names, key=float)
        return sorted(names)

    def of_kind(self, kind: str) -> list[Column]:
        return [c for c in self.columns if c.kind == kind]


class Unclassified(ValueError):
    """A column that is not numeric, categorical, text or an embedding (the reason)."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason, self.hint = reason, hint


def read_sample(url: str, rows: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first ``rows`` records of a CSV, JSONL or Parquet file (the rest is never read)."""
    for chunk in read_chunks(url, rows):
        return chunk.frame.reset_index(drop=True)
    raise InputError(f"{url}: no records found")


def infer(
    frame: pd.DataFrame,
    source: str,
    label_column: str,
    id_column: str | None = None,
    ignore: Sequence[str] = (),
) -> Inference:
    """Classify ``frame``'s columns (besides the label, the id and ``ignore``d ones)."""
    found = list(frame.columns)
    for what, name in (
        ("label", label_column),
        ("id", id_column),
        *[("ignored", c) for c in ignore],
    ):
        if name is not None and name not in found:
            raise InputError(f"{source}: no {what} column {name!r}; its columns: {found[:30]}")
    if id_column == label_column:
        raise InputError(f"{source}: {label_column!r} cannot be both the label and the id column")
    n = len(frame)
    counts, label_gaps = _label_counts(frame[label_column], source, label_column, n)
    if id_column:
        _check_ids(frame, id_column, source)
    skip = {label_column, id_column, *ignore}
    columns, problems = [], []
    for name in found:
        if name in skip:
            continue
        try:
            columns.append(classify(frame[name], str(name), n))
        except Unclassified as err:
            problems.append((str(name), err))
    if problems:
        raise InputError(_unclassified_message(source, problems))
    if not columns:
        raise InputError(
            f"{source}: no feature columns besides the label{' and the id' if id_column else ''}"
        )
    return Inference(source, n, columns, label_column, counts, label_gaps, id_column, list(ignore))


def classify(values: pd.Series, name: str, n: int) -> Column:
    """The kind of one column from its ``n`` sampled values, or ``Unclassified``."""
    gaps = np.array([_is_gap(v) for v in values], dtype=bool)
    present = [v for v, g in zip(values.tolist(), gaps, strict=True) if not g]
    n_gaps = int(gaps.sum())
    gap_note = f", {_gaps_seen(values[gaps])}" if n_gaps else ", no gaps"
    if not present:
        raise Unclassified(
            f"no value in the {n:,} sampled rows",
            f"drop it from the file or --ignore {name}",
        )
    if any(isinstance(v, dict) for v in present):
        raise Unclassified("holds nested objects", f"flatten it into columns, or --ignore {name}")
    if any(_looks_like_list(v) for v in present):
        return _embedding(present, name, n, n_gaps)
    numbers = _numbers(present)
    if numbers is not None:
        return _numeric(numbers, name, n, n_gaps, gap_note)
    texts = [str(v).strip() for v in present]
    distinct = len(set(texts))
    words = float(np.median([len(t.split()) for t in texts]))
    share = distinct / len(texts)
    length = float(np.mean([len(t) for t in texts]))
    if words >= MIN_TEXT_WORDS and share > 0.5:
        why = f"text: median {words:g} words, {distinct:,} distinct values in {n:,} sampled rows"
        return Column(name, "text", why + gap_note, n_gaps, length)
    if distinct <= FEW_CATEGORIES or share <= MAX_DISTINCT_SHARE:
        why = f"categorical: {distinct:,} distinct values in {n:,} sampled rows"
        return Column(name, "categorical", why + gap_note, n_gaps, length)
    raise Unclassified(
        f"{distinct:,} distinct short values in {n:,} sampled rows (not numbers, repeating "
        "categories or text)",
        f"pass --id-column {name} if it identifies the rows, or --ignore {name}",
    )


def _numeric(numbers: np.ndarray, name: str, n: int, n_gaps: int, gap_note: str) -> Column:
    distinct = len(np.unique(numbers))
    whole = bool(np.all(numbers == np.round(numbers)))
    if whole and distinct == len(numbers) > 2 and np.all(np.diff(numbers) == 1):
        raise Unclassified(
            f"consecutive integers {numbers[0]:g}..{numbers[-1]:g}, like a row number",
            f"pass --id-column {name} if it identifies the rows, or --ignore {name}",
        )
    why = f"numeric: {distinct:,} distinct numbers in {n:,} sampled rows{gap_note}"
    if whole and distinct <= 10:
        why += " (if they are codes, list it under categorical)"
    return Column(name, "numeric", why, n_gaps)


def _embedding(present: list, name: str, n: int, n_gaps: int) -> Column:
    widths = Counter()
    for v in present:
        vector = _vector(v)
        if vector is None:
            raise Unclassified(
                "mixes lists of numbers with other values",
                f"make every value a list of numbers (an embedding), or --ignore {name}",
            )
        widths[len(vector)] += 1
    if len(widths) > 1:
        raise Unclassified(
            f"lists of {min(widths)} to {max(widths)} numbers (an embedding has one width)",
            f"make every vector the same width, or --ignore {name}",
        )
    if n_gaps:
        raise Unclassified(
            f"an embedding with {n_gaps:,} rows of {n:,} without a vector",
            f"give every row a vector, or --ignore {name}",
        )
    (width,) = widths
    why = f"embedding: lists of {width:,} numbers in all {n:,} sampled rows"
    return Column(name, "embedding", why)


def _label_counts(
    values: pd.Series, source: str, column: str, n: int
) -> tuple[dict[str, int], int]:
    labels = [_canonical(v) for v in values if not _is_gap(v)]
    counts = dict(Counter(labels).most_common())
    gaps = n - len(labels)
    if len(counts) < 2:
        seen = f" ({next(iter(counts))!r})" if counts else ""
        raise InputError(
            f"{source}: label column {column!r} has {len(counts)} distinct label(s){seen} in "
            f"{n:,} sampled rows ({gaps:,} unlabeled): a label schema needs 2 or more; label "
            "a few rows of each class in the file, or write data.labels by hand"
        )
    if len(counts) > MAX_LABELS or (len(counts) > FEW_CATEGORIES and len(counts) > len(labels) / 2):
        raise InputError(
            f"{source}: label column {column!r} has {len(counts):,} distinct values in "
            f"{len(labels):,} labeled sampled rows: that is no class label (a measurement or an "
            "id?); pass the column that holds the classes as --label-column"
        )
    return counts, gaps


def _check_ids(frame: pd.DataFrame, column: str, source: str) -> None:
    ids = frame[column]
    gaps = int(sum(_is_gap(v) for v in ids))
    if gaps:
        raise InputError(
            f"{source}: id column {column!r} is empty in {gaps:,} sampled rows: every row needs "
            "an id (or leave --id-column out: a content hash is then the id)"
        )
    text = ids.map(_canonical)
    rows = frame.astype(str).drop_duplicates()  # a repeated row with its id is one item
    repeated = text.loc[rows.index][text.loc[rows.index].duplicated()]
    if len(repeated):
        raise InputError(
            f"{source}: id column {column!r} gives {repeated.iloc[0]!r} to different rows: "
            "ids must be unique (or leave --id-column out: a content hash is then the id)"
        )


def _gaps_seen(gaps: pd.Series) -> str:
    """``123 gaps ('?')``: how many, and the markers they were written as."""
    shown = Counter("null" if not isinstance(v, str) else repr(v.strip()) for v in gaps)
    return f"{len(gaps):,} gaps ({', '.join(m for m, _ in shown.most_common())})"


def _unclassified_message(source: str, problems: list[tuple[str, Unclassified]]) -> str:
    parts = [f"{name!r} ({err.reason}: {err.hint})" for name, err in problems]
    what = "column" if len(parts) == 1 else f"{len(parts)} columns"
    return f"{source}: cannot classify {what} " + "; ".join(parts)


def _is_gap(v: object) -> bool:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return True
    return isinstance(v, str) and v.strip() in _MARKERS


_MARKERS = {m.strip() for m in MISSING_MARKERS}


def _canonical(v: object) -> str:
    """An id's or a label's text as ingest reads it: whole floats lose their ``.0``."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _numbers(present: list) -> np.ndarray | None:
    """The values as floats when every one is a finite number (booleans are categories)."""
    if any(isinstance(v, bool | np.bool_) for v in present):
        return None
    values = pd.to_numeric(pd.Series(present, dtype=object), errors="coerce").to_numpy(float)
    return values if np.isfinite(values).all() else None


def _looks_like_list(v: object) -> bool:
    return isinstance(v, list | tuple | np.ndarray) or (
        isinstance(v, str) and v.lstrip().startswith("[")
    )


def _vector(v: object) -> list[float] | None:
    """``v`` as a flat list of finite numbers (a JSON list in a CSV cell too), else None."""
    try:
        if isinstance(v, str):
            v = json.loads(v)
        arr = np.asarray(v)
        if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iuf":
            return None
        arr = arr.astype(np.float64)
        return arr.tolist() if np.isfinite(arr).all() else None
    except (ValueError, TypeError):
        return None
