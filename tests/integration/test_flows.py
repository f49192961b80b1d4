"""Real Prefect flows (test harness), a real LocalCluster, MLflow and the ledger on SQLite."""

import json

import mlflow
import pytest
from mlflow import MlflowClient
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.settings import get_current_settings

from alflow.errors import InputError
from flows.campaign import campaign
from flows.heartbeats import ASKED, command_heartbeats, without_heartbeats
from flows.rounds import labeling_round, reimport_and_retrain
from tasks.context import project_for
from tests.conftest import make_config

pytestmark = pytest.mark.usefixtures("prefect_harness")


def flow_run_name(flow_run_id: str) -> str:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).name


@pytest.fixture
def project(tmp_path, digits_csv):
    config = make_config(tmp_path / "ws", vendor={"kind": "simulated"})
    p = project_for(config)
    p.ingest(str(digits_csv[0]))
    p.ingest(str(digits_csv[1]), target="eval")
    return p


@pytest.mark.slow  # a round, a reimport and a retrain end to end
def test_round_then_reimport_and_retrain(project):
    cfg = project.config
    out = labeling_round(cfg)
    assert out["round_id"] == 1 and out["selected"] == 10 and out["export"]["new"]
    rnd = project.ledger.get_round(1)
    assert flow_run_name(rnd.flow_run_id) == "test-round-1-select"
    client = MlflowClient(
        project.ws.mlflow_tracking_uri, registry_uri=project.ws.mlflow_tracking_uri
    )
    run = client.get_run(rnd.mlflow_run_id)
    assert run.data.tags["prefect.flow_run_id.select"] == rnd.flow_run_id
    assert run.data.tags["alflow.round"] == "1"
    assert run.data.params["strategy"] == "random"  # cold start: no model yet
    assert run.data.params["pool_hash"] == project.pool_hash()

    labels = project.simulate_annotation(1)
    res = reimport_and_retrain(cfg, str(labels))
    assert res["import"]["events_added"] == 10
    assert res["train"]["promoted"] is True
    again = reimport_and_retrain(cfg, str(labels), retrain=False)
    assert again["import"]["events_added"] == 0
    assert project.ledger.event_count() == 10

    out2 = labeling_round(cfg)
    assert out2["round_id"] == 2
    rnd2 = project.ledger.get_round(2)
    assert rnd2.strategy == cfg.strategy.cold_start and rnd2.model_version == "1"
    run2 = client.get_run(rnd2.mlflow_run_id)
    assert run2.data.params["scoring_model_version"] == "1"
    artifacts = {a.path for a in client.list_artifacts(rnd2.mlflow_run_id)}
    assert {
        "selected_batch.csv",
        "round-0002-scores.png",
        "score_histograms.json",
        "config.yaml",
        "export",
    } <= artifacts
    batch = project.ledger.selection(2)
    assert {"margin", "entropy", "least_confidence", "random"} <= set(batch.columns)
    assert batch["rank"].tolist() == list(range(1, 11))
    assert (batch["utility"] == batch["margin"]).all()  # ranked by the strategy's utility
    assert not set(batch["item_id"]) & set(project.ledger.selection(1)["item_id"])


def test_unknown_item_id_fails_naming_id_and_line_and_changes_nothing(project, tmp_path):
    cfg = project.config
    labeling_round(cfg)
    exported = project.ledger.selection(1)["item_id"].tolist()
    bad = tmp_path / "labels.jsonl"
    bad.write_text(
        json.dumps({"item_id": exported[0], "label": "3"})
        + "\n"
        + json.dumps({"item_id": "no-such-digit", "label": "4"})
        + "\n"
    )
    before = (project.ledger.event_count(), project.ledger.state_counts())
    with pytest.raises(InputError, match=r"labels\.jsonl:2: item_id: unknown item 'no-such-digit'"):
        reimport_and_retrain(cfg, str(bad), retrain=False)
    assert (project.ledger.event_count(), project.ledger.state_counts()) == before


@pytest.mark.slow  # a whole campaign end to end
def test_campaign_runs_rounds_until_max_rounds(tmp_path, digits_csv):
    config = make_config(
        tmp_path / "ws", vendor={"kind": "simulated"}, campaign={"batch_size": 15, "max_rounds": 3}
    )
    p = project_for(config)
    p.ingest(str(digits_csv[0]))
    p.ingest(str(digits_csv[1]), target="eval")
    result = campaign(config)
    curve = result["curve"]
    assert [c["labels"] for c in curve] == [15, 30, 45]
    assert result["stop_reason"] == "max_rounds 3 done"
    assert all(0.0 < c["accuracy"] <= 1.0 for c in curve)
    mlflow.set_tracking_uri(p.ws.mlflow_tracking_uri)
    runs = mlflow.search_runs(experiment_names=["test"])
    assert len(runs) == 3 and set(runs["status"]) == {"FINISHED"}
    alias = MlflowClient(
        p.ws.mlflow_tracking_uri, registry_uri=p.ws.mlflow_tracking_uri
    ).get_model_version_by_alias("test-model", "champion")
    promoted = [c["model_version"] for c in curve if c["promoted"]]
    assert str(alias.version) == promoted[-1]


@flow
def _heartbeat_seconds() -> int | None:
    return get_current_settings().flows.heartbeat_frequency


def test_a_campaigns_subflows_send_no_heartbeats_and_its_own_flow_still_does():
    @flow
    def parent() -> tuple[int | None, int | None]:
        with without_heartbeats():
            inside = _heartbeat_seconds()
        return inside, _heartbeat_seconds()

    inside, outside = parent()
    assert inside is None
    assert outside == get_current_settings().flows.heartbeat_frequency > 0


def test_a_commands_flow_sends_heartbeats_only_when_the_environment_asks(monkeypatch):
    for key in ASKED:
        monkeypatch.delenv(key, raising=False)
    with command_heartbeats():
        assert _heartbeat_seconds() is None
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "60")
    with command_heartbeats():
        assert _heartbeat_seconds() == get_current_settings().flows.heartbeat_frequency > 0
