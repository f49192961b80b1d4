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

from alflow.pool import FEATURE_COLUMN, features_of, read_partition
from alflow.strategies import UTILITIES, Candidates, top_k

HIST_BINS = np.linspace(0.0, 1.0, 21)
PROBA_PREFIX = "p:"


@dataclass
class PartitionScores:
    """A partition's (or a merge of partitions') candidates and utility histograms."""

    candidates: pd.DataFrame
    histograms: dict[str, np.ndarray]
    rows_scored: int

    def merge(self, other: PartitionScores, top_m: int, rank_by: str) -> PartitionScores:
        frame = pd.concat([self.candidates, other.candidates], ignore_index=True)
        hist = {k: self.histograms[k] + other.histograms[k] for k in self.histograms}
        return PartitionScores(
            keep_top(frame, top_m, rank_by), hist, self.rows_scored + other.rows_scored
        )


def keep_top(frame: pd.DataFrame, top_m: int, rank_by: str) -> pd.DataFrame:
    """The ``top_m`` rows by ``rank_by``; ties by item id, so merges are order-independent."""
    if len(frame) <= top_m:
        return frame.sort_values([rank_by, "item_id"], ascending=[False, True], ignore_index=True)
    idx = top_k(frame[rank_by].to_numpy(), top_m, frame["item_id"].to_numpy())
    return frame.iloc[idx].reset_index(drop=True)


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
    rank_by: str,
    top_m: int,
    seed: int,
    round_id: int,
) -> PartitionScores:
    """Score one Parquet partition with ``model`` (``None`` during cold start).

    ``excluded`` holds the ids of labeled and in-flight items (it grows with labels, not with the
    pool) as an Arrow string array, shipped to each worker once. Utilities and histograms are
    computed over every row as arrays; only the ``top_m`` rows become a frame.
    """
    table = read_partition(url, ["item_id", FEATURE_COLUMN[feature_kind]])
    name = url.rsplit("/", 1)[-1]
    utilities = {"random": random_scores(table.num_rows, seed, round_id, name)}
    if len(excluded):
        keep = pc.invert(pc.is_in(table.column("item_id"), value_set=excluded))
        utilities["random"] = utilities["random"][np.asarray(keep)]
        table = table.filter(keep)
    ids = table.column("item_id")
    proba = None
    if model is not None and table.num_rows:
        proba = model.predict_proba(features_of(table, feature_kind))
        utilities.update({u: fn(proba) for u, fn in UTILITIES.items()})
    hist = {u: np.histogram(v, bins=HIST_BINS)[0] for u, v in utilities.items()}
    if table.num_rows == 0:
        return PartitionScores(pd.DataFrame({"item_id": [], **utilities}), hist, 0)
    pick = _top_rows(utilities[rank_by], top_m, ids)
    frame = pd.DataFrame({"item_id": ids.take(pa.array(pick)).to_numpy(zero_copy_only=False)})
    for u, values in utilities.items():
        frame[u] = values[pick]
    if proba is not None:
        classes = np.asarray([str(c) for c in model.classes_], dtype=object)
        p = proba[pick]
        best = p.argmax(axis=1)
        frame["predicted_label"] = classes[best]
        frame["predicted_score"] = p[np.arange(len(pick)), best]
        for j, c in enumerate(classes):
            frame[PROBA_PREFIX + c] = p[:, j]
    return PartitionScores(frame, hist, table.num_rows)


def _top_rows(scores: np.ndarray, top_m: int, ids: pa.ChunkedArray) -> np.ndarray:
    """Row indices of the ``top_m`` best scores; ids are materialised only for the tied few."""
    if top_m < len(scores):
        kth = scores[np.argpartition(-scores, top_m - 1)[top_m - 1]]
        rows = np.flatnonzero(scores >= kth)
    else:
        rows = np.arange(len(scores))
    tie_ids = ids.take(pa.array(rows)).to_numpy(zero_copy_only=False)
    return rows[top_k(scores[rows], top_m, tie_ids)]


def to_candidates(frame: pd.DataFrame) -> Candidates:
    """The merged candidate frame as the arrays a strategy works on."""
    proba_cols = [c for c in frame.columns if c.startswith(PROBA_PREFIX)]
    utilities = {u: frame[u].to_numpy() for u in ["random", *UTILITIES] if u in frame.columns}
    return Candidates(
        item_ids=frame["item_id"].to_numpy(),
        utilities=utilities,
        proba=frame[proba_cols].to_numpy() if proba_cols else None,
        classes=[c[len(PROBA_PREFIX) :] for c in proba_cols],
    )


def component_columns(frame: pd.DataFrame) -> Sequence[str]:
    """The score components recorded for each selected item."""
    return [c for c in ["random", *UTILITIES] if c in frame.columns]
