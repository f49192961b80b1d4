"""Building the ``Candidates`` a strategy sees, the same way in rounds and in simulations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import clone

from alflow.index import knn_similarity
from alflow.scoring.score import CLUSTER, PROBA_PREFIX
from alflow.selection.committee import committee_proba
from alflow.strategies import UTILITIES, Candidates, StrategySpec
from alflow.training.model import n_rows, represent

DENSITY_K = 10


class Embedded(NamedTuple):
    """Rows already in the space distances are measured in (a pool's embedding column): the
    candidates', the labeled items' and the pool sample's, used instead of ``represent``."""

    candidates: np.ndarray
    labeled: np.ndarray
    pool_sample: np.ndarray


@dataclass(frozen=True)
class CandidateSources:
    """Where the inputs a strategy ``needs`` come from, beyond the candidates themselves.

    ``model`` represents rows (``represent``) and gives an unfitted ``estimator``;
    ``labeled_raw_x``/``labeled_labels`` are the labeled items; ``committee`` the fitted
    members; density is ``pool_density`` of the candidates' raw features (the pool index) when
    given, else their kNN similarity to ``pool_sample_raw``, a uniform sample of the pool;
    ``embedded`` replaces the model's representation for features and density; ``seed``
    seeds the representation.
    """

    model: Any = None
    labeled_raw_x: Any = None
    labeled_labels: np.ndarray | None = None
    committee: list | None = None
    pool_sample_raw: Any = None
    pool_density: Callable[[Any], np.ndarray] | None = None
    embedded: Embedded | None = None
    seed: int = 0


def build_candidates(
    frame: pd.DataFrame, raw_x: Any, spec: StrategySpec, src: CandidateSources
) -> Candidates:
    """``frame`` (ids, utilities, ``p:<class>`` columns) plus what ``spec.needs`` asks for,
    from ``src``; ``raw_x`` are the candidates' model inputs in ``frame`` order."""
    proba_cols = [c for c in frame.columns if c.startswith(PROBA_PREFIX)]
    classes = [c[len(PROBA_PREFIX) :] for c in proba_cols]
    cand = Candidates(
        item_ids=frame["item_id"].to_numpy(),
        utilities={u: frame[u].to_numpy() for u in ["random", *UTILITIES] if u in frame},
        proba=frame[proba_cols].to_numpy() if proba_cols else None,
        classes=classes,
        clusters=frame[CLUSTER].to_numpy() if CLUSTER in frame else None,
    )
    needs, model, embedded, seed = spec.needs, src.model, src.embedded, src.seed
    if needs & {"features", "density"}:
        cand.features = embedded.candidates if embedded else represent(model, raw_x, seed)
    labeled = src.labeled_raw_x
    if "labeled" in needs and labeled is not None and len(src.labeled_labels):
        cand.labeled_features = embedded.labeled if embedded else represent(model, labeled, seed)
        cand.labeled_labels = np.asarray(src.labeled_labels)
    if "committee" in needs and src.committee:
        cand.committee_proba = committee_proba(src.committee, raw_x, classes)
    if "density" in needs and src.pool_density is not None:
        cand.density = src.pool_density(raw_x)
    elif "density" in needs:
        # the pool sample, minus the candidates; a pool that small is all candidates anyway
        sample = src.pool_sample_raw
        has_sample = sample is not None and n_rows(sample) > 0
        if embedded is not None and len(embedded.pool_sample):
            base = embedded.pool_sample
        else:
            base = represent(model, sample, seed) if has_sample else cand.features
        cand.density = knn_similarity(cand.features, base, DENSITY_K)
    if "estimator" in needs and model is not None:
        cand.estimator = clone(model.steps[-1][1] if hasattr(model, "steps") else model)
    return cand
