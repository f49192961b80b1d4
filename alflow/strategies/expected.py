"""Look-ahead strategies: how much labeling an item is expected to change or improve the model.

Expected gradient length is a closed form over ``proba`` and ``features``; expected error
reduction refits the estimator once per (candidate, label); variance reduction works with d x d
Fisher information matrices. None of them builds anything of size M x M.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import sklearn
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from alflow import strategy_params as P
from alflow.selection.committee import aligned_proba
from alflow.strategies.base import Candidates, register, top_k

LOOK_AHEAD = frozenset({"features", "labeled", "estimator"})


def expected_gradient_length(proba: np.ndarray, features: np.ndarray) -> np.ndarray:
    """EGL(x) = ||x|| * sum_k p_k ||p - e_k|| for a softmax (or logistic) model.

    Labeled k, the log-loss gradient w.r.t. the weight matrix (intercept left out) is
    (p - e_k) x^T, whose Frobenius norm is ||p - e_k|| ||x||, and ||p - e_k||^2 =
    ||p||^2 - 2 p_k + 1. Not scaled: the score grows with ||x||. Settles, Craven and Ray,
    "Multiple-instance active learning", NIPS 2008.
    """
    squared = np.square(proba).sum(axis=1, keepdims=True) - 2.0 * proba + 1.0
    expected = (proba * np.sqrt(np.clip(squared, 0.0, None))).sum(axis=1)
    return np.linalg.norm(features.astype(np.float64), axis=1) * expected


def _log_loss(proba: np.ndarray) -> float:
    """Expected log loss under the model's own beliefs: its mean entropy in nats."""
    return float(-(proba * np.log(np.clip(proba, 1e-12, 1.0))).sum(axis=1).mean())


def _zero_one_loss(proba: np.ndarray) -> float:
    """Expected 0/1 loss under the model's own beliefs: mean of 1 - max_k p_k."""
    return float((1.0 - proba.max(axis=1)).mean())


LOSSES: dict[str, Callable[[np.ndarray], float]] = {"log": _log_loss, "zero_one": _zero_one_loss}


def refit_proba(
    estimator: Any, X: Any, y: np.ndarray, X_eval: Any, classes: Sequence[str]
) -> np.ndarray:
    """Probabilities over ``classes`` on ``X_eval`` of a fresh clone of ``estimator`` fit on X, y.

    Columns follow ``classes`` whatever subset the fit saw; a single-class training set predicts
    that class with certainty (classifiers refuse to fit one class).
    """
    labels = np.unique(y)
    if len(labels) == 1:
        proba = np.zeros((len(X_eval), len(classes)))
        proba[:, list(classes).index(labels[0])] = 1.0
        return proba
    return aligned_proba(clone(estimator).fit(X, y), X_eval, classes)


@contextmanager
def _small_fits() -> Iterator[None]:
    """Settings for fits on a few hundred rows of trusted data.

    One BLAS thread (more only contend over such small matrices, which slowed EER tenfold on a
    busy machine), and no finiteness or hyper-parameter checks, which would repeat identically for
    each of EER's refits.
    """
    with (
        threadpool_limits(limits=1),
        sklearn.config_context(assume_finite=True, skip_parameter_validation=True),
    ):
        yield


def expected_error_reduction(
    estimator: Any,
    labeled: tuple[np.ndarray, np.ndarray],
    features: np.ndarray,
    proba: np.ndarray,
    eval_features: np.ndarray,
    classes: Sequence[str],
    loss: str = "log",
) -> np.ndarray:
    """Expected loss on ``eval_features`` after labeling each row of ``features``; lower is better.

    For every row x and class k with p_k > 0, a clone of ``estimator`` is fit on ``labeled``
    (features, string labels) plus (x, k); its expected ``loss`` ("log" or "zero_one") on
    ``eval_features`` is weighted by p_k = ``proba[row, k]``. Cost: len(features) x K refits,
    each from scratch (no warm start, no iteration cap).
    Roy and McCallum, "Toward optimal active learning through sampling estimation of error
    reduction", ICML 2001.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    labeled_features, labeled_labels = labeled
    risk = np.zeros(len(features))
    with _small_fits():
        for row, (x, p) in enumerate(zip(features, proba, strict=True)):
            X = np.vstack([labeled_features, x[None, :]])
            for k in np.flatnonzero(p > 0):
                y = np.append(labeled_labels, classes[k])
                proba_after = refit_proba(estimator, X, y, eval_features, classes)
                risk[row] += p[k] * LOSSES[loss](proba_after)
    return risk


def fisher_weight(proba: np.ndarray) -> np.ndarray:
    """w(x) = sum_k p_k (1 - p_k) = 1 - ||p||^2: the scalar curvature of the log loss at x."""
    return 1.0 - np.square(proba).sum(axis=1)


def _with_bias(features: np.ndarray) -> np.ndarray:
    """Float64 features with a trailing constant 1, the intercept's coordinate."""
    return np.hstack([features.astype(np.float64), np.ones((len(features), 1))])


