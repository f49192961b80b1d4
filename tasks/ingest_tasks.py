"""Ingest as a Prefect task: a file's new items into the pool or the evaluation set."""

from __future__ import annotations

from dataclasses import asdict

from prefect import task
from prefect.cache_policies import NO_CACHE

from alflow.config import AlflowConfig
from alflow.data.ingest_read import row_count
from alflow.stages import stage
from tasks.context import project_for
from tasks.progress import progress_bar

INGEST_TIMEOUT = 6 * 3600  # a stuck read (a dead object store) fails instead of hanging


# retries are safe: an ingest adds only the items the ledger does not hold yet
@task(
    name="ingest",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=2,
    timeout_seconds=INGEST_TIMEOUT,
)
def ingest(config: AlflowConfig, source: str, target: str) -> dict:
    """Validate ``source`` (a path or URL), write its new rows as partitions, record them."""
    total = row_count(source)
    with stage("ingest"), progress_bar(f"ingesting {source}", total) as advance:
        report = project_for(config).ingest(source, target=target, progress=advance)
    return asdict(report)
