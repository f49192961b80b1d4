"""Three rounds on a real dataset (pendigits) through the file vendor, as people would run them:
export a batch, an annotator fills in a CSV labels file, import it, retrain; MLflow holds it all."""

import csv
import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from alflow.errors import InputError
from flows.rounds import labeling_round, reimport_and_retrain
from tasks.context import project_for
from tests.conftest import make_config, require_dataset

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
COLS = [f"f{i:02d}" for i in range(16)]


@pytest.fixture
def pendigits(tmp_path):
    folder = require_dataset("pendigits")
    train = pd.read_csv(folder / "pendigits.tra", header=None, names=[*COLS, "digit"])
    test = pd.read_csv(folder / "pendigits.tes", header=None, names=[*COLS, "digit"])
    train.insert(0, "pid", [f"tra-{i}" for i in range(len(train))])
    test.insert(0, "pid", [f"tes-{i}" for i in range(len(test))])
    pool, ev = tmp_path / "pendigits_pool.csv", tmp_path / "pendigits_eval.jsonl"
    train.to_csv(pool, index=False)
    test.to_json(ev, orient="records", lines=True)
    return pool, ev, train.set_index("pid")["digit"]


def annotate_csv(export_path: str, truth: pd.Series, out) -> None:
    """An annotator's work: open the exported batch, write a label for every row."""
    rows = [json.loads(line) for line in Path(export_path).read_text().splitlines()]
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "label", "annotator"])
        for r in rows:
            w.writerow([r["item_id"], truth[r["item_id"]], "alice"])


def test_three_rounds_through_the_file_vendor(tmp_path, pendigits):
    pool, ev, truth = pendigits
    config = make_config(
        tmp_path / "ws",
        project="pendigits",
        data={
            "id_column": "pid",
            "truth_column": "digit",
            "features": {"kind": "numeric", "columns": COLS},
            "labels": [str(i) for i in range(10)],
            "partition_rows": 2000,
            "read_chunk_rows": 1000,
        },
        campaign={"batch_size": 30},
    )
    p = project_for(config)
    assert p.ingest(str(pool)).rows_added == 7494
    assert p.ingest(str(ev), target="eval").rows_added == 3498
    accuracies = []
    for r in (1, 2, 3):
        out = labeling_round(config)
        assert out["round_id"] == r
        labels_file = tmp_path / f"labels-{r}.csv"
        annotate_csv(out["export"]["uri"], truth, labels_file)
        res = reimport_and_retrain(config, str(labels_file))
        assert res["import"]["events_added"] == 30
        assert res["train"]["n_labels"] == 30 * r
        accuracies.append(res["train"]["metrics"]["accuracy"])
        assert (
            reimport_and_retrain(config, str(labels_file), retrain=False)["import"]["events_added"]
            == 0
        )
    assert accuracies[-1] > accuracies[0]
    assert p.ledger.state_counts() == {"labeled": 90, "unlabeled": 7494 - 90}

    mlflow.set_tracking_uri(p.ws.mlflow_tracking_uri)
    runs = mlflow.search_runs(experiment_names=["pendigits"], order_by=["attributes.start_time"])
    assert len(runs) == 3 and set(runs["status"]) == {"FINISHED"}
    for col in (
        "params.pool_hash",
        "params.strategy",
        "params.scoring_model_version",
        "params.config.strategy.name",
        "metrics.accuracy",
        "metrics.macro_f1",
        "metrics.labels_used",
        "metrics.class_count.0",
        "tags.prefect.flow_run_id.select",
        "tags.prefect.flow_run_id.retrain",
    ):
        assert runs[col].notna().all(), col
    client = MlflowClient(p.ws.mlflow_tracking_uri, registry_uri=p.ws.mlflow_tracking_uri)
    champion = client.get_model_version_by_alias("pendigits-model", "champion")
    assert champion.run_id in set(runs["run_id"])
    batch = pd.read_csv(
        client.download_artifacts(runs["run_id"].iloc[2], "selected_batch.csv", str(tmp_path))
    )
    assert len(batch) == 30 and {"rank", "margin", "entropy", "predicted_label"} <= set(batch)
    trained_on = pd.read_csv(
        client.download_artifacts(runs["run_id"].iloc[1], "training_labels.csv", str(tmp_path))
    )
    assert len(trained_on) == 60 and set(trained_on["source"]) == {"human"}
    assert set(trained_on["item_id"]) == set(p.ledger.selection(1)["item_id"]) | set(
        p.ledger.selection(2)["item_id"]
    )

    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,label\ntra-5,7\nnot-a-digit,3\ntra-6,eleven\n")
    with pytest.raises(InputError) as err:
        reimport_and_retrain(config, str(bad), retrain=False)
    assert "bad.csv:4: label: 'eleven' for item_id 'tra-6' is not in the label schema" in str(
        err.value
    )
    assert p.ledger.event_count() == 90
