"""A campaign whose label names MLflow cannot take in a key: ingest, export, import, retrain."""

from __future__ import annotations

from mlflow import MlflowClient

from alflow.keys import label_key
from alflow.project import Project
from tests.conftest import make_config

NAMES = ["<=50K", ">50K", "a/b", "with space", "café", "猫", "x" * 100, "a..b", "c:d", "plain"]


def test_campaign_with_awkward_label_names(tmp_path, digits_frame, dask_client):
    frame = digits_frame.assign(digit=digits_frame["digit"].map(dict(enumerate(NAMES))))
    pool, ev = tmp_path / "pool.csv", tmp_path / "eval.csv"
    frame.iloc[:1297].to_csv(pool, index=False)
    frame.iloc[1297:].to_csv(ev, index=False)
    config = make_config(
        tmp_path / "ws", data={**_data(), "labels": NAMES}, campaign={"batch_size": 60}
    )
    project = Project(config)
    project.ingest(str(pool))
    project.ingest(str(ev), target="eval")
    start = project.start_round()
    project.select(start.round_id, dask_client)
    project.export(start.round_id)
    project.import_labels(project.simulate_annotation(start.round_id))
    imported = set(project.ledger.resolved_labels()["label"])
    assert imported and imported <= set(NAMES)
    report = project.retrain(start.round_id)
    assert report.promoted
    assert project.status()["champion"]["model_version"] == report.model_version
    run = MlflowClient(project.ws.mlflow_tracking_uri).get_run(_run_id(project, start.round_id))
    for name in imported:
        assert f"class_count.{label_key(name)}" in run.data.metrics


def _data() -> dict:
    from tests.conftest import DIGIT_COLUMNS

    return {
        "id_column": "digit_id",
        "truth_column": "digit",
        "features": {"kind": "numeric", "columns": DIGIT_COLUMNS},
        "partition_rows": 300,
        "read_chunk_rows": 250,
    }


def _run_id(project: Project, round_id: int) -> str:
    return project.ledger.get_round(round_id).mlflow_run_id
