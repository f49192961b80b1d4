"""Probabilities fast: a fitted linear pipeline folded into float32 weights (``LinearScorer``),
and every uncertainty utility from class-major probabilities in a few passes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from alflow.selection.committee import aligned_proba


@dataclass(frozen=True)
class LinearScorer:
    """A fitted ``[StandardScaler ->] LogisticRegression`` folded into float32 weights.

    ``weights @ x.T + bias`` gives the classifier's decision values (the scaler folded in), then
    a sigmoid (binary) or an in-place softmax, laid out over ``classes`` like ``aligned_proba``.
    Class-major (K, n): every reduction over classes is then a pass over K long rows.
    """

    weights: np.ndarray  # (K', d) float32
    bias: np.ndarray  # (K', 1) float32
    columns: np.ndarray  # output row of each model class
    n_classes: int

    def proba_t(self, x: np.ndarray) -> np.ndarray:
        """(K, n) float32 probabilities over the classes."""
        z = self.weights @ np.asarray(x, dtype=np.float32).T
        z += self.bias
        if len(z) == 1:  # binary: sklearn's expit of the one decision value
            np.negative(z, out=z)
            np.exp(z, out=z)
            z += 1.0
            np.reciprocal(z, out=z)
            p = np.concatenate([1.0 - z, z])
        else:
            z -= z.max(axis=0)
            np.exp(z, out=z)
            z /= z.sum(axis=0)
            p = z
        if self.n_classes == len(p) and np.array_equal(self.columns, np.arange(len(p))):
            return p
        out = np.zeros((self.n_classes, p.shape[1]), dtype=np.float32)
        out[self.columns] = p
        return out


def linear_scorer(model, classes: Sequence[str]) -> LinearScorer | None:
    """``model`` as a ``LinearScorer`` when it is one (checked against ``aligned_proba`` on
    random inputs), else None: other models are scored by their own ``predict_proba``."""
    steps = [s for _, s in model.steps] if hasattr(model, "steps") else [model]
    *pre, clf = steps
    if type(clf) is not LogisticRegression or len(pre) > 1:
        return None
    if pre and type(pre[0]) is not StandardScaler:
        return None
    coef, bias = clf.coef_.astype(np.float64), clf.intercept_.astype(np.float64)
    d = coef.shape[1]
    mean, scale = np.zeros(d), np.ones(d)
    if pre:
        mean = pre[0].mean_ if pre[0].with_mean else mean
        scale = pre[0].scale_ if pre[0].with_std else scale
    weights = coef / scale
    bias = bias - weights @ mean
    row = {str(c): j for j, c in enumerate(classes)}
    if any(str(c) not in row for c in clf.classes_):
        return None  # aligned_proba raises the clear error
    scorer = LinearScorer(
        np.ascontiguousarray(weights, dtype=np.float32),
        bias.astype(np.float32)[:, None],
        np.array([row[str(c)] for c in clf.classes_]),
        len(classes),
    )
    x = np.random.default_rng(0).normal(size=(256, d)) * scale + mean
    same = np.allclose(scorer.proba_t(x).T, aligned_proba(model, x, classes), atol=1e-4)
    return scorer if same else None


def proba_t(model, x, classes: Sequence[str]) -> np.ndarray:
    """(K, n) probabilities over ``classes`` from a ``LinearScorer`` or any fitted classifier."""
    if isinstance(model, LinearScorer):
        return model.proba_t(x)
    return np.ascontiguousarray(aligned_proba(model, x, classes).T)


def utilities_t(pt: np.ndarray) -> dict[str, np.ndarray]:
    """Every utility of ``UTILITIES`` from class-major probabilities (K, n), in a few passes over
    K rows (the same values as the (n, K) functions in ``alflow.strategies.uncertainty``)."""
    k = len(pt)
    top1 = pt[0].copy()
    top2 = np.full_like(top1, -np.inf)
    low = np.empty_like(top1)
    for row in pt[1:]:
        np.minimum(top1, row, out=low)
        np.maximum(top2, low, out=top2)
        np.maximum(top1, row, out=top1)
    p = np.clip(pt, 1e-12, 1.0)
    plogp = np.log(p)
    plogp *= p
    out = {
        "least_confidence": (1.0 - top1) * (k / (k - 1)),
        "margin": 1.0 - (top1 - top2),
        "entropy": -plogp.sum(axis=0) / np.log(k),
        "_top": top1,
    }
    return out
