"""Scoring one partition: utilities for every unlabeled item, then its top candidates.

This runs where the data is (a Dask worker) and returns only ``top_m`` rows plus fixed-bin
histograms of each utility over the whole partition, for the audit.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from alflow.committee import aligned_proba
from alflow.pool import FEATURE_COLUMN, features_of, read_partition
from alflow.strategies import UTILITIES, top_k

HIST_BINS = np.linspace(0.0, 1.0, 21)
PROBA_PREFIX = "p:"


FEATURES = "_x"  # column of raw model inputs (a vector or a text) kept with candidates


@dataclass
class PartitionScores:
    """A partition's (or a merge of partitions') candidates, utility histograms and, when asked
    for, a uniform sample of its unlabeled rows (top by random score) with their features."""

    candidates: pd.DataFrame
    histograms: dict[str, np.ndarray]
    rows_scored: int
    sample: pd.DataFrame | None = None
    confident: pd.DataFrame | None = None

    def merge(
        self,
        other: PartitionScores,
        top_m: int,
        rank_by: Ranks,
        sample_m: int = 0,
        confident_m: int = 0,
    ) -> PartitionScores:
        frame = pd.concat([self.candidates, other.candidates], ignore_index=True)
        hist = {
            k: self.histograms.get(k, 0) + other.histograms.get(k, 0)
            for k in self.histograms.keys() | other.histograms.keys()
        }
        return PartitionScores(
            keep_top(frame, top_m, rank_by),
            hist,
            self.rows_scored + other.rows_scored,
            _merge_optional(self.sample, other.sample, sample_m, "random"),
            _merge_optional(self.confident, other.confident, confident_m, "predicted_score"),
        )


def _merge_optional(a, b, m: int, rank_by: str) -> pd.DataFrame | None:
    if a is None or b is None:
        return None
    return keep_top(pd.concat([a, b], ignore_index=True), m, rank_by)


Ranks = str | tuple[str, ...]


def _ranks(rank_by: Ranks) -> tuple[str, ...]:
    return (rank_by,) if isinstance(rank_by, str) else tuple(rank_by)


def _union(picks: list[np.ndarray]) -> np.ndarray:
    """Indices of several rankings, first ranking first, each index once."""
    return pd.unique(np.concatenate(picks)) if len(picks) > 1 else picks[0]


def keep_top(frame: pd.DataFrame, top_m: int, rank_by: Ranks) -> pd.DataFrame:
    """The ``top_m`` rows by each of ``rank_by`` (their union, best of the first ranking first);
    ties by item id, so merges are order-independent."""
    ids = frame["item_id"].to_numpy()
    picks = [top_k(frame[r].to_numpy(), top_m, ids) for r in _ranks(rank_by)]
    return frame.iloc[_union(picks)].reset_index(drop=True)


def random_scores(n: int, seed: int, round_id: int, partition: str) -> np.ndarray:
    """Seeded uniforms for a partition's rows: independent of worker count and finish order."""
    rng = np.random.default_rng([seed, round_id, zlib.crc32(partition.encode())])
    return rng.random(n)


def score_partition(
    url: str,
    model,
    *,
    feature_kind: str,
    excluded: pa.Array,
    rank_by: Ranks,
    top_m: int,
    seed: int,
    round_id: int,
    keep_features: bool = False,
    sample_m: int = 0,
    confident_m: int = 0,
    classes: Sequence[str] | None = None,
) -> PartitionScores:
    """Score one Parquet partition with ``model`` (``None`` during cold start).

    ``excluded`` holds the ids of labeled and in-flight items (it grows with labels, not with the
    pool) as an Arrow string array, shipped to each worker once. ``keep_features`` returns the
    candidates' raw features; ``sample_m`` > 0 also returns a uniform sample of that many rows;
    ``confident_m`` > 0 the most confidently predicted rows (for pseudo-labels).
    """
    table = read_partition(url, ["item_id", FEATURE_COLUMN[feature_kind]])
    rand = random_scores(table.num_rows, seed, round_id, url.rsplit("/", 1)[-1])
    if len(excluded):
        keep = pc.invert(pc.is_in(table.column("item_id"), value_set=excluded))
        rand = rand[np.asarray(keep)]
        table = table.filter(keep)
    x = features_of(table, feature_kind) if table.num_rows else None
    ids = table.column("item_id")
    scores, pick = score_rows(
        ids,
        x,
        model,
        rand,
        rank_by=rank_by,
        top_m=top_m,
        classes=classes,
        confident_m=confident_m,
    )
    if keep_features:
        scores.candidates[FEATURES] = _rows(x, pick)
    if sample_m:
        rows = _top_rows(rand, sample_m, ids) if len(rand) else np.empty(0, dtype=np.intp)
        scores.sample = pd.DataFrame(
            {
                "item_id": ids.take(pa.array(rows)).to_numpy(zero_copy_only=False),
                "random": rand[rows],
                FEATURES: _rows(x, rows),
            }
        )
    return scores


