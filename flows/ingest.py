"""The ingest flow: one ``ingest`` task per file, so every ingest shows in the Prefect UI."""

from __future__ import annotations

import os

from prefect import flow
from prefect.runtime import flow_run

import tasks  # noqa: F401  (offline defaults before Prefect loads)
from alflow.config import AlflowConfig
from flows.user_errors import quiet_expected_failures
from tasks.context import as_config
from tasks.ingest_tasks import ingest as ingest_task

if not os.environ.get("ALFLOW_VERBOSE"):
    quiet_expected_failures()


def _ingest_name() -> str:
    config = as_config(flow_run.parameters["config"])
    return f"{config.project}-ingest-{flow_run.parameters.get('target', 'pool')}"


@flow(name="ingest", flow_run_name=_ingest_name, log_prints=True)
def ingest(config: AlflowConfig | str, source: str, target: str = "pool") -> dict:
    """Add ``source``'s new items to the pool (``target="pool"``) or the labeled evaluation set
    (``"eval"``); re-ingesting a file adds nothing. The ingest report as a dict."""
    return ingest_task(as_config(config), source, target)
