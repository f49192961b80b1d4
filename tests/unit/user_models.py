"""A user's own estimators, named in configs as ``tests.unit.user_models:<factory>``."""

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


def no_proba():
    """Not a probabilistic classifier: refused with a clear config error."""
    return PolynomialFeatures()
