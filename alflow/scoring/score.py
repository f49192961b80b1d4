"""Scoring one partition: utilities for every unlabeled item, then its top candidates.

This runs where the data is (a Dask worker) and returns only ``top_m`` rows plus fixed-bin
histograms of each utility over the whole partition, for the audit. The vectors go from Parquet
to numpy without a copy; a linear model is folded into float32 weights (``LinearScorer``), so a
partition costs one matrix product and a few in-place array passes.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from alflow.data.pool import feature_columns, features_of, read_partition
from alflow.scoring.linear_scorer import proba_t, utilities_t
from alflow.strategies import UTILITIES, top_k

N_BINS = 20
HIST_BINS = np.linspace(0.0, 1.0, N_BINS + 1)
PROBA_PREFIX = "p:"


FEATURES = "_x"  # column of raw model inputs (a vector or a text) kept with candidates
PARTITION, ROW = "_part", "_row"  # where a candidate lives: partition file name, row in it
CLUSTER = "_cluster"  # a candidate's pool-level cluster (nearest centroid of the pool index)

Ranks = str | tuple[str, ...]


@dataclass(frozen=True)
class ScoreRequest:
    """What a scoring pass keeps, the same for the Dask pass (``compute.score_pool``), one
    partition (``score_partition``) and rows in memory (``score_features``, simulations).

    The ``top_m`` candidates by each utility of ``rank_by`` (their union), with their raw
    features when ``keep_features``; a uniform sample of ``sample_m`` rows; the ``confident_m``
    most confidently predicted rows (pseudo-labels). Probabilities are laid out over
    ``classes`` (the model's own when None); random scores are seeded by ``seed``, ``round_id``
    and the partition's name. A pool pass reads partitions' ``feature_kind`` and leaves out
    the ``excluded`` ids (labeled, skipped or in flight; in memory a ``keep`` mask does).
    """

    rank_by: Ranks
    top_m: int
    seed: int
    round_id: int
    classes: Sequence[str] | None = None
    keep_features: bool = False
    sample_m: int = 0
    confident_m: int = 0
    feature_kind: str = "numeric"
    excluded: Sequence[str] = ()


def histogram(values: np.ndarray) -> np.ndarray:
    """Counts of [0, 1] values in ``N_BINS`` equal bins (the last one closed), in one pass."""
    idx = (values * N_BINS).astype(np.intp)
    np.clip(idx, 0, N_BINS - 1, out=idx)
    return np.bincount(idx, minlength=N_BINS)


@dataclass
class PartitionScores:
    """A partition's (or a merge of partitions') candidates, utility histograms and, when asked
    for, a uniform sample of its unlabeled rows (top by random score) and the most confident
    rows. The candidates' and the sample's raw features travel as arrays (or lists of texts)
    aligned with their rows: an object column of vectors costs ~30x more to pickle."""

    candidates: pd.DataFrame
    histograms: dict[str, np.ndarray]
    rows_scored: int
    sample: pd.DataFrame | None = None
    confident: pd.DataFrame | None = None
    features: Any = None
    sample_features: Any = None

    def merge(self, other: PartitionScores, req: ScoreRequest) -> PartitionScores:
        return merge_all([self, other], req)

    def with_feature_columns(self) -> PartitionScores:
        """The same scores with the features as a ``FEATURES`` object column of the candidates
        and of the sample (for the driver, once, after the last merge)."""
        out = replace(self)
        if self.features is not None:
            out.candidates = self.candidates.assign(**{FEATURES: list(self.features)})
        if self.sample is not None and self.sample_features is not None:
            out.sample = self.sample.assign(**{FEATURES: list(self.sample_features)})
        return out


def merge_all(parts: Sequence[PartitionScores], req: ScoreRequest) -> PartitionScores:
    """Several partitions' scores as one: the top rows of all their candidates (one selection
    over the concatenation, the same as any order of pairwise merges), summed histograms."""
    frame = pd.concat([p.candidates for p in parts], ignore_index=True)
    idx = top_index(frame, req.top_m, req.rank_by)
    hist: dict[str, np.ndarray] = {}
    for p in parts:
        for k, v in p.histograms.items():
            hist[k] = hist.get(k, 0) + v
    sample, sample_x = _merge_rows([(p.sample, p.sample_features) for p in parts], req.sample_m)
    confident, _ = _merge_rows([(p.confident, None) for p in parts], req.confident_m)
    return PartitionScores(
        frame.iloc[idx].reset_index(drop=True),
        hist,
        sum(p.rows_scored for p in parts),
        sample,
        confident,
        _take(_cat([p.features for p in parts]), idx),
        sample_x,
    )


def _merge_rows(rows: list[tuple], m: int) -> tuple[pd.DataFrame | None, Any]:
    """Merge optional ``(frame, features)`` row sets to the top ``m`` (by ``random`` for
    samples, ``predicted_score`` for confident rows)."""
    if any(frame is None for frame, _ in rows):
        return None, None
    frame = pd.concat([f for f, _ in rows], ignore_index=True)
    idx = top_index(frame, m, "random" if "random" in frame else "predicted_score")
    return frame.iloc[idx].reset_index(drop=True), _take(_cat([x for _, x in rows]), idx)


def _cat(sets: list):
    """Feature sets as one (arrays stacked, text lists joined); None if any is None."""
    if any(x is None for x in sets):
        return None
    return [t for x in sets for t in x] if isinstance(sets[0], list) else np.concatenate(sets)


def _take(x, idx: np.ndarray):
    """Rows ``idx`` of a feature array or a list of texts."""
    if x is None:
        return None
    return [x[i] for i in idx] if isinstance(x, list) else x[idx]


def _ranks(rank_by: Ranks) -> tuple[str, ...]:
    return (rank_by,) if isinstance(rank_by, str) else tuple(rank_by)


def _union(picks: list[np.ndarray]) -> np.ndarray:
    """Indices of several rankings, first ranking first, each index once."""
    return pd.unique(np.concatenate(picks)) if len(picks) > 1 else picks[0]


def top_index(frame: pd.DataFrame, top_m: int, rank_by: Ranks) -> np.ndarray:
    """Positions of the ``top_m`` rows by each of ``rank_by`` (their union, best of the first
    ranking first); ties by item id, so merges are order-independent."""
    ids = frame["item_id"].to_numpy()
    return _union([top_k(frame[r].to_numpy(), top_m, ids) for r in _ranks(rank_by)])


def keep_top(frame: pd.DataFrame, top_m: int, rank_by: Ranks) -> pd.DataFrame:
    """The rows of ``top_index``, in that order."""
    return frame.iloc[top_index(frame, top_m, rank_by)].reset_index(drop=True)


def random_scores(n: int, seed: int, round_id: int, partition: str) -> np.ndarray:
    """Seeded uniforms for a partition's rows: independent of worker count and finish order."""
    rng = np.random.default_rng([seed, round_id, zlib.crc32(partition.encode())])
    return rng.random(n)


