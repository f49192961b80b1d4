"""``model.estimator``: the user's own classifier through rounds, retrain, the registry and the
next round's scoring on the workers (real Prefect flows, a real LocalCluster, MLflow and the
ledger on SQLite); its config errors through the CLI."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from sklearn.ensemble import HistGradientBoostingClassifier

from flows.rounds import labeling_round, reimport_and_retrain
from tasks.context import project_for
from tests.conftest import DIGIT_COLUMNS, make_config
from tests.integration import test_cli_user_errors as cli_user_errors
from tests.unit.user_models import Squash

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # two rounds and a retrain per estimator
@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    ("estimator", "params", "logged"),
    [
        (
            "sklearn.ensemble:HistGradientBoostingClassifier",
            {"max_iter": 25, "learning_rate": 0.2},
            {"model.max_iter": "25", "model.learning_rate": "0.2"},
        ),
        (
            "tests.unit.user_models:squashed_logistic",
            {"scale": 2.0, "c": 0.5},
            {"model.squash__scale": "2.0", "model.clf__C": "0.5"},
        ),
    ],
    ids=["hist-gradient-boosting", "user-pipeline"],
)
def test_own_estimator_trains_registers_and_scores_the_next_round(
    tmp_path, digits_csv, digits_frame, estimator, params, logged
):
    config = make_config(
        tmp_path / "ws",
        model={"estimator": estimator, "params": params},
        vendor={"kind": "simulated"},
        campaign={"batch_size": 40},
    )
    project = project_for(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    labeling_round(config)
    res = reimport_and_retrain(config, str(project.simulate_annotation(1)))
    assert res["train"]["promoted"] and res["train"]["model_version"] == "1"

    uri = project.ws.mlflow_tracking_uri
    run = MlflowClient(uri).get_run(project.ledger.get_round(1).mlflow_run_id)
    assert logged.items() <= run.data.params.items()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    info = mlflow.models.get_model_info("models:/test-model@champion")
    assert {"sklearn", "python_function"} <= set(info.flavors)
    champion = project.tracker.load("models:/test-model@champion")
    classifier = champion.named_steps["classify"]
    if estimator.startswith("sklearn"):
        assert isinstance(classifier, HistGradientBoostingClassifier)
    else:
        assert isinstance(classifier.named_steps["squash"], Squash)

    labeling_round(config)  # the workers unpickle the champion (and the user's class)
    rnd = project.ledger.get_round(2)
    assert rnd.model_version == "1" and rnd.strategy == config.strategy.cold_start
    batch = project.ledger.selection(2)
    x = digits_frame.set_index("digit_id").loc[batch["item_id"], DIGIT_COLUMNS].to_numpy()
    proba = champion.predict_proba(x.astype(np.float32))
    assert batch["predicted_label"].tolist() == champion.classes_[proba.argmax(1)].tolist()
    np.testing.assert_allclose(batch["predicted_score"], proba.max(1), atol=1e-5)


def alflow(cwd: Path, api: str, *args: str) -> subprocess.CompletedProcess:
    return cli_user_errors.alflow(cwd, *args, PREFECT_API_URL=api)


@pytest.mark.slow  # CLI processes
@pytest.mark.parametrize(
    ("estimator", "params", "says"),
    [
        ("user_models_nowhere:factory", {}, "model.estimator: cannot import 'user_models_nowhere'"),
        ("tests.unit.user_models:no_proba", {}, "which has no predict_proba()"),
        ("tests.unit.user_models:gradient_boosting", {"max_iterations": 5}, "model.params: "),
        ("sklearn.ensemble:HistGradientBoostingClassifier", {"max_iter": -1}, "'max_iter'"),
    ],
    ids=["import-error", "no-predict-proba", "unknown-param", "bad-param-value"],
)
def test_own_estimator_errors_are_one_line_before_any_import(
    tmp_path, digits_frame, prefect_api, estimator, params, says
):
    config = make_config(tmp_path / "ws", model={"estimator": estimator, "params": params})
    project_for(config).ledger  # noqa: B018  (created, empty)
    config_file = tmp_path / "alflow.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    labels = tmp_path / "labels.csv"
    labels.write_text("item_id,label\nd0001,1\n")
    out = alflow(tmp_path, prefect_api, "import", str(labels), "--retrain", "-c", str(config_file))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and out.stderr.count("error:") == 1, out.stderr
    assert says in out.stderr, out.stderr
    with sqlite3.connect(tmp_path / "ws" / "ledger.db") as db:
        assert db.execute("SELECT count(*) FROM imports").fetchone()[0] == 0
