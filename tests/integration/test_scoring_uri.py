"""``model.scoring_uri``: a model trained outside alflow scores the rounds (real Prefect flows,
a real LocalCluster, MLflow and the ledger on SQLite)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from alflow.errors import ConfigError
from alflow.labels.exporting import export_labels
from alflow.rounds.replay import replay_round
from alflow.scoring.compute import shared_client
from flows.cli import app
from flows.rounds import labeling_round, reimport_and_retrain
from tasks.context import project_for
from tests.conftest import DIGIT_COLUMNS, make_config
from tests.integration import test_cli_user_errors as cli_user_errors
from tests.user_pyfuncs import DropsAClass, ReversedProba, register

ROOT = Path(__file__).resolve().parents[2]
NAME = "digits-elsewhere"


def fitted(frame: pd.DataFrame):
    """A model trained outside alflow: digits features (named columns) -> digit."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    return model.fit(frame[DIGIT_COLUMNS].astype(float), frame["digit"].astype(str))


def project_with(tmp_path: Path, digits_csv, uri: str, **sections):
    config = make_config(
        tmp_path / "ws",
        model={"scoring_uri": uri},
        strategy={"name": "margin"},
        vendor={"kind": "simulated"},
        **sections,
    )
    project = project_for(config)
    project.ingest(str(digits_csv[0]))
    return project


def batch_with_features(project, round_id: int, frame: pd.DataFrame) -> pd.DataFrame:
    batch = project.ledger.selection(round_id)
    rows = frame.set_index("digit_id").loc[batch["item_id"], DIGIT_COLUMNS].astype(float)
    return batch, rows


def loads_per_worker(config) -> list[int]:
    """How often each worker of the flows' cluster loaded a pyfunc (``PYFUNC_LOADS`` there)."""
    counts = shared_client(config.compute).run(
        lambda: len(getattr(sys.modules.get("alflow.tracking.mlflow_tracker"), "PYFUNC_LOADS", []))
    )
    return list(counts.values())


@pytest.mark.slow  # two rounds, an import, a user-trained second version, replay
@pytest.mark.usefixtures("prefect_harness")
def test_rounds_score_with_the_users_mlflow_model(tmp_path, digits_csv, digits_frame):
    project = project_with(tmp_path, digits_csv, f"models:/{NAME}@champion")
    cfg, uri = project.config, project.ws.mlflow_tracking_uri
    experiment = project.tracker.experiment_id  # the user registers in the project's MLflow
    first = fitted(digits_frame.iloc[1297:1497])
    assert register(uri, experiment, NAME, first) == "1"

    out = labeling_round(cfg)
    assert out["selected"] == 10
    rnd = project.ledger.get_round(1)
    assert (rnd.model_version, rnd.model_uri) == ("1", f"models:/{NAME}/1")
    assert rnd.strategy == "margin"  # the user's model scores from round 1: no cold start
    run = MlflowClient(uri).get_run(rnd.mlflow_run_id)
    assert run.data.params["scoring_model_version"] == "1"
    assert run.data.tags["alflow.scoring_model_uri"] == f"models:/{NAME}/1"
    batch, x = batch_with_features(project, 1, digits_frame)
    assert batch["predicted_label"].tolist() == first.predict(x).tolist()
    np.testing.assert_allclose(batch["predicted_score"], first.predict_proba(x).max(1), atol=1e-5)
    assert len(project.ledger.partitions("pool")) > cfg.compute.n_workers
    assert max(loads_per_worker(cfg)) == 1  # once per worker, not once per partition

    labels = project.simulate_annotation(1)
    res = reimport_and_retrain(cfg, str(labels), retrain=True)
    assert res["import"]["events_added"] == 10
    assert "alflow labels export" in res["train_skipped"] and "train" not in res
    assert len(project.ledger.trainings()) == 0
    with pytest.raises(ConfigError, match="does not retrain"):
        reimport_and_retrain(cfg)

    exported = tmp_path / "labels.csv"
    assert export_labels(project, exported) == 10
    table = pd.read_csv(exported, dtype={"item_id": str, "label": str})
    assert list(table.columns) == ["item_id", "label", *DIGIT_COLUMNS]
    truth = digits_frame.set_index("digit_id").loc[table["item_id"]]
    assert table["label"].tolist() == truth["digit"].astype(str).tolist()
    assert (table[DIGIT_COLUMNS].to_numpy() == truth[DIGIT_COLUMNS].to_numpy()).all()

    second = fitted(pd.concat([digits_frame.iloc[1297:1397], truth.reset_index()]))
    assert register(uri, experiment, NAME, ReversedProba(second)) == "2"  # alias -> v2
    labeling_round(cfg)
    rnd2 = project.ledger.get_round(2)
    assert (rnd2.model_version, rnd2.model_uri) == ("2", f"models:/{NAME}/2")
    batch2, x2 = batch_with_features(project, 2, digits_frame)
    assert batch2["predicted_label"].tolist() == second.predict(x2).tolist()  # columns by name
    assert max(loads_per_worker(cfg)) == 2  # and once more for the new version

    config_file = tmp_path / "alflow.yaml"
    config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    said = CliRunner().invoke(app, ["audit", "round", "2", "-c", str(config_file)])
    assert said.exit_code == 0, said.output
    assert f"scored with model version 2 (models:/{NAME}/2)" in said.output
    report = replay_round(project, 1, shared_client(cfg.compute))
    assert report.identical, report.differences()


def alflow(cwd: Path, api: str, *args: str) -> subprocess.CompletedProcess:
    return cli_user_errors.alflow(cwd, *args, PREFECT_API_URL=api)


@pytest.mark.slow  # CLI processes
@pytest.mark.parametrize(
    ("registered", "uri", "says"),
    [
        (True, f"models:/{NAME}@champion", "returned shape (16, 9); alflow needs class proba"),
        (False, "models:/nobody@champion", "models:/nobody@champion is not in the MLflow at"),
    ],
    ids=["a-column-short", "not-registered"],
)
def test_a_scoring_model_alflow_cannot_use_is_refused_before_the_round_opens(
    tmp_path, digits_csv, digits_frame, prefect_api, registered, uri, says
):
    project = project_with(tmp_path, digits_csv, uri)
    experiment = project.tracker.experiment_id
    if registered:
        model = DropsAClass(fitted(digits_frame[:300]))
        register(project.ws.mlflow_tracking_uri, experiment, NAME, model)
    config_file = tmp_path / "alflow.yaml"
    config_file.write_text(yaml.safe_dump(project.config.model_dump(mode="json")))
    out = alflow(tmp_path, prefect_api, "round", "-c", str(config_file))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and out.stderr.count("error:") == 1, out.stderr
    assert says in out.stderr, out.stderr
    with sqlite3.connect(tmp_path / "ws" / "ledger.db") as db:
        assert db.execute("SELECT count(*) FROM rounds").fetchone()[0] == 0
