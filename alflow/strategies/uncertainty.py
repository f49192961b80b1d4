"""Uncertainty sampling and the random control.

Utilities take a probability matrix ``proba`` (n x K) and return one score per row, higher meaning
"more worth labeling", scaled to [0, 1] so that histograms from every partition share bins.
"""

from __future__ import annotations

import numpy as np

from alflow.strategies.base import Candidates, register, top_k


def least_confidence(proba: np.ndarray) -> np.ndarray:
    """1 - max_k p_k, scaled by K / (K - 1) to [0, 1].

    Lewis and Gale, "A sequential algorithm for training text classifiers", SIGIR 1994.
    """
    k = proba.shape[1]
    return (1.0 - proba.max(axis=1)) * (k / (k - 1))


def margin(proba: np.ndarray) -> np.ndarray:
    """1 - (p_(1) - p_(2)): a small gap between the two likeliest classes is uncertain.

    Scheffer, Decomain and Wrobel, "Active hidden Markov models for information extraction",
    IDA 2001.
    """
    top2 = np.partition(proba, -2, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy(proba: np.ndarray) -> np.ndarray:
    """Shannon entropy of the prediction, divided by log K.

    Settles, "Active Learning Literature Survey", 2009, section 3.1; Shannon 1948.
    """
    p = np.clip(proba, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1) / np.log(proba.shape[1])


UTILITIES = {"least_confidence": least_confidence, "margin": margin, "entropy": entropy}


def _top_by(candidates: Candidates, batch_size: int, utility: str) -> np.ndarray:
    return top_k(candidates.utilities[utility], batch_size, candidates.item_ids)


@register("least_confidence", rank_by="least_confidence")
def select_least_confidence(candidates: Candidates, batch_size: int, *, random_state=None):
    """Top-B by least confidence (Lewis and Gale 1994)."""
    return _top_by(candidates, batch_size, "least_confidence")


@register("margin", rank_by="margin")
def select_margin(candidates: Candidates, batch_size: int, *, random_state=None):
    """Top-B by smallest margin (Scheffer et al. 2001)."""
    return _top_by(candidates, batch_size, "margin")


@register("entropy", rank_by="entropy")
def select_entropy(candidates: Candidates, batch_size: int, *, random_state=None):
    """Top-B by predictive entropy (Settles 2009, section 3.1)."""
    return _top_by(candidates, batch_size, "entropy")


@register("random", rank_by="random", needs_model=False)
def select_random(candidates: Candidates, batch_size: int, *, random_state=None):
    """Uniform random sampling: the cold start and the control every strategy is judged against.

    The scores are seeded uniforms drawn per partition during scoring, so the batch does not depend
    on how many workers ran or in which order partitions finished (Lewis and Gale 1994 use random
    sampling as their baseline).
    """
    return _top_by(candidates, batch_size, "random")
