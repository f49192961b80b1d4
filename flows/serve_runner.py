"""The Prefect runner of ``alflow serve``: the campaign's deployments served in a process of
their own (``flows.serve`` supervises and stops it). Its first round is due at once."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from prefect import serve as prefect_serve
from prefect.client.orchestration import get_client
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker

import tasks  # noqa: F401  (offline defaults before Prefect loads)
from alflow.config import load_config
from alflow.workspace import Workspace
from flows.deployments import deployments as campaign_deployments
from flows.local_services import wait_healthy
from tasks.context import project_for


def run(config_path: Path, paused: bool) -> None:
    """Serve until SIGINT; a campaign not paused gets a round now, not after the first
    interval (or the scheduler's next loop). While the server starts, the deployments are
    built and the workspace's MLflow store is opened: a new one's migrations (4-10 s) are then
    done before the first round's flow run needs it."""
    config = load_config(config_path)
    url = os.environ["PREFECT_API_URL"]  # set by flows.serve; the server may still be starting
    log = Workspace.from_config(config).root / "prefect" / "server.log"
    project_for(config).tracker  # noqa: B018  (opened for its side effect)
    deployments = campaign_deployments(config, str(config_path), paused=paused)
    wait_healthy("prefect server", f"{url}/health", None, log)
    if not paused:
        with get_client(sync_client=True) as client:
            client.create_flow_run_from_deployment(deployments[0].apply())
    try:
        prefect_serve(*deployments, limit=2, pause_on_shutdown=True)
    except KeyboardInterrupt:
        pass
    finally:
        _drain_prefect()


def _drain_prefect() -> None:
    """Flush Prefect's log and event workers while the API is still up (a worker left with
    nowhere to send keeps the process from exiting)."""
    APILogWorker.drain_all(timeout=2)
    EventsWorker.drain_all(timeout=2)


if __name__ == "__main__":
    run(Path(sys.argv[1]), paused="--paused" in sys.argv[2:])
