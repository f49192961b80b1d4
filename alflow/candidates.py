"""Building the ``Candidates`` a strategy sees, the same way in rounds and in simulations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import clone

from alflow.committee import committee_proba
from alflow.index import knn_similarity
from alflow.model import n_rows, represent
from alflow.scoring import CLUSTER, PROBA_PREFIX
from alflow.strategies import UTILITIES, Candidates, StrategySpec

DENSITY_K = 10


class Embedded(NamedTuple):
    """Rows already in the space distances are measured in (a pool's embedding column): the
    candidates', the labeled items' and the pool sample's, used instead of ``represent``."""

    candidates: np.ndarray
    labeled: np.ndarray
    pool_sample: np.ndarray


def build_candidates(
    frame: pd.DataFrame,
    raw_x: Any,
    spec: StrategySpec,
    *,
    model: Any,
    labeled_raw_x: Any = None,
    labeled_labels: np.ndarray | None = None,
    committee: list | None = None,
    pool_sample_raw: Any = None,
    pool_density: Callable[[Any], np.ndarray] | None = None,
    embedded: Embedded | None = None,
    seed: int = 0,
) -> Candidates:
    """``frame`` (ids, utilities, ``p:<class>`` columns) plus what ``spec.needs`` asks for.

    ``raw_x`` are the candidates' model inputs in ``frame`` order; density is ``pool_density``
    of them (the pool index) when given, else their kNN similarity to ``pool_sample_raw``, a
    uniform sample of the pool. ``embedded`` replaces the model's own representation
    (``represent``) for features and density.
    """
    proba_cols = [c for c in frame.columns if c.startswith(PROBA_PREFIX)]
    classes = [c[len(PROBA_PREFIX) :] for c in proba_cols]
    cand = Candidates(
        item_ids=frame["item_id"].to_numpy(),
        utilities={u: frame[u].to_numpy() for u in ["random", *UTILITIES] if u in frame},
        proba=frame[proba_cols].to_numpy() if proba_cols else None,
        classes=classes,
        clusters=frame[CLUSTER].to_numpy() if CLUSTER in frame else None,
    )
    needs = spec.needs
    if needs & {"features", "density"}:
        cand.features = embedded.candidates if embedded else represent(model, raw_x, seed)
    if "labeled" in needs and labeled_raw_x is not None and len(labeled_labels):
        cand.labeled_features = (
            embedded.labeled if embedded else represent(model, labeled_raw_x, seed)
        )
        cand.labeled_labels = np.asarray(labeled_labels)
    if "committee" in needs and committee:
        cand.committee_proba = committee_proba(committee, raw_x, classes)
    if "density" in needs and pool_density is not None:
        cand.density = pool_density(raw_x)
    elif "density" in needs:
        # the pool sample, minus the candidates; a pool that small is all candidates anyway
        has_sample = pool_sample_raw is not None and n_rows(pool_sample_raw) > 0
        if embedded is not None and len(embedded.pool_sample):
            base = embedded.pool_sample
        else:
            base = represent(model, pool_sample_raw, seed) if has_sample else cand.features
        cand.density = knn_similarity(cand.features, base, DENSITY_K)
    if "estimator" in needs and model is not None:
        cand.estimator = clone(model.steps[-1][1] if hasattr(model, "steps") else model)
    return cand
