import numpy as np
import pytest

from alflow.config import config_from_dict
from alflow.training.model import build_model, evaluate, holdout_mask

TEXTS = [
    "win cash now",
    "free prize claim",
    "see you at lunch",
    "meeting moved to 3",
    "cash prize waiting",
    "lunch tomorrow?",
] * 5
LABELS = ["spam", "spam", "ham", "ham", "spam", "ham"] * 5


@pytest.mark.parametrize("vectorizer", ["tfidf", "hashing"])
def test_text_pipeline_fits_and_evaluates(vectorizer):
    cfg = config_from_dict(
        {
            "data": {"features": {"kind": "text", "text_column": "t"}, "labels": ["ham", "spam"]},
            "model": {"text_vectorizer": vectorizer},
        },
        environ={},
    )
    model = build_model(cfg).fit(TEXTS, LABELS)
    result = evaluate(model, TEXTS, np.array(LABELS), ["ham", "spam"])
    assert result["accuracy"] == 1.0
    assert set(result["report"]) >= {"ham", "spam", "macro avg"}
    assert model.predict_proba(["free cash"]).shape == (1, 2)


def test_estimator_params_and_seed_reach_the_model():
    cfg = config_from_dict(
        {
            "seed": 7,
            "data": {"features": {"kind": "numeric", "columns": ["a"]}, "labels": ["x", "y"]},
            "model": {"estimator": "random_forest", "params": {"n_estimators": 13}},
        },
        environ={},
    )
    params = build_model(cfg).named_steps["classify"].get_params()
    assert params["n_estimators"] == 13 and params["random_state"] == 7


def test_holdout_is_stable_and_about_the_right_size():
    ids = np.array([f"item-{i}" for i in range(5000)])
    mask = holdout_mask(ids, 0.2, seed=0)
    assert 0.17 < mask.mean() < 0.23
    np.testing.assert_array_equal(mask[:100], holdout_mask(ids[:100], 0.2, seed=0))
    assert not holdout_mask(ids, 0.0, seed=0).any()


def test_a_committee_of_different_estimators():
    from sklearn.datasets import load_digits

    from alflow.selection.committee import committee_proba
    from alflow.training.model import build_model_family

    x, y = load_digits(return_X_y=True)
    y = y.astype(str)
    cfg = config_from_dict(
        {
            "data": {
                "features": {"kind": "numeric", "columns": ["a"]},
                "labels": [str(i) for i in range(10)],
            },
            "strategy": {"committee_kind": "estimators"},
        },
        environ={},
    )
    members = [m.fit(x[:300], y[:300]) for m in build_model_family(cfg)]
    kinds = {type(m.named_steps["classify"]).__name__ for m in members}
    assert kinds == {"LogisticRegression", "RandomForestClassifier", "SGDClassifier"}
    proba = committee_proba(members, x[300:350], cfg.data.labels)
    assert proba.shape == (3, 50, 10)
    np.testing.assert_allclose(proba.sum(axis=2), 1.0, atol=1e-6)


@pytest.mark.parametrize("estimator", ["logistic_regression", "random_forest", "sgd"])
def test_sample_weight_reaches_every_estimator(estimator):
    """Weak and pseudo-labels train through ``classify__sample_weight``: rows weighing 0 must
    not move the model, rows weighing 1 must."""
    cfg = config_from_dict(
        {
            "data": {"features": {"kind": "numeric", "columns": ["a"]}, "labels": ["x", "y"]},
            "model": {"estimator": estimator},
        },
        environ={},
    )
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(-2, 0.3, (40, 1)), rng.normal(2, 0.3, (40, 1))]
    y = np.array(["x"] * 40 + ["y"] * 40)
    flipped = np.where(y == "x", "y", "x")  # the same points with every label wrong, 3 times
    x_all, y_all = np.r_[x, x, x, x], np.r_[y, flipped, flipped, flipped]
    ignored = build_model(cfg).fit(
        x_all, y_all, classify__sample_weight=np.r_[np.ones(80), np.zeros(240)]
    )
    counted = build_model(cfg).fit(x_all, y_all, classify__sample_weight=np.ones(320))
    assert (ignored.predict(x) == y).mean() == 1.0
    assert (counted.predict(x) == y).mean() < 0.5