def score_partition(url: str, model, excluded: pa.Array, req: ScoreRequest) -> PartitionScores:
    """Score one Parquet partition with ``model`` (``None`` during cold start), as ``req`` asks.

    ``excluded`` holds the ids of labeled and in-flight items (it grows with labels, not with the
    pool) as an Arrow string array, shipped to each worker once; excluded rows are masked out of
    the utilities, the vectors are never copied. Candidates carry their partition name and row
    (``_part``, ``_row``), the key of the pool index.
    """
    table = read_partition(url, ["item_id", *feature_columns(req.feature_kind)])
    keep = None
    if len(excluded):
        mask = pc.is_in(table.column("item_id"), value_set=excluded)
        keep = ~mask.to_numpy(zero_copy_only=False)
    x = features_of(table, req.feature_kind)
    return score_features(table.column("item_id"), x, url.rsplit("/", 1)[-1], model, keep, req)


def score_features(
    ids: pa.Array | pa.ChunkedArray,
    x,
    name: str,
    model,
    keep: np.ndarray | None,
    req: ScoreRequest,
) -> PartitionScores:
    """``score_partition`` of rows already in memory: ``ids``, features ``x`` (an array, a
    sparse matrix or a list of texts) of the partition ``name`` (it seeds the random scores),
    rows where ``keep`` is False left out. Simulations score their pool with it."""
    rand = random_scores(len(ids), req.seed, req.round_id, name)
    scores, pick = score_rows(ids, x, model, rand, keep, req)
    scores.candidates[PARTITION] = name
    scores.candidates[ROW] = pick
    if req.keep_features:
        scores.features = _take(x, pick)
    if req.sample_m:
        rows = np.flatnonzero(keep) if keep is not None else np.arange(len(rand))
        taken = ids.take(pa.array(rows))
        rows = rows[_top_rows(rand[rows], req.sample_m, taken)] if len(rows) else rows
        scores.sample = pd.DataFrame(
            {
                "item_id": ids.take(pa.array(rows)).to_numpy(zero_copy_only=False),
                "random": rand[rows],
            }
        )
        scores.sample_features = _take(x, rows)
    return scores


