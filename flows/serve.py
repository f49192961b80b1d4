"""``alflow serve``: the campaign's deployments served from this process.

Prefect's scheduler runs in a Prefect server, not in the ephemeral API, so when no
``PREFECT_API_URL`` is set ``alflow serve`` starts one itself (``prefect server start`` on
127.0.0.1, a free port, its database under ``<workspace>/prefect``) and stops it on exit: no
server to start by hand. With ``PREFECT_API_URL`` set it serves against that server instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prefect import serve as prefect_serve
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

import tasks  # noqa: F401  (offline defaults before Prefect loads)
from alflow.config import AlflowConfig
from alflow.workspace import Workspace
from flows.deployments import deployments as campaign_deployments
from flows.local_services import prefect_server
from tasks.context import project_for


@contextmanager
def prefect_api(config: AlflowConfig) -> Iterator[str]:
    """The configured Prefect API, or a server of our own for as long as we serve."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        yield url
        return
    with prefect_server(Workspace.from_config(config).root / "prefect") as url:
        os.environ["PREFECT_API_URL"] = url  # the flow-run subprocesses inherit it
        with temporary_settings({PREFECT_API_URL: url}):
            yield url


def serve(config_path: Path, config: AlflowConfig, resume: bool = False) -> None:
    """Serve the campaign's deployments until interrupted. A stopped campaign is served paused
    (and says why) unless ``resume`` clears its stop."""
    project = project_for(config)
    if resume:
        project.ledger.clear_stop()
    stop = project.ledger.active_stop()
    if stop is not None:
        print(f"campaign {config.project} stopped: {stop.reason} (alflow serve --resume to go on)")
    with prefect_api(config) as url:
        print(f"serving {config.project} on the Prefect API at {url}")
        deployments = campaign_deployments(
            config, str(config_path.resolve()), paused=stop is not None
        )
        try:
            prefect_serve(*deployments, limit=2, pause_on_shutdown=True)
        finally:
            _drain_prefect()


def _drain_prefect() -> None:
    """Flush Prefect's log and event workers while the API is still up (a worker left with
    nowhere to send keeps the process from exiting)."""
    APILogWorker.drain_all(timeout=10)
    EventsWorker.drain_all(timeout=10)
