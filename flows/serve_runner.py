"""The Prefect runner of ``alflow serve``: the campaign's deployments served in a process of
their own (``flows.serve`` supervises and stops it). Its first round is due at once.

On a server of ``alflow serve``'s own (``--own-server``), a flow run of the campaign still
listed as pending or running died with the last ``alflow serve`` (a kill mid-round): it is
marked crashed before serving. That releases the deployment's concurrency slot, which the
server would otherwise never give back (its leases live in the memory of the server that was
stopped), so the next round runs at once and resumes the unfinished one."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

from prefect import serve as prefect_serve
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.events.worker import EventsWorker
from prefect.flow_engine import run_flow
from prefect.logging.handlers import APILogWorker
from prefect.states import Crashed

import tasks  # noqa: F401  (offline defaults before Prefect loads)
from alflow.config import load_config
from alflow.scoring.compute import close_shared_clients
from alflow.workspace import Workspace
from flows.deployments import deployments as campaign_deployments
from flows.local_services import wait_healthy
from flows.rounds import labeling_round
from tasks.context import project_for

UNFINISHED = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]


def run(config_path: Path, paused: bool, own_server: bool) -> None:
    """Serve until SIGINT; a campaign not paused gets a round now, not after the first
    interval (or the scheduler's next loop). While the server starts, the deployments are
    built and the workspace's MLflow store is opened: a new one's migrations (4-10 s) are then
    done before the first round's flow run needs it. That first flow run (of the rounds
    deployment, under its concurrency limit) runs in this process before serving starts: a
    flow run the runner serves is a spawned interpreter that imports the whole stack again
    (10-20 s on 2 cores), which would be the first round's wait."""
    config = load_config(config_path)
    url = os.environ["PREFECT_API_URL"]  # set by flows.serve; the server may still be starting
    log = Workspace.from_config(config).root / "prefect" / "server.log"
    project_for(config).tracker  # noqa: B018  (opened for its side effect)
    deployments = campaign_deployments(config, str(config_path), paused=paused)
    wait_healthy("prefect server", f"{url}/health", None, log)
    ids = [d.apply() for d in deployments]
    with get_client(sync_client=True) as client:
        if own_server:
            crash_orphans(client, ids)
        first = None if paused else client.create_flow_run_from_deployment(ids[0])
    try:
        if first is not None:
            _first_round(first)
        prefect_serve(*deployments, limit=2, pause_on_shutdown=True)
    except KeyboardInterrupt:
        pass
    finally:
        _drain_prefect()


def _first_round(flow_run: FlowRun) -> None:
    """Run ``flow_run`` here, where its imports are done (a spawned run redoes them), then
    close its cluster (the served flow runs start their own)."""
    with exit_on_interrupt():
        run_flow(labeling_round, flow_run=flow_run, return_type="state")
        close_shared_clients()


@contextmanager
def exit_on_interrupt() -> Iterator[None]:
    """A SIGINT (``alflow serve`` stopping) ends this process at once, Prefect's workers
    flushed, exit code 130. Not a KeyboardInterrupt: raised wherever the main thread is, one
    landing in a finalizer (a Dask future's ``__del__``) is printed as a traceback and
    swallowed, and the round goes on; one mid-way through the cluster's start makes
    distributed's close assert. ``alflow serve`` kills whatever is left (the cluster)."""

    def handler(_signum: int, _frame) -> None:
        _drain_prefect()
        os._exit(130)

    before = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def crash_orphans(client: SyncPrefectClient, deployment_ids: list[UUID]) -> int:
    """Mark the deployments' pending, running or cancelling flow runs crashed (each said on
    stdout); how many."""
    orphans = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=deployment_ids),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=UNFINISHED)),
        )
    )
    for fr in orphans:
        message = "its process died with the last alflow serve"
        client.set_flow_run_state(fr.id, Crashed(message=message), force=True)
        state = fr.state_type.value.lower() if fr.state_type else "unfinished"
        print(f"flow run {fr.name} was left {state}: marked crashed", flush=True)
    return len(orphans)


def _drain_prefect() -> None:
    """Flush Prefect's log and event workers while the API is still up (a worker left with
    nowhere to send keeps the process from exiting)."""
    APILogWorker.drain_all(timeout=2)
    EventsWorker.drain_all(timeout=2)


if __name__ == "__main__":
    flags = sys.argv[2:]
    run(Path(sys.argv[1]), paused="--paused" in flags, own_server="--own-server" in flags)