def with_clusters(scores: PartitionScores, assigner) -> PartitionScores:
    """The candidates with their pool-level cluster (``CLUSTER``): ``assigner``
    (``index.pool.ClusterAssigner``) applied to their features, which the pass kept."""
    out = replace(scores)
    out.candidates = scores.candidates.assign(**{CLUSTER: assigner.assign(scores.features)})
    return out


def stack(rows: list):
    """An object column of feature rows back to a 2-D array (texts stay a list)."""
    return rows if rows and isinstance(rows[0], str) else np.vstack(rows)


def score_rows(
    ids: pa.Array | pa.ChunkedArray,
    x,
    model,
    rand: np.ndarray,
    keep: np.ndarray | None,
    req: ScoreRequest,
) -> tuple[PartitionScores, np.ndarray]:
    """Utilities of every row, their histograms, and the ``req.top_m`` rows by ``req.rank_by``.

    Probabilities are laid out over ``req.classes`` (the label schema; the model's own when
    None), so every partition, the committee and the ledger agree on columns even when the model
    never saw some class. ``model`` may be a ``LinearScorer``. Rows where the boolean ``keep`` is
    False are left out of everything (utilities are computed on all rows, so the feature matrix
    is never copied). Utilities and histograms are computed as arrays over all rows (an
    empty partition still has every utility); only the kept rows become a frame. With
    ``req.confident_m``, the rows with the highest top-class probability come back too (for
    pseudo-labels). Returns the scores and the kept row indices (best first, into ``x``).
    """
    utilities = {"random": rand}
    pt = None
    classes = req.classes
    if model is not None:
        classes = [str(c) for c in (model.classes_ if classes is None else classes)]
        pt = proba_t(model, x, classes) if len(rand) else np.empty((len(classes), 0), np.float32)
        fast = utilities_t(pt)
        top = fast.pop("_top")
        utilities.update({u: fast[u] if u in fast else fn(pt.T) for u, fn in UTILITIES.items()})
    rows = None
    if keep is not None and not keep.all():
        rows = np.flatnonzero(keep)
        ids = ids.take(pa.array(rows))
        utilities = {u: v[rows] for u, v in utilities.items()}
        if pt is not None:
            pt, top = pt[:, rows], top[rows]
    n = len(utilities["random"])
    hist = {u: histogram(v) for u, v in utilities.items()}
    pick = (
        _union([_top_rows(utilities[r], req.top_m, ids) for r in _ranks(req.rank_by)])
        if n
        else np.empty(0, dtype=np.intp)
    )
    columns = {"item_id": ids.take(pa.array(pick)).to_numpy(zero_copy_only=False)}
    columns |= {u: values[pick] for u, values in utilities.items()}
    if pt is not None:
        p = pt[:, pick]
        best = p.argmax(axis=0)
        columns["predicted_label"] = np.asarray(classes, dtype=object)[best]
        columns["predicted_score"] = p[best, np.arange(len(pick))]
        columns |= {PROBA_PREFIX + c: p[j] for j, c in enumerate(classes)}
    scores = PartitionScores(pd.DataFrame(columns), hist, n)  # one frame: no per-column inserts
    if req.confident_m and pt is not None:
        scores.confident = _confident_rows(ids, pt, top, classes, req.confident_m)
    return scores, (rows[pick] if rows is not None else pick)


def _confident_rows(
    ids, pt: np.ndarray, top: np.ndarray, classes: Sequence[str], m: int
) -> pd.DataFrame:
    """The ``m`` rows with the highest top-class probability ``top``, with that class."""
    rows = _top_rows(top, m, ids) if len(top) else np.empty(0, dtype=np.intp)
    return pd.DataFrame(
        {
            "item_id": ids.take(pa.array(rows)).to_numpy(zero_copy_only=False),
            "predicted_label": np.asarray(classes, dtype=object)[pt[:, rows].argmax(axis=0)]
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
