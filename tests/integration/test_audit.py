"""``alflow audit`` on a real two-round project (Dask, MLflow and the ledger on SQLite)."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from alflow.project import Project
from flows.cli import app
from tests.conftest import make_config
from tests.integration.test_project import one_round

runner = CliRunner()


@pytest.mark.slow  # rounds, imports and retrains end to end, then the audit
def test_audit_answers_for_rounds_items_and_models(tmp_path, digits_csv, dask_client):
    config = make_config(tmp_path / "ws", campaign={"batch_size": 12})
    project = Project(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    trained = [project.retrain(one_round(project, dask_client)) for _ in range(2)]
    path = tmp_path / "alflow.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))

    out = runner.invoke(app, ["audit", "rounds", "-c", str(path), "--csv", str(tmp_path / "r.csv")])
    assert out.exit_code == 0, out.output
    summary = project.ledger.round_summary()
    assert summary["selected"].tolist() == [12, 12] and summary["labeled_back"].tolist() == [12, 12]
    cold = config.strategy.cold_start  # round 2: fewer than 30 labels a class
    assert summary["strategy"].tolist() == ["random", cold]
    assert summary["scored_with"].tolist()[1] == trained[0].model_version
    assert (tmp_path / "r.csv").exists()

    out = runner.invoke(app, ["audit", "round", "2", "-c", str(path)])
    assert out.exit_code == 0, out.output
    assert f"scored with model version {trained[0].model_version}" in out.output

    item_id = project.ledger.selection(2)["item_id"].iloc[0]
    history = project.ledger.item_history(item_id)
    assert history["state"] == "labeled" and history["selections"][0]["round"] == 2
    assert len(history["annotations"]) == 1 and history["resolved"]["rule"] == "unanimous"
    assert history["exports"][0]["uri"].endswith("round-0002.jsonl")
    out = runner.invoke(app, ["audit", "item", item_id, "-c", str(path)])
    assert out.exit_code == 0 and item_id in out.output

    version = trained[1].model_version
    out = runner.invoke(
        app, ["audit", "model", version, "-c", str(path), "--csv", str(tmp_path / "m.csv")]
    )
    assert out.exit_code == 0, out.output
    labels = (tmp_path / "m.csv").read_text().splitlines()
    assert len(labels) == 1 + 24  # header + both rounds' labels
    assert json.dumps(history)  # the history is plain data
    out = runner.invoke(app, ["audit", "model", "999", "-c", str(path)])
    assert out.exit_code != 0 and "no training produced model version '999'" in out.output
