"""Pure selection policy: which strategy a round uses, how the batch divides between stream,
control and strategy picks, and what the round's selection depends on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alflow.config import AlflowConfig, StrategyConfig
from alflow.scoring.score import component_columns
from alflow.selection.portfolio import PORTFOLIO, choose_arm, gains
from alflow.strategies import StrategySpec, get_strategy
from alflow.strategy_params import Portfolio

BATCH_COLUMNS = ["item_id", "rank", "utility", "predicted_label", "predicted_score", "reason"]


@dataclass(frozen=True)
class SelectionInputs:
    """Everything a round's selection depends on besides the config and the scoring model.

    MLflow records it with each round (``replay/``), so ``alflow replay`` can rebuild the batch.
    """

    round_id: int
    strategy: str
    params: dict[str, Any]
    model_version: str | None
    watermark: int  # the newest ingest the round saw
    partitions: list[tuple[str, str]]  # (name, sha256) of the pool the round scored
    stream_partitions: list[tuple[str, str]]  # ingested since the previous round
    excluded: list[str]  # labeled, skipped or in flight: not scored
    labels: pd.DataFrame  # resolved labels (item_id, label) at selection time
    sample_m: int
    n_control: int

    def to_json(self) -> dict[str, Any]:
        """The scalar part (excluded ids and labels are logged as CSV files)."""
        return {
            "round_id": self.round_id,
            "strategy": self.strategy,
            "params": self.params,
            "model_version": self.model_version,
            "watermark": self.watermark,
            "partitions": [list(p) for p in self.partitions],
            "stream_partitions": [list(p) for p in self.stream_partitions],
            "sample_m": self.sample_m,
            "n_control": self.n_control,
        }


@dataclass(frozen=True)
class BatchShares:
    """How many picks each part of a batch may take, and the uniform sample it needs."""

    n_stream: int
    n_control: int
    sample_m: int


def batch_shares(
    config: AlflowConfig,
    spec: StrategySpec,
    *,
    streaming: bool,
    by_index: bool,
    needs_stop_set: bool,
) -> BatchShares:
    """The stream budget (only with a model and a previous round), the control slice, and the
    uniform sample size: density estimation, the stop set and the control slice draw on it."""
    n_stream = config.stream.budget if streaming else 0
    n_control = round(config.campaign.control_fraction * config.campaign.batch_size)
    sample_m = density_sample_size(config.strategy, spec, by_index=by_index)
    if needs_stop_set:
        sample_m = max(sample_m, config.campaign.stop_set_size)
    if n_control:  # the control slice is the top of the uniform sample, minus stream picks
        sample_m = max(sample_m, n_control + n_stream)
    return BatchShares(n_stream, n_control, sample_m)


def density_sample_size(s: StrategyConfig, spec: StrategySpec, *, by_index: bool) -> int:
    """The uniform pool sample density is measured against (none from the pool index)."""
    return s.pool_sample if "density" in spec.needs and not by_index else 0


def choose_strategy(
    s: StrategyConfig,
    classes: list[str],
    labels: pd.DataFrame,
    *,
    has_model: bool,
    history: list[tuple[str, float]],
    seed: int,
    round_id: int,
) -> tuple[StrategySpec, dict[str, Any]]:
    """``(spec, params)`` for this round: the cold start while no model exists or some class
    has fewer than ``cold_start_until_per_class`` labels (before the first model, ``random``
    in place of a cold start that needs one); a portfolio's pick (EXP3 over the ``history`` of
    gains) with that arm's params; or the configured strategy. The spec runs with the params
    (``StrategySpec.with_params``)."""
    counts = labels["label"].value_counts()
    cold = get_strategy(s.cold_start)
    if not has_model:
        return (get_strategy("random") if cold.needs_model else cold), {}
    if any(counts.get(c, 0) < s.cold_start_until_per_class for c in classes):
        return cold, {}
    if s.name != PORTFOLIO:
        return get_strategy(s.name).with_params(s.params), s.params
    portfolio = Portfolio.model_validate(s.params)
    names = [a.name for a in portfolio.arms]
    arm = portfolio.arm(
        choose_arm(names, history, seed=seed, round_id=round_id, gamma=portfolio.gamma)
    )
    return get_strategy(arm.name).with_params(arm.params), arm.params


def portfolio_history(
    trainings: pd.DataFrame, strategies: pd.Series, metric: str
) -> list[tuple[str, float]]:
    """``(strategy, gain of ``metric``)`` of every trained round so far (``strategies``: each
    round's strategy, indexed by round id); rounds too early to be evaluated are left out."""
    if trainings.empty or metric not in trainings:
        return []
    trainings = trainings.dropna(subset=[metric])
    return gains(strategies.loc[trainings["round"]].tolist(), trainings[metric].tolist())


def empty_picks() -> pd.DataFrame:
    return pd.DataFrame(
        {"item_id": [], "utility": [], "predicted_label": [], "predicted_score": [], "reason": []}
    )


def control_picks(sample: pd.DataFrame | None, n: int, skip: set) -> pd.DataFrame:
    """The control slice: the ``n`` best seeded uniform scores among unlabeled items, i.e. a
    uniform random sample without replacement (``skip``: items already in the batch)."""
    if n == 0 or sample is None:
        return empty_picks()
    rows = sample[~sample["item_id"].isin(skip)]
    rows = rows.sort_values(["random", "item_id"], ascending=[False, True]).head(n)
    return pd.DataFrame(
        {
            "item_id": rows["item_id"].to_numpy(),
            "utility": rows["random"].to_numpy(),
            "predicted_label": None,
            "predicted_score": np.nan,
            "reason": "control",
            "random": rows["random"].to_numpy(),
        }
    )


def assemble_batch(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Strategy, stream and control picks as one ranked batch."""
    batch = pd.concat([p for p in parts if len(p)], ignore_index=True)
    batch.insert(1, "rank", np.arange(1, len(batch) + 1))
    return batch[BATCH_COLUMNS + list(component_columns(batch))]
