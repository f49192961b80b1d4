"""Mixed tabular pools, any label names in MLflow keys, and the user's own estimator."""

import numpy as np
import pandas as pd
import pytest

from alflow.config import config_from_dict
from alflow.data.ingest import ingest_file
from alflow.data.pool import features_of, read_partition
from alflow.data.tabular import block
from alflow.errors import ConfigError, InputError
from alflow.ledger import Ledger
from alflow.tracking.keys import label_key, label_keys
from alflow.training.model import build_model, represent

LABELS = ["<=50K", ">50K", "a/b", "with space", "é ü 中文", "x" * 100]


def config(**model):
    features = {
        "kind": "tabular",
        "numeric": ["age", "hours"],
        "categorical": ["work"],
    }
    data = {"id_column": "id", "features": features, "labels": ["<=50K", ">50K"]}
    return config_from_dict({"data": data, "model": model}, environ={})


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield led
    led.close()


def table_csv(path, rows):
    pd.DataFrame(rows, columns=["id", "age", "hours", "work"]).to_csv(path, index=False)


def test_tabular_ingest_keeps_gaps_and_categories(tmp_path, ledger):
    path = tmp_path / "t.csv"
    table_csv(path, [[1, "39", "40", "State-gov"], [2, "?", "", "?"], [3, "50", "13", " Private"]])
    ingest_file(str(path), config().data, ledger, str(tmp_path / "pool"))
    part = next((tmp_path / "pool").glob("*.parquet"))
    x = features_of(read_partition(str(part)), "tabular")
    assert x.shape == (3, 3)
    assert x[0, 2] == "State-gov" and x[2, 2] == "Private" and x[1, 2] is None
    assert np.isnan(x[1, 0]) and np.isnan(x[1, 1]) and x[0, 0] == 39.0


def test_tabular_ingest_names_a_non_number_and_says_what_to_do(tmp_path, ledger):
    path = tmp_path / "t.csv"
    table_csv(
        path, [[1, "old", "40", "State-gov"]] * 1 + [[i, "x", "1", "a"] for i in range(2, 80)]
    )
    with pytest.raises(InputError) as err:
        ingest_file(str(path), config().data, ledger, str(tmp_path / "pool"))
    assert "79 invalid record(s)" in str(err.value)
    assert "data.features.categorical" in "\n".join(err.value.problems)
    assert not list((tmp_path / "pool").glob("*.parquet"))


def test_pipeline_encodes_gaps_and_unseen_categories():
    x = block(np.array([[39.0, 40.0], [np.nan, 20.0], [50.0, np.nan]]), [["a"], [None], ["b"]])
    model = build_model(config()).fit(x, ["<=50K", ">50K", "<=50K"])
    unseen = block(np.array([[np.nan, np.nan]]), [["never seen"]])
    p = model.predict_proba(unseen)
    assert p.shape == (1, 2) and np.isclose(p.sum(), 1.0)
    assert represent(model, x).shape[0] == 3 and represent(None, x).shape[0] == 3


def test_label_keys_are_valid_distinct_and_reversible():
    from mlflow.utils.validation import _validate_metric_name

    keys = [label_key(lab) for lab in LABELS]
    assert len(set(keys)) == len(LABELS)
    for k in keys:
        _validate_metric_name(f"class_count.{k}")
    assert set(label_keys(LABELS).values()) == set(LABELS) - {"x" * 100, "with space"}


def test_user_estimator_and_pipeline_fit_and_predict_proba():
    x = block(np.random.default_rng(0).normal(size=(40, 2)), [["a"], ["b"]] * 20)
    y = np.array(["<=50K", ">50K"] * 20)
    for spec, params in [
        ("tests.unit.user_models:gradient_boosting", {"max_iter": 20}),
        ("tests.unit.user_models:poly_logistic", {"degree": 2}),
    ]:
        model = build_model(config(estimator=spec, params=params)).fit(x, y)
        assert model.predict_proba(x).shape == (40, 2)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.unit.user_models:no_proba", "no predict_proba"),
        ("no_such_module_xyz:make", "cannot import 'no_such_module_xyz'"),
        ("tests.unit.user_models:missing", "has no callable 'missing'"),
    ],
)
def test_user_estimator_errors_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        build_model(config(estimator=spec))


def test_estimator_name_is_checked_without_importing():
    with pytest.raises(ConfigError, match="neither built in"):
        config(estimator="xgboost")
