"""When to stop labeling: budget, target metric, plateau, stabilizing predictions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import cohen_kappa_score

from alflow.config import AlflowConfig


def plateaued(values: Sequence[float], rounds: int, min_delta: float) -> bool:
    """True when the last ``rounds`` values improved on the best before them by < min_delta."""
    if rounds <= 0 or len(values) <= rounds:
        return False
    return max(values[-rounds:]) - max(values[:-rounds]) < min_delta


def agreement(previous: np.ndarray, current: np.ndarray) -> float:
    """Cohen's kappa between two models' predictions on the stop set (1.0 when identical)."""
    if np.array_equal(previous, current):
        return 1.0
    return float(cohen_kappa_score(previous, current))


def predictions_stable(kappas: Sequence[float], threshold: float, window: int = 3) -> bool:
    """Stabilizing predictions (Bloodgood and Vijay-Shanker, CoNLL 2009): stop once the mean
    kappa between successive models over the last ``window`` rounds reaches ``threshold``."""
    return len(kappas) >= window and float(np.mean(kappas[-window:])) >= threshold


def stop_reason(config: AlflowConfig, curve: list[dict]) -> str | None:
    """Why the campaign stops after the rounds in ``curve``, or None to go on."""
    c = config.campaign
    name = config.model.gate.metric
    labels = curve[-1]["labels_total"]
    values = [r[name] for r in curve if r.get(name) is not None]
    kappas = [r["stop_kappa"] for r in curve if r.get("stop_kappa") is not None]
    if c.label_budget is not None and labels + c.batch_size > c.label_budget:
        return f"label budget {c.label_budget} reached ({labels} labels)"
    if c.target_metric is not None and values and values[-1] >= c.target_metric:
        return f"target {name} {c.target_metric} reached ({values[-1]:.4f})"
    if c.plateau_rounds and plateaued(values, c.plateau_rounds, c.plateau_min_delta):
        return f"{name} gained less than {c.plateau_min_delta} in {c.plateau_rounds} rounds"
    if c.stop_kappa is not None and predictions_stable(kappas, c.stop_kappa):
        return f"predictions stabilized (mean kappa of the last 3 rounds >= {c.stop_kappa})"
    if len(curve) >= c.max_rounds:
        return f"max_rounds {c.max_rounds} done"
    return None
