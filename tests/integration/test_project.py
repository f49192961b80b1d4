"""Core round steps without Prefect: the champion gate and the scoring model of the next round.

The tests that write the ledger and MLflow run on SQLite and on PostgreSQL (``databases``).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from alflow.project import Project
from alflow.rounds.opening import round_portfolio_history
from tests.conftest import make_config


def one_round(project, client):
    start = project.start_round()
    project.select(start.round_id, client)
    project.export(start.round_id)
    project.import_labels(project.simulate_annotation(start.round_id))
    return start.round_id


def test_gate_keeps_the_champion_when_the_new_model_is_not_better(
    tmp_path, digits_csv, dask_client, databases
):
    config = make_config(tmp_path / "ws", campaign={"batch_size": 30}, storage=databases.storage())
    project = Project(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    r1 = one_round(project, dask_client)
    first = project.retrain(r1)
    assert first.promoted and project.tracker.champion()[0] == first.model_version

    config.model.gate.min_delta = 0.5  # no model can gain 50 points of macro-F1 here
    r2 = one_round(project, dask_client)
    assert project.ledger.get_round(r2).model_version == first.model_version
    second = project.retrain(r2)
    assert not second.promoted
    assert project.tracker.champion()[0] == first.model_version
    trainings = project.ledger.trainings()
    assert trainings["promoted"].tolist() == [True, False]
    assert project.status()["champion"]["model_version"] == first.model_version


@pytest.mark.slow  # two rounds and two retrains per pair (15-30 s each on 2 cores)
@pytest.mark.parametrize(
    ("cold_start", "strategy"),
    [
        ("typiclust", "information_density"),
        ("cluster_stratified", "margin_coreset"),
        ("coreset", "qbc_vote_entropy"),
        ("random", "expected_error_reduction"),
    ],
)
def test_rounds_with_strategies_that_need_more_than_utilities(
    tmp_path, digits_csv, dask_client, cold_start, strategy
):
    config = make_config(
        tmp_path / "ws",
        strategy={"name": strategy, "cold_start": cold_start, "pool_sample": 400},
        campaign={"batch_size": 15},
    )
    project = Project(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    seen: set[str] = set()
    for r in (1, 2):
        round_id = one_round(project, dask_client)
        batch = project.ledger.selection(round_id)
        assert len(batch) == 15 and not seen & set(batch["item_id"])
        seen |= set(batch["item_id"])
        assert project.ledger.get_round(round_id).strategy == (cold_start if r == 1 else strategy)
        project.retrain(round_id)


@pytest.mark.slow  # four rounds and four retrains
def test_portfolio_rounds_and_stop_set_agreement(tmp_path, digits_csv, dask_client):
    arms = ["margin", "kmeans_round_robin", "random"]
    config = make_config(
        tmp_path / "ws",
        strategy={"name": "portfolio", "params": {"arms": arms}},
        campaign={"batch_size": 15, "stop_set_size": 200},
    )
    project = Project(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    for _ in range(4):
        project.retrain(one_round(project, dask_client))
    rounds = project.ledger.rounds()
    assert rounds["strategy"].iloc[0] == "random"  # cold start
    assert set(rounds["strategy"].iloc[1:]) <= set(arms)
    assert project.stop_set_path.exists()
    kappas = project.ledger.trainings()["stop_kappa"].tolist()
    assert np.isnan(kappas[0]) and all(0.0 < k <= 1.0 for k in kappas[1:])


def test_pseudo_labels_train_but_are_never_human_labels_or_exported(
    tmp_path, digits_csv, dask_client, databases
):
    config = make_config(
        tmp_path / "ws",
        storage=databases.storage(),
        model={"pseudo_labels": {"enabled": True, "min_confidence": 0.9, "max_per_round": 100}},
        campaign={"batch_size": 30},
    )
    project = Project(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    project.retrain(one_round(project, dask_client))  # cold start: no model, no pseudo-labels
    assert project.ledger.pseudo_labels().empty
    r2 = one_round(project, dask_client)
    pseudo = project.ledger.pseudo_labels()
    assert 0 < len(pseudo) <= 100
    batch = set(project.ledger.selection(r2)["item_id"])
    assert not batch & set(pseudo["item_id"])  # never sent to annotators
    report = project.retrain(r2)
    assert report.metrics["pseudo_labels_used"] == len(pseudo)
    client = MlflowClient(project.ws.mlflow_tracking_uri)
    run_id = project.ledger.get_round(r2).mlflow_run_id
    trained_on = pd.read_csv(
        client.download_artifacts(run_id, "training_labels.csv", str(tmp_path))
    )
    assert (trained_on["source"] == "pseudo").sum() == len(pseudo)
    assert (trained_on["source"] == "human").sum() == 60
    assert report.n_labels == 60 == report.metrics["labels_used"]  # humans only
    assert project.ledger.state_counts()["labeled"] == 60
    exported = {
        json.loads(line)["item_id"]
        for r in (1, 2)
        for line in Path(project.ledger.export_of(r).uri).read_text().splitlines()
    }
    assert not exported & set(pseudo["item_id"])


def test_retrain_belongs_to_the_last_exported_round(tmp_path, digits_csv, dask_client, databases):
    config = make_config(tmp_path / "ws", campaign={"batch_size": 10}, storage=databases.storage())
    project = Project(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    r1 = one_round(project, dask_client)
    r2 = project.start_round().round_id
    project.select(r2, dask_client)  # selected; the export has not happened (yet)
    report = project.retrain()
    assert report.round_id == r1
    assert project.ledger.get_round(r2).status == "selected"
    assert project.start_round().round_id == r2  # the unexported round resumes
    assert project.export(r2)["rows"] == 10


def test_holdout_items_never_train_and_newest_model_leads_until_evaluable(
    tmp_path, digits_csv, dask_client
):
    project = Project(make_config(tmp_path / "ws", campaign={"batch_size": 10}))
    project.ingest(str(digits_csv[0]))  # no --eval set: a holdout of the labels evaluates
    for _ in range(2):
        report = project.retrain(one_round(project, dask_client))
        held_out = report.metrics["labels_total"] - report.metrics["labels_used"]
        assert held_out > 0  # the future holdout is never trained on
        assert "accuracy" not in report.metrics  # fewer than 10 held out: no evaluation yet
        assert report.promoted  # so the model with the most labels becomes champion


def test_portfolio_history_skips_rounds_without_the_metric(tmp_path, databases):
    config = make_config(
        tmp_path / "ws", model={"gate": {"metric": "macro_f1"}}, storage=databases.storage()
    )
    project = Project(config)
    for r, (strategy, metrics) in enumerate(
        [
            ("random", {}),
            ("margin", {}),
            ("margin", {"macro_f1": 0.5}),
            ("random", {"macro_f1": 0.6}),
        ],
        start=1,
    ):
        project.ledger.open_round(strategy=strategy, batch_size=1, seed=0, config_hash="c")
        project.ledger.update_round(r, strategy=strategy, status="exported")
        project.ledger.record_training(
            r, model_version=str(r), n_labels=r, metrics=metrics, promoted=True
        )
    history = round_portfolio_history(project)
    assert len(history) == 1 and history[0][0] == "random"
    assert history[0][1] == pytest.approx(0.1)
