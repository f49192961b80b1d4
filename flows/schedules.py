"""A campaign's deployments and how it stops: the reason goes to the ledger, to the last
round's MLflow run (tag ``alflow.campaign_stopped``) and to the log, and every deployment tagged
with the campaign is paused on the Prefect API."""

from __future__ import annotations

import logging
from datetime import timedelta

from alflow.config import AlflowConfig
from tasks.context import project_for

logger = logging.getLogger("alflow.schedules")


def campaign_tag(config: AlflowConfig) -> str:
    return f"alflow-campaign:{config.project}"


def deployment_names(config: AlflowConfig) -> dict[str, str]:
    """Deployment name by flow name."""
    return {
        "labeling_round": f"{config.project}-rounds",
        "reimport_and_retrain": f"{config.project}-labels",
    }


def deployments(config: AlflowConfig, config_path: str, paused: bool = False) -> list:
    """The campaign's two deployments: rounds on ``schedule.round_cron`` (or every
    ``round_interval_seconds``) and the labels inbox polled every ``poll_interval_seconds``."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    from flows.rounds import labeling_round, reimport_and_retrain

    # one run of each at a time; a run due while the last one still works is cancelled, not
    # queued (the ledger lock keeps rounds apart on any backend, this keeps the queue short)
    one = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
    s = config.schedule
    names = deployment_names(config)
    tags = [campaign_tag(config), "alflow"]
    when = (
        {"interval": timedelta(seconds=s.round_interval_seconds)}
        if s.round_interval_seconds
        else {"cron": s.round_cron}
    )
    rounds = labeling_round.to_deployment(
        names["labeling_round"],
        parameters={"config": config_path, "scheduled": True},
        tags=tags,
        paused=paused,
        concurrency_limit=one,
        description=f"labeling rounds of {config.project}",
        **when,
    )
    labels = reimport_and_retrain.to_deployment(
        names["reimport_and_retrain"],
        parameters={"config": config_path, "poll_inbox": True, "scheduled": True},
        interval=timedelta(seconds=s.poll_interval_seconds),
        tags=tags,
        paused=paused,
        concurrency_limit=one,
        description=f"labels inbox of {config.project}: import, retrain, check the stop",
    )
    return [rounds, labels]


def pause_campaign(config: AlflowConfig, reason: str) -> list[str]:
    """Pause every deployment tagged with the campaign that is not paused yet; return names."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

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
    from flows.campaign import stop_reason

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
