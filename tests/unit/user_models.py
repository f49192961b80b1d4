"""A user's own estimators, named in configs as ``tests.unit.user_models:<factory>``.

``squashed_logistic`` holds a class of this module (``Squash``): a model built from it can
only be unpickled where this module imports, as on the Dask workers of a round.
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures


def gradient_boosting(**params):
    """Histogram gradient boosting with the config's params."""
    return HistGradientBoostingClassifier(**params)


def poly_logistic(degree: int = 2):
    """A user pipeline: polynomial features, then logistic regression."""
    return Pipeline(
        [("poly", PolynomialFeatures(degree)), ("clf", LogisticRegression(max_iter=500))]
    )


class Squash(TransformerMixin, BaseEstimator):
    """A user's own transformer: ``sign(x) * log1p(|x|) * scale``."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def fit(self, x, y=None):
        return self

    def transform(self, x):
        x = np.asarray(x, dtype=np.float64)
        return np.sign(x) * np.log1p(np.abs(x)) * self.scale


def squashed_logistic(scale: float = 1.0, c: float = 1.0):
    """A user pipeline with a transformer of its own, then logistic regression."""
    return Pipeline([("squash", Squash(scale)), ("clf", LogisticRegression(C=c, max_iter=1000))])


def no_proba():
    """Not a probabilistic classifier: refused with a clear config error."""
    return PolynomialFeatures()