def variance_reduction(
    proba: np.ndarray,
    features: np.ndarray,
    labeled_features: np.ndarray,
    labeled_weights: np.ndarray,
    sample: np.ndarray,
    reg: float = 1.0,
) -> np.ndarray:
    """Reduction of the average output variance over ``features[sample]`` from labeling each row.

    A = reg I + sum_labeled w_i x_i x_i^T, U = mean_sample w_u x_u x_u^T and by Sherman-Morrison
    score(x) = w(x) x^T A^-1 U A^-1 x / (1 + w(x) x^T A^-1 x), with x extended by a constant 1
    for the intercept and w = ``fisher_weight(proba)``. ``reg`` is the prior precision (1/C for
    scikit-learn's L2 logistic regression). The scalar w collapses the softmax Fisher block
    (diag p - p p^T) (x) x x^T to one weight per item. Cohn, Ghahramani and Jordan, "Active
    learning with statistical models", JAIR 1996; Schein and Ungar, "Active learning for logistic
    regression: an evaluation", Machine Learning 2007.
    """
    x = _with_bias(features)
    labeled = _with_bias(labeled_features)
    weights = fisher_weight(proba)
    precision = reg * np.eye(x.shape[1]) + (labeled * labeled_weights[:, None]).T @ labeled
    output = (x[sample] * weights[sample, None]).T @ x[sample] / len(sample)
    covariance = np.linalg.inv(precision)
    gain = ((x @ (covariance @ output @ covariance)) * x).sum(axis=1)
    leverage = ((x @ covariance) * x).sum(axis=1)
    return weights * gain / (1.0 + weights * leverage)


def labeled_fisher_weights(
    estimator: Any, labeled_features: np.ndarray, labeled_labels: np.ndarray, classes: Sequence[str]
) -> np.ndarray:
    """Fisher weights of the labeled items under ``estimator`` refit once on them.

    With fewer than two labeled classes nothing can be fit, so every weight is 1/4, the largest
    value of p (1 - p) for a binary model.
    """
    if len(np.unique(labeled_labels)) < 2:
        return np.full(len(labeled_features), 0.25)
    with _small_fits():
        proba = refit_proba(estimator, labeled_features, labeled_labels, labeled_features, classes)
    return fisher_weight(proba)


@register("egl", rank_by="margin", needs=frozenset({"features"}))
def select_egl(candidates: Candidates, batch_size: int, *, random_state=None) -> np.ndarray:
    """Top-B by expected gradient length (Settles, Craven and Ray 2008)."""
    scores = expected_gradient_length(candidates.proba, candidates.features)
    return top_k(scores, batch_size, candidates.item_ids)


@register(
    "expected_error_reduction",
    rank_by="margin",
    needs=LOOK_AHEAD,
    params=P.ExpectedErrorReduction,
)
def select_expected_error_reduction(
    candidates: Candidates,
    batch_size: int,
    *,
    random_state=None,
    max_candidates: int = 100,
    eval_size: int = 300,
    loss: str = "log",
) -> np.ndarray:
    """The B smallest expected losses among the ``max_candidates`` top items by margin.

    Costs ``max_candidates`` x K refits of the estimator, each evaluated on a seeded subsample of
    ``eval_size`` candidates (the margin-ranked candidate set, not the whole pool); a batch larger
    than ``max_candidates`` is filled in margin order (Roy and McCallum 2001).
    """
    ids = candidates.item_ids
    by_margin = top_k(candidates.utilities["margin"], max(batch_size, max_candidates), ids)
    shortlist = by_margin[:max_candidates]
    rng = np.random.default_rng(random_state)
    sample = rng.choice(len(candidates), size=min(eval_size, len(candidates)), replace=False)
    labeled = (candidates.labeled_features, np.asarray(candidates.labeled_labels).astype(str))
    risk = expected_error_reduction(
        candidates.estimator,
        labeled,
        candidates.features[shortlist],
        candidates.proba[shortlist],
        candidates.features[sample],
        candidates.classes,
        loss,
    )
    best = shortlist[top_k(-risk, len(shortlist), ids[shortlist])]
    return np.concatenate([best, by_margin[max_candidates:]])[:batch_size]


@register("variance_reduction", rank_by="margin", needs=LOOK_AHEAD, params=P.VarianceReduction)
def select_variance_reduction(
    candidates: Candidates,
    batch_size: int,
    *,
    random_state=None,
    eval_size: int = 1000,
    reg: float = 1.0,
) -> np.ndarray:
    """Top-B by reduction of output variance over a seeded subsample of ``eval_size`` candidates.

    Candidate weights come from the champion's ``proba``, labeled weights from the estimator refit
    once on the labeled set (Cohn et al. 1996; Schein and Ungar 2007).
    """
    labels = np.asarray(candidates.labeled_labels).astype(str)
    weights = labeled_fisher_weights(
        candidates.estimator, candidates.labeled_features, labels, candidates.classes
    )
    rng = np.random.default_rng(random_state)
    sample = rng.choice(len(candidates), size=min(eval_size, len(candidates)), replace=False)
    scores = variance_reduction(
        candidates.proba, candidates.features, candidates.labeled_features, weights, sample, reg
    )
    return top_k(scores, batch_size, candidates.item_ids)
