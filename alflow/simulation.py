"""In-memory campaigns with a simulated annotator, for benchmarks: the same strategies, the same
scoring and candidate building as a real round, without Dask, Prefect or MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.metrics import accuracy_score, f1_score

from alflow.candidates import Embedded, build_candidates
from alflow.committee import build_committee
from alflow.config import StrategyConfig
from alflow.portfolio import PORTFOLIO, choose_arm
from alflow.scoring import score_rows
from alflow.strategies import candidate_count, get_strategy

POOL_SAMPLE = 5_000


@dataclass(frozen=True)
class Protocol:
    """A campaign: ``initial`` random labels, then batches of ``batch`` up to ``budget``; with
    ``late_batch``, batches of that size once ``late_from`` labels are reached (long campaigns
    keep the early rounds fine-grained and the late ones affordable)."""

    initial: int = 20
    batch: int = 20
    budget: int = 600
    seed: int = 0
    late_batch: int = 0
    late_from: int = 600

    def batch_at(self, labels: int) -> int:
        """The batch size of the round that starts with ``labels`` labels."""
        late = self.late_batch and labels >= self.late_from
        return self.late_batch if late else self.batch


def _take(x: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of an array or sparse matrix, or items of a list of texts."""
    return x[idx] if hasattr(x, "shape") else [x[i] for i in idx]


def initial_labels(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random items, drawn again until at least two classes appear (a model needs two)."""
    for _ in range(100):
        idx = rng.choice(len(y), size=n, replace=False)
        if len(np.unique(y[idx])) > 1:
            return idx
    raise ValueError(f"{n} random labels never covered two classes")


def simulate(
    strategy: str,
    x_pool: Any,
    y_pool: np.ndarray,
    x_test: Any,
    y_test: np.ndarray,
    *,
    make_model: Callable[[], Any],
    protocol: Protocol,
    params: dict | None = None,
    embedding: np.ndarray | None = None,
) -> pd.DataFrame:
    """Run one campaign; one row per round: ``labels``, ``accuracy``, ``macro_f1``.

    ``x_pool``/``x_test`` are arrays, lists of texts, or sparse matrices (text vectorised once
    for the whole campaign, which ``make_model`` then takes as it is).

    ``params`` go to the strategy, except ``committee_size`` and ``committee_kind`` (for
    strategies that need a committee). ``strategy="portfolio"`` takes ``arms`` (and ``gamma``)
    and picks an arm each round by its accuracy gains so far.

    ``embedding`` (one row per pool item), when given, is the space distances are measured in,
    as a pool's embedding column is in a real round; otherwise the model's own representation.
    """
    params = dict(params or {})
    committee_size = params.pop("committee_size", 5)
    committee_kind = params.pop("committee_kind", "bagging")
    arms = params.pop("arms", None) if strategy == PORTFOLIO else None
    gamma = params.pop("gamma", 0.2)
    history: list[tuple[str, float]] = []
    spec = None
    factor = StrategyConfig().candidate_factor
    y_pool, y_test = np.asarray(y_pool).astype(str), np.asarray(y_test).astype(str)
    schema = sorted(set(y_pool) | set(y_test))
    ids = pa.array([f"{i:09d}" for i in range(len(y_pool))])
    rng = np.random.default_rng(protocol.seed)
    labeled = initial_labels(y_pool, protocol.initial, rng)
    rows = []
    for round_id in range(1, 10_000):
        model = make_model().fit(_take(x_pool, labeled), y_pool[labeled])
        pred = model.predict(x_test)
        rows.append(
            {
                "labels": len(labeled),
                "accuracy": accuracy_score(y_test, pred),
                "macro_f1": f1_score(y_test, pred, labels=schema, average="macro", zero_division=0),
            }
        )
        if arms is not None and spec is not None:
            history.append((spec.name, rows[-1]["accuracy"] - rows[-2]["accuracy"]))
        spec = get_strategy(
            choose_arm(arms, history, seed=protocol.seed, round_id=round_id, gamma=gamma)
            if arms is not None
            else strategy
        )
        unlabeled = np.setdiff1d(np.arange(len(y_pool)), labeled)
        batch = min(protocol.batch_at(len(labeled)), protocol.budget - len(labeled), len(unlabeled))
        if batch <= 0:
            break
        x_unl = _take(x_pool, unlabeled)
        rand = np.random.default_rng([protocol.seed, round_id]).random(len(unlabeled))
        scores, pick = score_rows(
            ids.take(pa.array(unlabeled)),
            x_unl,
            model,
            rand,
            rank_by=spec.ranks,
            classes=schema,
            top_m=candidate_count(spec, batch, factor),
        )
        committee = None
        if "committee" in spec.needs:
            committee = build_committee(
                make_model(),
                _take(x_pool, labeled),
                y_pool[labeled],
                n_members=committee_size,
                kind=committee_kind,
                random_state=protocol.seed + round_id,
            )
        sample = rng.choice(len(unlabeled), size=min(POOL_SAMPLE, len(unlabeled)), replace=False)
        sample = np.setdiff1d(sample, pick)  # no candidate is its own density neighbour
        cand = build_candidates(
            scores.candidates,
            _take(x_unl, pick),
            spec,
            model=model,
            labeled_raw_x=_take(x_pool, labeled),
            labeled_labels=y_pool[labeled],
            committee=committee,
            pool_sample_raw=_take(x_unl, sample),
            embedded=None
            if embedding is None
            else Embedded(
                embedding[unlabeled[pick]], embedding[labeled], embedding[unlabeled[sample]]
            ),
            seed=protocol.seed,
        )
        arm_params = {} if arms is not None else params
        chosen = spec.select(cand, batch, random_state=protocol.seed + round_id, **arm_params)
        labeled = np.concatenate([labeled, unlabeled[pick[chosen]]])
    return pd.DataFrame(rows)
