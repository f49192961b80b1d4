"""The classifier of the pipeline: a built-in estimator by name, or the user's own.

``model.estimator: "package.module:factory"`` names a callable that returns a scikit-learn
compatible classifier (or a pipeline) with ``predict_proba``; it is called with
``model.params`` as keyword arguments. The module must be importable where alflow runs and on
the Dask workers (installed, or on ``PYTHONPATH``). Every way this can fail is a one-line
config error naming ``model.estimator``.
"""

from __future__ import annotations

import importlib
from typing import Any

from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.utils.validation import has_fit_parameter

from alflow.config import BUILTIN_ESTIMATORS, ModelConfig
from alflow.errors import ConfigError

ESTIMATORS: dict[str, tuple[type, dict[str, Any]]] = {
    "logistic_regression": (LogisticRegression, {"max_iter": 2000}),
    "random_forest": (RandomForestClassifier, {"n_estimators": 200, "n_jobs": 1}),
    "sgd": (SGDClassifier, {"loss": "log_loss"}),
}
assert set(ESTIMATORS) == set(BUILTIN_ESTIMATORS)


def load_factory(spec: str):
    """The callable ``package.module:factory`` names."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # the user's module may fail in any way while importing
        raise ConfigError(
            f"model.estimator: cannot import {module_name!r} ({type(err).__name__}: {err}); "
            "install it or put its folder on PYTHONPATH"
        ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"model.estimator: {module_name!r} has no callable {attr!r}")
    return factory


def make_estimator(model: ModelConfig, seed: int):
    """A fresh, unfitted classifier for ``model``, seeded by ``seed`` where it takes one."""
    if model.estimator in ESTIMATORS:
        cls, defaults = ESTIMATORS[model.estimator]
        params = {**defaults, **model.params}
        if "random_state" in cls().get_params():
            params.setdefault("random_state", seed)
        try:
            estimator = cls(**params)
        except TypeError as err:  # an unknown keyword in model.params
            raise ConfigError(f"model.params: {model.estimator} rejected them ({err})") from None
        _check_params(estimator, model.estimator)
        return estimator
    factory = load_factory(model.estimator)
    try:
        estimator = factory(**model.params)
    except Exception as err:  # a bad keyword or value in model.params
        raise ConfigError(
            f"model.params: {model.estimator} rejected them ({type(err).__name__}: {err})"
        ) from None
    for method in ("fit", "predict_proba", "get_params"):
        if not hasattr(estimator, method):
            raise ConfigError(
                f"model.estimator: {model.estimator} returned a {type(estimator).__name__}, "
                f"which has no {method}(); alflow needs a scikit-learn classifier with "
                "predict_proba (class probabilities)"
            )
    _check_params(estimator, model.estimator)
    own = estimator.get_params(deep=False)
    if "random_state" in own and own["random_state"] is None and "random_state" not in model.params:
        estimator.set_params(random_state=seed)
    return estimator


def _check_params(estimator, spec: str) -> None:
    """scikit-learn checks parameter values only in ``fit``; a wrong value in ``model.params``
    is the user's config error, so it is checked here (for estimators that can)."""
    validate = getattr(estimator, "_validate_params", None)
    if validate is None:
        return
    try:
        validate()
    except (ValueError, TypeError) as err:
        said = " ".join(str(err).split())
        raise ConfigError(f"model.params: {spec} rejected them ({said})") from None


def sample_weight_param(pipeline, spec: str) -> str:
    """The fit parameter that weighs the rows (weak and pseudo-labels) of ``pipeline``'s
    ``classify`` step: ``classify__sample_weight``, or down to the last step of a user's own
    pipeline (``classify__clf__sample_weight``). A classifier that takes no weights is a
    config error."""
    path, step = ["classify"], pipeline.named_steps["classify"]
    while hasattr(step, "steps"):
        name, step = step.steps[-1]
        path.append(name)
    if not has_fit_parameter(step, "sample_weight"):
        raise ConfigError(
            f"model.estimator: {spec}'s {type(step).__name__}.fit takes no sample_weight, "
            "which weak and pseudo-labels need; set model.weak_labels.enabled and "
            "model.pseudo_labels.enabled to false, or use a classifier that takes it"
        )
    return "__".join([*path, "sample_weight"])
