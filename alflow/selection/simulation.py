"""In-memory campaigns with a simulated annotator, for benchmarks: each round's batch is built by
the same code as a real round's (``score_features`` scores the pool like a Dask partition,
``batch.pick_batch`` picks), without Dask, Prefect or MLflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.metrics import accuracy_score, f1_score

from alflow.config import EvaluationConfig, GateConfig, StrategyConfig
from alflow.scoring.linear_scorer import linear_scorer
from alflow.scoring.score import ROW, ScoreRequest, score_features
from alflow.selection.batch import BatchRequest, committee_builder, pick_batch
from alflow.selection.candidates import Embedded
from alflow.selection.policy import choose_strategy, density_sample_size, portfolio_history
from alflow.selection.portfolio import PORTFOLIO
from alflow.strategies import StrategySpec, candidate_count
from alflow.training.model import holdout_mask

PARTITION_NAME = "pool"  # the simulated pool is one partition: it seeds the random scores


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


@dataclass(frozen=True)
class SimulatedPool:
    """A pool in memory: ids (``item_id``), features, truth, and the label schema."""

    ids: pa.Array
    x: Any
    y: np.ndarray
    classes: list[str]
    embedding: np.ndarray | None = None  # the space distances are measured in, if given
    partition: str = PARTITION_NAME  # seeds the random scores, as a partition's name does

    @classmethod
    def of(cls, x, y, classes, embedding=None) -> SimulatedPool:
        ids = pa.array([f"{i:09d}" for i in range(len(y))])
        return cls(ids, x, np.asarray(y).astype(str), list(classes), embedding)


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


def simulated_batch(
    pool: SimulatedPool,
    labeled: np.ndarray,
    model,
    spec: StrategySpec,
    *,
    batch_size: int,
    seed: int,
    round_id: int,
    strategy: StrategyConfig,
    committee: Callable[[Any, np.ndarray], list],
) -> pd.DataFrame:
    """The batch a round picks with ``labeled`` (pool positions, in label order) and ``model``:
    the pool scored as one partition, then ``pick_batch`` (``item_id``, ``rank``, ...)."""
    keep = np.ones(len(pool.y), dtype=bool)
    keep[labeled] = False
    req = ScoreRequest(
        rank_by=spec.ranks,
        top_m=candidate_count(spec, batch_size, strategy.candidate_factor),
        seed=seed,
        round_id=round_id,
        classes=pool.classes,
        keep_features=bool(spec.needs & {"features", "density", "committee"}),
        sample_m=density_sample_size(strategy, spec, by_index=False),
    )
    scorer = _scorer(model, pool) if spec.needs_model else None
    scores = score_features(pool.ids, pool.x, pool.partition, scorer, keep, req)
    return pick_batch(
        BatchRequest(
            spec=spec,
            scores=scores,
            model=model,
            labeled_x=_take(pool.x, labeled),
            labeled_y=pool.y[labeled],
            committee=committee,
            batch_size=batch_size,
            seed=seed,
            round_id=round_id,
            embedded=None if pool.embedding is None else _embedded(pool, labeled),
        )
    )


def _scorer(model, pool: SimulatedPool):
    """The model as ``score_pool`` ships it to the workers: folded into a ``LinearScorer`` when
    it is one and the features are a dense array (a round's vector pools always are)."""
    return (
        (linear_scorer(model, pool.classes) or model) if isinstance(pool.x, np.ndarray) else model
    )


def _embedded(pool: SimulatedPool, labeled: np.ndarray):
    """Candidates', labeled and sample rows of the pool's embedding."""
    position = pd.Index(pool.ids.to_numpy(zero_copy_only=False))

    def rows(frame: pd.DataFrame, sample: pd.DataFrame | None) -> Embedded:
        at = position.get_indexer(sample["item_id"]) if sample is not None else []
        e = pool.embedding
        return Embedded(e[frame[ROW].to_numpy()], e[labeled], e[np.asarray(at, dtype=np.intp)])

    return rows


def holdout_metric(pool: SimulatedPool, labeled: np.ndarray, make_model, seed: int) -> float:
    """The gate metric of a model fit on the labels minus a stable holdout, measured on that
    holdout, as a round without an evaluation set measures it (NaN while it is too small).
    The portfolio's reward: held-out labels only, never the test set."""
    ev, gate = EvaluationConfig(), GateConfig()
    ids = pool.ids.take(pa.array(labeled)).to_numpy(zero_copy_only=False)
    held = holdout_mask(ids, ev.holdout_fraction, seed)
    train = labeled[~held]
    if held.sum() < ev.min_eval_labels or len(np.unique(pool.y[train])) < 2:
        return float("nan")
    model = make_model().fit(_take(pool.x, train), pool.y[train])
    return _metrics(pool.y[labeled[held]], model.predict(_take(pool.x, labeled[held])), pool)[
        gate.metric
    ]


def _metrics(y_true, pred, pool: SimulatedPool) -> dict[str, float]:
    return {
        "accuracy": accuracy_score(y_true, pred),
        "macro_f1": f1_score(y_true, pred, labels=pool.classes, average="macro", zero_division=0),
    }


def _strategy_section(strategy: str | StrategyConfig, params: dict | None) -> StrategyConfig:
    """``strategy`` as a config section: a name's ``params`` minus the committee's size and kind."""
    if isinstance(strategy, StrategyConfig):
        return strategy
    params = dict(params or {})
    defaults = StrategyConfig()
    size = params.pop("committee_size", defaults.committee_size)
    kind = params.pop("committee_kind", defaults.committee_kind)
    return StrategyConfig(name=strategy, params=params, committee_size=size, committee_kind=kind)


def simulate(
    strategy: str | StrategyConfig,
    x_pool: Any,
    y_pool: np.ndarray,
    x_test: Any,
    y_test: np.ndarray,
    *,
    make_model: Callable[[], Any],
    protocol: Protocol,
    params: dict | None = None,
    embedding: np.ndarray | None = None,
    make_family: Callable[[], list] | None = None,
) -> pd.DataFrame:
    """Run one campaign of ``strategy`` (a registered name, or a whole ``strategy`` config
    section: its cold start, committee and parameters as a round reads them); one row per
    round: ``labels``, ``accuracy``, ``macro_f1`` (on the test set, which only reports: nothing
    the campaign picks depends on it) and ``query_seconds`` (building the next batch; none
    after the last round).

    ``x_pool``/``x_test`` are arrays, lists of texts, or sparse matrices (text vectorised once
    for the whole campaign, which ``make_model`` then takes as it is).

    ``params`` go to the strategy, except ``committee_size`` and ``committee_kind`` (for
    strategies that need a committee; ``estimators`` fits one member per ``make_family()``
    model). ``strategy="portfolio"`` takes ``arms`` (and ``gamma``) and picks an arm each round
    by the gains of the gate metric on held-out labels (``holdout_metric``), like a round.

    ``embedding`` (one row per pool item), when given, is the space distances are measured in,
    as a pool's embedding column is in a real round; otherwise the model's own representation.
    """
    s = _strategy_section(strategy, params)
    y_pool, y_test = np.asarray(y_pool).astype(str), np.asarray(y_test).astype(str)
    pool = SimulatedPool.of(x_pool, y_pool, sorted(set(y_pool) | set(y_test)), embedding)
    committee = committee_builder(
        s.committee_kind, s.committee_size, make_model, make_family, protocol.seed
    )
    labeled = initial_labels(y_pool, protocol.initial, np.random.default_rng(protocol.seed))
    rows, rewards, strategies = [], [], ["initial"]
    for round_id in range(1, 10_000):
        model = make_model().fit(_take(x_pool, labeled), y_pool[labeled])
        rows.append({"labels": len(labeled), **_metrics(y_test, model.predict(x_test), pool)})
        if s.name == PORTFOLIO:
            rewards.append(holdout_metric(pool, labeled, make_model, protocol.seed))
        batch_size = min(protocol.batch_at(len(labeled)), protocol.budget - len(labeled))
        batch_size = min(batch_size, len(y_pool) - len(labeled))
        if batch_size <= 0:
            break
        started = time.perf_counter()
        picked = _next_batch(
            s, pool, labeled, model, rewards, strategies, batch_size, round_id, committee,
            protocol.seed,
        )  # fmt: skip
        rows[-1]["query_seconds"] = time.perf_counter() - started
        labeled = np.concatenate([labeled, picked["item_id"].astype(int).to_numpy()])
    return pd.DataFrame(rows)


def _next_batch(
    s, pool, labeled, model, rewards, strategies, batch_size, round_id, committee, seed
):
    """Round ``round_id``'s batch: the strategy (a portfolio's arm) chosen like in a round."""
    spec, _ = choose_strategy(
        s,
        pool.classes,
        pd.DataFrame({"label": pool.y[labeled]}),
        has_model=True,
        history=_history(rewards, strategies),
        seed=seed,
        round_id=round_id,
    )
    strategies.append(spec.name)
    return simulated_batch(
        pool,
        labeled,
        model,
        spec,
        batch_size=batch_size,
        seed=seed,
        round_id=round_id,
        strategy=s,
        committee=committee,
    )


def _history(rewards: list[float], strategies: list[str]) -> list[tuple[str, float]]:
    """The portfolio's ``(strategy, gain)`` so far, as ``portfolio_history`` reads a ledger."""
    if not rewards:
        return []
    metric = GateConfig().metric
    trainings = pd.DataFrame({"round": range(len(rewards)), metric: rewards})
    return portfolio_history(trainings, pd.Series(strategies[: len(rewards)]), metric)
