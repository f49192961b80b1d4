"""Building a query-by-committee ensemble and reading its probabilities on one class order.

Seung, Opper and Sompolinsky, "Query by committee", COLT 1992; bagged committees follow Abe and
Mamitsuka, "Query learning strategies using boosting and bagging", ICML 1998 (Breiman 1996).
``X`` may be anything the estimator accepts: a numeric array or a list of strings for a pipeline
that starts with a text vectorizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from sklearn.base import clone
from sklearn.utils import resample

KINDS = ("bagging", "seeds")


def _seed_params(estimator: Any) -> list[str]:
    """Names of every ``random_state`` parameter, also those nested inside a pipeline."""
    return [
        p for p in estimator.get_params() if p == "random_state" or p.endswith("__random_state")
    ]


def _seeded(estimator: Any, seed: int) -> Any:
    """A clone of ``estimator`` with every ``random_state`` set to ``seed``."""
    return clone(estimator).set_params(**dict.fromkeys(_seed_params(estimator), seed))


def build_committee(
    estimator: Any,
    X: Any,
    y: Sequence | np.ndarray,
    *,
    n_members: int = 5,
    kind: Literal["bagging", "seeds"] = "bagging",
    random_state: int = 0,
) -> list:
    """``n_members`` fitted clones of ``estimator``, each with its own ``random_state``.

    ``bagging``: each member is fitted on a stratified bootstrap (every class is resampled with
    replacement to its own count), so every member sees every class present in ``y``.
    ``seeds``: every member sees the same data and differs only by its seed, which needs an
    estimator with a ``random_state`` parameter that changes the fit (e.g. a random forest).
    """
    if kind not in KINDS:
        raise ValueError(f"committee kind must be one of {KINDS}, got {kind!r}")
    if n_members < 1:
        raise ValueError(f"a committee needs at least one member, got {n_members}")
    if kind == "seeds" and not _seed_params(estimator):
        raise ValueError("kind='seeds' needs an estimator with a random_state parameter")
    y = np.asarray(y)
    seeds = np.random.default_rng(random_state).integers(2**31 - 1, size=n_members)
    members = []
    for seed in seeds.tolist():
        data = resample(X, y, stratify=y, random_state=seed) if kind == "bagging" else (X, y)
        members.append(_seeded(estimator, seed).fit(*data))
    return members


def aligned_proba(model: Any, X: Any, classes: Sequence) -> np.ndarray:
    """``model.predict_proba(X)`` with one column per entry of ``classes``, in that order.

    Classes are matched by their string form (labels are stored as strings); a class the model
    never saw gets probability 0, and a model class missing from ``classes`` is an error.
    """
    column = {str(c): j for j, c in enumerate(classes)}
    unknown = [c for c in model.classes_ if str(c) not in column]
    if unknown:
        raise ValueError(f"model predicts classes {unknown} that are not in {list(classes)}")
    proba = model.predict_proba(X)
    aligned = np.zeros((proba.shape[0], len(classes)))
    aligned[:, [column[str(c)] for c in model.classes_]] = proba
    return aligned


def committee_proba(members: Sequence[Any], X: Any, classes: Sequence) -> np.ndarray:
    """(C, n, K) probabilities of every member over ``classes`` (see ``aligned_proba``)."""
    return np.stack([aligned_proba(member, X, classes) for member in members])
