"""MLflow on real SQLite and PostgreSQL backend stores: registry versions and the champion alias."""

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from alflow.tracking.mlflow_tracker import Tracker


def test_register_load_and_alias(tmp_path, databases):
    t = Tracker(databases.mlflow_url, (tmp_path / "art").as_uri(), "exp", "m")
    assert t.champion() is None
    x = np.random.default_rng(0).normal(size=(60, 3))
    y = np.where(x[:, 0] > 0, "p", "n")
    run = t.create_run(1, {"k": "v"})
    version = t.log_model(run, LogisticRegression().fit(x, y))
    t.promote(version)
    assert t.champion() == (version, "models:/m@champion")
    loaded = t.load("models:/m@champion")
    np.testing.assert_array_equal(loaded.predict(x), LogisticRegression().fit(x, y).predict(x))
    run2 = t.create_run(2, {})
    v2 = t.log_model(run2, DummyClassifier().fit(x, y))
    assert int(v2) == int(version) + 1
    assert t.champion()[0] == version  # registering does not move the alias
    t.finish(run)
    assert t.run_status(run) == "FINISHED"


def test_two_backends_in_one_process_stay_apart(tmp_path):
    a = Tracker(f"sqlite:///{tmp_path / 'a.db'}", (tmp_path / "a").as_uri(), "exp", "m")
    b = Tracker(f"sqlite:///{tmp_path / 'b.db'}", (tmp_path / "b").as_uri(), "exp", "m")
    x = np.random.default_rng(0).normal(size=(40, 2))
    y = np.where(x[:, 0] > 0, "p", "n")
    version = a.log_model(a.create_run(1, {}), DummyClassifier().fit(x, y))
    a.promote(version)
    assert a.champion() is not None
    assert b.champion() is None  # nothing leaked into b's registry
    assert len(b.runs()) == 0 and len(a.runs()) == 1


def test_an_unreachable_registry_is_not_mistaken_for_no_champion(tmp_path, monkeypatch):
    import pytest
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

    t = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "art").as_uri(), "exp", "m")

    def down(*_args, **_kwargs):
        raise MlflowException("connection refused", error_code=INTERNAL_ERROR)

    monkeypatch.setattr(t.client, "get_model_version_by_alias", down)
    with pytest.raises(MlflowException, match="connection refused"):
        t.champion()
