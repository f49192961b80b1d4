"""A full round against an MLflow tracking server in its own process, through http://.

The server's backend store is SQLite, then PostgreSQL; artifacts go through the server (proxied)
into its artifacts folder. Runs, metrics, artifacts, registry versions and the champion alias are
read back through the server.
"""

import pytest
from mlflow import MlflowClient

from flows.rounds import labeling_round, reimport_and_retrain
from tasks.context import project_for
from tests.conftest import make_config
from tests.integration.invariants import check_consistency

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def test_a_round_through_a_tracking_server(tmp_path, digits_csv, databases, mlflow_server):
    url, served = mlflow_server
    storage = {"ledger_url": databases.ledger_url, "mlflow_tracking_uri": url}
    config = make_config(
        tmp_path / "ws", project="served", vendor={"kind": "simulated"}, storage=storage
    )
    project = project_for(config)
    assert project.ws.mlflow_artifact_location is None  # the server decides where
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")

    assert labeling_round(config)["selected"] == 10
    labels = project.simulate_annotation(1)
    train = reimport_and_retrain(config, str(labels))["train"]
    assert labeling_round(config)["round_id"] == 2  # scores with the champion, via the server

    client = MlflowClient(url, registry_uri=url)
    run = client.get_run(project.ledger.get_round(1).mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    assert run.data.metrics["labels_total"] == 10
    assert 0.0 < run.data.metrics["accuracy"] <= 1.0
    assert run.data.metrics["accuracy"] == pytest.approx(train["metrics"]["accuracy"])
    paths = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"selected_batch.csv", "training_labels.csv", "config.yaml", "export"} <= paths
    assert list(served.rglob("selected_batch.csv"))  # stored by the server, not by the client
    champion = client.get_model_version_by_alias(config.registered_model_name, "champion")
    assert champion.version == train["model_version"] and champion.run_id == run.info.run_id
    assert project.ledger.get_round(2).model_version == champion.version
    check_consistency(project, [labels])
