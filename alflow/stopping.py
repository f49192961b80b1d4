"""When to stop labeling: budget, target metric, plateau, stabilizing predictions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import cohen_kappa_score


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