def _rows(x, idx: np.ndarray) -> list:
    """Rows of a feature matrix (or texts) as a list, for an object column."""
    if x is None:
        return []
    return [x[i] for i in idx] if isinstance(x, list) else list(x[idx])


def stack(rows: list):
    """An object column of feature rows back to a 2-D array (texts stay a list)."""
    return rows if rows and isinstance(rows[0], str) else np.vstack(rows)


def score_rows(
    ids: pa.Array | pa.ChunkedArray,
    x,
    model,
    rand: np.ndarray,
    *,
    rank_by: Ranks,
    top_m: int,
    classes: Sequence[str] | None = None,
    confident_m: int = 0,
) -> tuple[PartitionScores, np.ndarray]:
    """Utilities of every row, their histograms, and the ``top_m`` rows by ``rank_by``.

    Probabilities are laid out over ``classes`` (the label schema; the model's own classes when
    None), so every partition, the committee and the ledger agree on columns even when the model
    never saw some class. Utilities and histograms are computed as arrays over all rows (an
    empty partition still has every utility); only the kept rows become a frame. With
    ``confident_m``, the rows with the highest top-class probability come back too (for
    pseudo-labels). Returns the scores and the kept row indices (best first).
    """
    utilities = {"random": rand}
    proba = None
    if model is not None:
        classes = [str(c) for c in (classes if classes is not None else model.classes_)]
        proba = aligned_proba(model, x, classes) if len(rand) else np.empty((0, len(classes)))
        utilities.update({u: fn(proba) for u, fn in UTILITIES.items()})
    hist = {u: np.histogram(v, bins=HIST_BINS)[0] for u, v in utilities.items()}
    pick = (
        _union([_top_rows(utilities[r], top_m, ids) for r in _ranks(rank_by)])
        if len(rand)
        else np.empty(0, dtype=np.intp)
    )
    frame = pd.DataFrame({"item_id": ids.take(pa.array(pick)).to_numpy(zero_copy_only=False)})
    for u, values in utilities.items():
        frame[u] = values[pick]
    if proba is not None:
        p = proba[pick]
        best = p.argmax(axis=1)
        frame["predicted_label"] = np.asarray(classes, dtype=object)[best]
        frame["predicted_score"] = p[np.arange(len(pick)), best]
        for j, c in enumerate(classes):
            frame[PROBA_PREFIX + c] = p[:, j]
    scores = PartitionScores(frame, hist, len(rand))
    if confident_m and proba is not None:
        scores.confident = _confident_rows(ids, proba, classes, confident_m)
    return scores, pick


def _confident_rows(ids, proba: np.ndarray, classes: Sequence[str], m: int) -> pd.DataFrame:
    """The ``m`` rows with the highest top-class probability, with that class."""
    top = proba.max(axis=1) if len(proba) else np.empty(0)
    rows = _top_rows(top, m, ids) if len(top) else np.empty(0, dtype=np.intp)
    return pd.DataFrame(
        {
            "item_id": ids.take(pa.array(rows)).to_numpy(zero_copy_only=False),
            "predicted_label": np.asarray(classes, dtype=object)[proba[rows].argmax(axis=1)]
            if len(rows)
            else np.empty(0, dtype=object),
            "predicted_score": top[rows],
        }
    )


def _top_rows(scores: np.ndarray, top_m: int, ids: pa.ChunkedArray) -> np.ndarray:
    """Row indices of the ``top_m`` best scores; ids are materialised only for the tied few."""
    if top_m < len(scores):
        kth = scores[np.argpartition(-scores, top_m - 1)[top_m - 1]]
        rows = np.flatnonzero(scores >= kth)
    else:
        rows = np.arange(len(scores))
    tie_ids = ids.take(pa.array(rows)).to_numpy(zero_copy_only=False)
    return rows[top_k(scores[rows], top_m, tie_ids)]


def component_columns(frame: pd.DataFrame) -> Sequence[str]:
    """The score components recorded for each selected item."""
    return [c for c in ["random", *UTILITIES] if c in frame.columns]
