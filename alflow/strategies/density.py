"""Density weighting: prefer informative items that sit where the pool is dense.

``Candidates.density`` is the mean cosine similarity of each candidate to its k nearest pool
neighbours (FAISS, over a uniform pool sample), so outliers score low.
"""

from __future__ import annotations

import numpy as np

from alflow import strategy_params as P
from alflow.strategies.base import Candidates, register, top_k


def information_density(utility: np.ndarray, density: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """utility x density^beta (Settles and Craven, EMNLP 2008, eq. 1); density clipped at 0."""
    return utility * np.clip(density, 0.0, None) ** beta


@register(
    "information_density",
    rank_by="margin",
    needs=frozenset({"density"}),
    params=P.InformationDensity,
)
def select_information_density(
    candidates: Candidates,
    batch_size: int,
    *,
    random_state=None,
    utility: str = "margin",
    beta: float = 1.0,
) -> np.ndarray:
    """Top-B by ``utility`` x density^beta (Settles and Craven 2008)."""
    scores = information_density(candidates.utilities[utility], candidates.density, beta)
    return top_k(scores, batch_size, candidates.item_ids)


@register(
    "typicality",
    rank_by="random",
    needs_model=False,
    needs=frozenset({"density"}),
    min_candidates=2_000,
)
def select_typical(candidates: Candidates, batch_size: int, *, random_state=None) -> np.ndarray:
    """The most typical items of a uniform pool sample: highest kNN density.

    Representative sampling for a cold start (Zhu, Wang, Yao and Tsou, COLING 2008, "density"
    as the mean similarity to the nearest neighbours).
    """
    return top_k(candidates.density, batch_size, candidates.item_ids)
