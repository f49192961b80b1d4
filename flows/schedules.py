"""How a campaign stops: the reason goes to the ledger, to the last
round's MLflow run (tag ``alflow.campaign_stopped``) and to the log, and every deployment tagged
with the campaign is paused on the Prefect API."""

from __future__ import annotations

import logging

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

import tasks  # noqa: F401  (offline defaults before Prefect loads)
from alflow.config import AlflowConfig
from alflow.rounds.stopping import stop_reason
from tasks.context import project_for

logger = logging.getLogger("alflow.schedules")


def campaign_tag(config: AlflowConfig) -> str:
    return f"alflow-campaign:{config.project}"


def pause_campaign(config: AlflowConfig, reason: str) -> list[str]:
    """Pause every deployment tagged with the campaign that is not paused yet; return names."""
    paused = []
    with get_client(sync_client=True) as client:
        found = client.read_deployments(
            deployment_filter=DeploymentFilter(
                tags=DeploymentFilterTags(all_=[campaign_tag(config)])
            )
        )
        for d in found:
            if not d.paused:
                client.pause_deployment(d.id)
                paused.append(d.name)
    if paused:
        print(f"campaign {config.project}: paused {', '.join(paused)} ({reason})")
    return paused


def stop_campaign(config: AlflowConfig, reason: str) -> None:
    """Record the stop (once) and pause the campaign's schedules."""
    if project_for(config).record_stop(reason):
        print(f"campaign {config.project} stopped: {reason}")
    pause_campaign(config, reason)


def check_stop(config: AlflowConfig) -> str | None:
    """The stopping criteria of ``alflow.campaign`` on the ledger's trainings; stop if one
    holds (label budget, target metric, plateau, stable predictions, max rounds)."""
    curve = project_for(config).campaign_curve()
    reason = stop_reason(config, curve) if curve else None
    if reason is not None:
        stop_campaign(config, reason)
    return reason


def stopped(config: AlflowConfig) -> str | None:
    """Why the campaign does not go on (a recorded stop, a criterion that holds now, an empty
    pool), pausing its schedules; None when a round may start."""
    project = project_for(config)
    stop = project.ledger.active_stop()
    if stop is None and check_stop(config) is None:
        if project.ledger.state_counts().get("unlabeled"):
            return None
        stop_campaign(config, "the pool has no unlabeled items left")
    reason = project.ledger.active_stop().reason
    pause_campaign(config, reason)
    return reason
