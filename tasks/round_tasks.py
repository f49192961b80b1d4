"""The steps of a labeling round as Prefect tasks.

Inputs are configs and round ids, not data: every task reads its inputs from the ledger and writes
its result there, so a retry resumes and never repeats a side effect. Scoring is one task driving
one Dask graph (a task per partition would cost 15-30 ms of orchestration each).
"""

from __future__ import annotations

from dataclasses import asdict

from prefect import task
from prefect.cache_policies import NO_CACHE

from alflow.compute import shared_client
from alflow.config import AlflowConfig
from alflow.stages import stage
from tasks.context import project_for
from tasks.progress import progress_bar


@task(name="open-round", cache_policy=NO_CACHE)
def open_round(config: AlflowConfig, flow_run_id: str | None) -> dict:
    start = project_for(config).start_round(flow_run_id)
    return asdict(start)


@task(name="check-scoring-model", cache_policy=NO_CACHE)
def check_scoring_model(config: AlflowConfig) -> str:
    """``model.scoring_uri`` loads and returns probabilities on a worker; its pinned URI."""
    return project_for(config).check_scoring_model(shared_client(config.compute))


@task(name="score-and-select", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def score_and_select(config: AlflowConfig, round_id: int) -> int:
    project = project_for(config)
    n_parts = len(project.ledger.partitions("pool"))
    client = shared_client(config.compute)
    with progress_bar(f"round {round_id}: scoring partitions", n_parts) as advance:
        batch = project.select(round_id, client, on_partition=advance)
    return len(batch)


@task(name="export-batch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def export_batch(config: AlflowConfig, round_id: int) -> dict:
    with stage("export"):
        return project_for(config).export(round_id)


@task(name="simulate-annotation", cache_policy=NO_CACHE)
def simulate_annotation(config: AlflowConfig, round_id: int) -> str:
    return str(project_for(config).simulate_annotation(round_id))


@task(name="pull-labels", cache_policy=NO_CACHE)  # httpx retries failed connections
def pull_labels(config: AlflowConfig) -> str:
    return str(project_for(config).pull_labels())


@task(name="import-labels", cache_policy=NO_CACHE)
def import_labels(config: AlflowConfig, path: str, full_state: bool = False) -> dict:
    with stage("import"):
        return asdict(project_for(config).import_labels(path, full_state))


@task(name="retrain", cache_policy=NO_CACHE)
def retrain(config: AlflowConfig, round_id: int | None, flow_run_id: str | None) -> dict:
    with stage("retrain"):
        return asdict(project_for(config).retrain(round_id, flow_run_id))
