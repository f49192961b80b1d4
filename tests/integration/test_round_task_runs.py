"""The stages a round's flow run shows in the Prefect UI, read back from the Prefect API: real
flows (test harness), a real LocalCluster, MLflow and the ledger on SQLite."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import TaskRun
from prefect.client.schemas.sorting import TaskRunSort

from flows.ingest import ingest
from flows.rounds import labeling_round
from tasks.context import project_for
from tests.conftest import make_config

pytestmark = pytest.mark.usefixtures("prefect_harness")

ROUND_STAGES = ["guard", "open-round", "score", "weigh", "diversify", "record-selection", "export"]


def task_runs(flow_run_id, expected: int) -> list[TaskRun]:
    """The flow run's task runs in start order, once all ``expected`` have finished (the API
    records them from the client's events, a moment after the flow returns)."""
    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            )
            done = [r for r in runs if r.state and r.state.is_final()]
            if len(done) >= expected or time.monotonic() > deadline:
                return sorted(done, key=lambda r: r.start_time)
            time.sleep(0.5)


def flow_run_of(ledger_flow_run_id: str):
    with get_client(sync_client=True) as client:
        return client.read_flow_run(ledger_flow_run_id)


def assert_timed_in_order(runs: list[TaskRun]) -> None:
    for run in runs:
        assert run.state.is_completed(), (run.name, run.state)
        assert run.start_time is not None and run.end_time is not None, run.name
        assert run.end_time >= run.start_time and run.total_run_time.total_seconds() >= 0
    for before, after in pairwise(runs):
        assert before.end_time <= after.start_time, (before.name, after.name)


@pytest.mark.slow  # two ingests and a round, each a flow run on the harness's API
def test_ingest_and_round_stages_are_separate_task_runs(tmp_path, digits_csv):
    config = make_config(tmp_path / "ws", campaign={"batch_size": 10})

    # ingest is a flow with one ingest task
    report = ingest(config, str(digits_csv[0]), return_state=True)
    assert report.result()["rows_added"] == 1297
    ingest_runs = task_runs(report.state_details.flow_run_id, 1)
    assert [r.name.rsplit("-", 1)[0] for r in ingest_runs] == ["ingest"]
    assert_timed_in_order(ingest_runs)
    assert ingest(config, str(digits_csv[1]), target="eval")["rows_added"] == 500

    # the batch size is a flow parameter: 7 items although the config says 10
    out = labeling_round(config, batch_size=7)
    assert out["round_id"] == 1 and out["selected"] == 7 and out["export"]["rows"] == 7
    project = project_for(config)
    rnd = project.ledger.get_round(1)
    assert rnd.batch_size == 7 and len(project.ledger.selection(1)) == 7
    flow_run = flow_run_of(rnd.flow_run_id)
    assert flow_run.parameters["batch_size"] == 7

    runs = task_runs(rnd.flow_run_id, len(ROUND_STAGES))
    # task run names are the task's name and a short suffix (``score-2f1``)
    assert [r.name.rsplit("-", 1)[0] for r in runs] == ROUND_STAGES
    assert_timed_in_order(runs)
    by_name = {r.name.rsplit("-", 1)[0]: r for r in runs}
    assert by_name["score"].total_run_time.total_seconds() > 0  # a Dask pass over 5 partitions
    stages = sum(r.total_run_time.total_seconds() for r in runs)
    assert stages <= (flow_run.end_time - flow_run.start_time).total_seconds()
