"""A strategy portfolio: each round a bandit picks which strategy chooses the batch.

In the spirit of Active Learning by Learning (Hsu and Lin, AAAI 2015), which treats strategies as
bandit arms rewarded by the model's measured improvement. ALBL uses EXP4.P with an
importance-weighted accuracy estimate; this uses EXP3 (Auer et al. 2002) with the gain of the
gate metric after each round as the reward, replayed from the recorded history so the choice is
deterministic under a seed and needs no stored bandit state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alflow.strategy_params import PORTFOLIO  # noqa: F401  (re-exported)


def arm_probabilities(
    arms: Sequence[str], history: Sequence[tuple[str, float]], gamma: float, scale: float = 20.0
) -> np.ndarray:
    """EXP3 probabilities after ``history`` of ``(arm, metric gain)``.

    A gain of ``1 / scale`` (0.05 by default) or more is a full reward, a loss as large is none:
    gains are clipped to [-1, 1] after scaling, then mapped to [0, 1].
    """
    k = len(arms)
    log_w = np.zeros(k)
    for arm, gain in history:
        if arm not in arms:
            continue
        p = _probs(log_w, gamma)
        j = arms.index(arm)
        reward = (np.clip(gain * scale, -1.0, 1.0) + 1.0) / 2.0
        log_w[j] += gamma * reward / (k * p[j])
    return _probs(log_w, gamma)


def _probs(log_w: np.ndarray, gamma: float) -> np.ndarray:
    w = np.exp(log_w - log_w.max())
    return (1 - gamma) * w / w.sum() + gamma / len(w)


def choose_arm(
    arms: Sequence[str],
    history: Sequence[tuple[str, float]],
    *,
    seed: int,
    round_id: int,
    gamma: float = 0.2,
) -> str:
    """The strategy for round ``round_id``, drawn from the EXP3 probabilities."""
    arms = list(arms)
    rng = np.random.default_rng([seed, round_id, 0xA1B1])
    return arms[int(rng.choice(len(arms), p=arm_probabilities(arms, history, gamma)))]


def gains(strategies: Sequence[str], metrics: Sequence[float]) -> list[tuple[str, float]]:
    """``(strategy of round r, metric(r) - metric(r - 1))`` for every round after the first."""
    return [(strategies[i], float(metrics[i] - metrics[i - 1])) for i in range(1, len(metrics))]
