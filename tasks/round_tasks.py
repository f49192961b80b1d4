"""The stages of a labeling round as Prefect tasks, each with its own retries and timeout.

guard -> open-round -> score -> weigh -> diversify -> record-selection -> export, then (in
``reimport_and_retrain``) pull-labels / reimport -> retrain. Each wraps one core function: the
flow composes exactly the functions ``alflow.selection.batch.pick_batch`` and the simulation
compose (``alflow.selection.simulation``).

Between tasks travel configs, round ids and small results; the scored round (the candidates,
never the pool) is handed from ``score`` to ``weigh`` and ``diversify`` in memory (the flow
wraps it in ``quote`` so Prefect neither walks nor persists it); its scores are also in the
workspace's score cache, so a rerun after a crash resumes from them. Scoring is one task
driving one Dask graph (a task per partition would cost 15-30 ms of orchestration each).
Every task that writes checks the ledger for its own result first, so a retry never repeats a
side effect.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from alflow.config import AlflowConfig
from alflow.rounds import opening, operations
from alflow.rounds.opening import ScoredRound
from alflow.rounds.operations import Admission
from alflow.scoring.compute import shared_client
from alflow.selection import batch
from alflow.selection.batch import Weighed
from alflow.stages import stage
from tasks.context import project_for
from tasks.progress import progress_bar

MINUTE, HOUR = 60, 3600
# A stage that runs past its timeout is stuck (a hung worker, a dead server): it fails and the
# flow run shows where. Generous: a 10M-row pool scores in well under an hour on one machine.
TIMEOUTS = {
    "check-scoring-model": 30 * MINUTE,
    "open-round": 10 * MINUTE,
    "score": 6 * HOUR,
    "weigh": 2 * HOUR,
    "diversify": 2 * HOUR,
    "record-selection": 30 * MINUTE,
    "export": 30 * MINUTE,
    "simulate-annotation": 30 * MINUTE,
    "pull-labels": 30 * MINUTE,
    "reimport": HOUR,
    "retrain": 6 * HOUR,
}
GUARD_MARGIN = 5 * MINUTE  # the guard's timeout: the lock wait plus this

_OPTIONS = {"cache_policy": NO_CACHE, "retry_delay_seconds": 2}


def guard(config: AlflowConfig, scheduled: bool) -> Admission:
    """Run the ``guard`` task with a timeout past the config's lock wait."""
    wait = config.schedule.lock_wait_seconds + GUARD_MARGIN
    return _guard.with_options(timeout_seconds=wait)(config, scheduled)


@task(name="guard", cache_policy=NO_CACHE)
def _guard(config: AlflowConfig, scheduled: bool) -> Admission:
    """Take the campaign's round lock, then check the in-flight limit (and, when scheduled,
    that the last round was trained on); a round that must wait gives the lock back."""
    return operations.admit_round(project_for(config), scheduled)


@task(name="open-round", timeout_seconds=TIMEOUTS["open-round"], retries=2, **_OPTIONS)
def open_round(config: AlflowConfig, flow_run_id: str | None) -> dict:
    """Open the next round (or resume an unfinished one) with its MLflow run."""
    return asdict(opening.start_round(project_for(config), flow_run_id))


# the first call may start a LocalCluster and load a model from its store: minutes, not hours
@task(name="check-scoring-model", timeout_seconds=TIMEOUTS["check-scoring-model"], **_OPTIONS)
def check_scoring_model(config: AlflowConfig) -> str:
    """``model.scoring_uri`` loads and returns probabilities on a worker; its pinned URI."""
    return project_for(config).check_scoring_model(shared_client(config.compute))


@task(name="score", timeout_seconds=TIMEOUTS["score"], retries=2, **_OPTIONS)
def score(config: AlflowConfig, round_id: int) -> ScoredRound | None:
    """One Dask pass over the pool with the champion: the candidates, the uniform sample and
    the stream picks (None when the round's selection is already recorded)."""
    project = project_for(config)
    n_parts = len(project.ledger.partitions("pool"))
    client = shared_client(config.compute)
    with progress_bar(f"round {round_id}: scoring partitions", n_parts) as advance:
        return opening.score_round(project, round_id, client, on_partition=advance)


@task(name="weigh", timeout_seconds=TIMEOUTS["weigh"], retries=2, **_OPTIONS)
def weigh(scored: ScoredRound) -> Weighed:
    """The control slice, then the candidates as the strategy reads them: features, committee
    votes and density (FAISS, on the worker that keeps the pool index)."""
    return batch.weigh(scored.request)


@task(name="diversify", timeout_seconds=TIMEOUTS["diversify"], **_OPTIONS)
def diversify(scored: ScoredRound, weighed: Weighed) -> pd.DataFrame:
    """The strategy's pick among the weighed candidates: the ranked batch (no retries: it is a
    pure function of its inputs)."""
    return batch.diversify(scored.request, weighed)


@task(name="record-selection", timeout_seconds=TIMEOUTS["record-selection"], retries=2, **_OPTIONS)
def record_selection(config: AlflowConfig, scored: ScoredRound, picked: pd.DataFrame) -> int:
    """Record the batch (once) in the ledger and the round's MLflow run; its size."""
    return len(opening.record_selection(project_for(config), scored, picked))


@task(name="export", timeout_seconds=TIMEOUTS["export"], retries=2, **_OPTIONS)
def export_batch(config: AlflowConfig, round_id: int) -> dict:
    """Hand the round's batch to the vendor (once): a file and its manifest, or a project."""
    with stage("export"):
        return project_for(config).export(round_id)


@task(name="simulate-annotation", timeout_seconds=TIMEOUTS["simulate-annotation"], **_OPTIONS)
def simulate_annotation(config: AlflowConfig, round_id: int) -> str:
    """The simulated annotator's labels file for the round (from the pool's truth)."""
    return str(project_for(config).simulate_annotation(round_id))


# no task retries: httpx retries failed connections
@task(name="pull-labels", timeout_seconds=TIMEOUTS["pull-labels"], **_OPTIONS)
def pull_labels(config: AlflowConfig) -> str:
    """Download the vendor's annotations to a labels file."""
    return str(project_for(config).pull_labels())


@task(name="reimport", timeout_seconds=TIMEOUTS["reimport"], retries=1, **_OPTIONS)
def import_labels(config: AlflowConfig, path: str, full_state: bool = False) -> dict:
    """Validate a labels file and append its annotations (once), then resolve the votes."""
    with stage("import"):
        return asdict(project_for(config).import_labels(path, full_state))


@task(name="retrain", timeout_seconds=TIMEOUTS["retrain"], **_OPTIONS)
def retrain(config: AlflowConfig, round_id: int | None, flow_run_id: str | None) -> dict:
    """Train on the resolved labels, evaluate, register; promote if the gate passes."""
    with stage("retrain"):
        return asdict(project_for(config).retrain(round_id, flow_run_id))
