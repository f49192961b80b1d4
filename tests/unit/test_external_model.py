"""``model.scoring_uri``: the config field, and the mapping of a pyfunc's output to the label
schema (columns named by label in any order, else in ``data.labels`` order); where a user's
own pipeline takes the weights of weak and pseudo-labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alflow.errors import ConfigError
from alflow.scoring.external_model import PyfuncScorer, class_probabilities
from alflow.training.estimators import sample_weight_param
from alflow.training.model import build_model
from tests.conftest import make_config

LABELS = ("<=50K", ">50K", "other")
P = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])


def test_named_columns_map_by_label_in_any_order():
    out = pd.DataFrame(P[:, ::-1], columns=list(LABELS[::-1]))
    np.testing.assert_allclose(class_probabilities(out, LABELS, "u", 2), P)


def test_unnamed_columns_are_in_the_label_schemas_order():
    np.testing.assert_allclose(class_probabilities(P, LABELS, "u", 2), P)
    frame = pd.DataFrame(P)  # columns 0, 1, 2: not label names
    np.testing.assert_allclose(class_probabilities(frame, LABELS, "u", 2), P)


@pytest.mark.parametrize(
    ("out", "says"),
    [
        (P[:, :2], r"returned shape \(2, 2\); alflow needs class probabilities, 2 rows x 3"),
        (np.array(["<=50K", ">50K"]), r"returned values that are not numbers"),
        (np.array([0.3, 0.9]), r"returned shape \(2,\)"),
        (P * 2, r"outside \[0, 1\]"),
        (P * 0.5, r"rows that sum to 0.5 to 0.5, not 1"),
    ],
    ids=["a-column-short", "labels", "one-value-per-row", "not-probabilities", "not-summing-to-1"],
)
def test_anything_but_probabilities_is_a_one_line_config_error(out, says):
    with pytest.raises(ConfigError, match=says) as err:
        class_probabilities(out, LABELS, "models:/m/1", 2)
    assert "\n" not in str(err.value) and str(err.value).startswith("model.scoring_uri: ")


def test_the_model_gets_a_frame_with_the_configs_column_names():
    scorer = PyfuncScorer("u", "t", LABELS, "tabular", ("age", "hours"), ("job",))
    block = np.array([[39.0, float("nan"), "clerk"], [50.0, 13.0, None]], dtype=object)
    frame = scorer.model_input(block)
    assert list(frame.columns) == ["age", "hours", "job"]
    assert frame["age"].dtype == np.float64 and frame["hours"].isna().tolist() == [True, False]
    assert frame["job"].iloc[0] == "clerk" and frame["job"].isna().tolist() == [False, True]
    assert list(scorer.classes_) == list(LABELS)


@pytest.mark.parametrize("uri", ["models:/fraud@champion", "models:/fraud/3", "runs:/abc/model"])
def test_scoring_uri_accepts_mlflow_model_uris(tmp_path, uri):
    assert make_config(tmp_path, model={"scoring_uri": uri}).model.scoring_uri == uri


def test_scoring_uri_that_is_no_uri_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"model\.scoring_uri: 'fraud' is not an MLflow"):
        make_config(tmp_path, model={"scoring_uri": "fraud"})


def test_weights_reach_the_last_step_of_a_users_pipeline(tmp_path):
    def pipeline(estimator, **params):
        model = {"estimator": estimator, "params": params}
        return build_model(make_config(tmp_path, model=model))

    own = pipeline("tests.unit.user_models:squashed_logistic")
    assert sample_weight_param(own, "x") == "classify__clf__sample_weight"
    x, y = np.random.default_rng(0).normal(size=(40, 64)), np.array(["0", "1"] * 20)
    own.fit(x, y, classify__clf__sample_weight=np.linspace(0.1, 1, 40))  # accepted
    built_in = pipeline("logistic_regression")
    assert sample_weight_param(built_in, "x") == "classify__sample_weight"
    with pytest.raises(ConfigError, match=r"KNeighborsClassifier\.fit takes no sample_weight"):
        sample_weight_param(pipeline("sklearn.neighbors:KNeighborsClassifier"), "knn")
