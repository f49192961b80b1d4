"""Core round steps without Prefect: the champion gate and the scoring model of the next round."""

from alflow.project import Project
from tests.conftest import make_config


def one_round(project, client):
    start = project.start_round()
    project.select(start.round_id, client)
    project.export(start.round_id)
    project.import_labels(project.simulate_annotation(start.round_id))
    return start.round_id


def test_gate_keeps_the_champion_when_the_new_model_is_not_better(
    tmp_path, digits_csv, dask_client
):
    config = make_config(tmp_path / "ws", campaign={"batch_size": 30})
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
