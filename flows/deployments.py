"""A campaign's two Prefect deployments: rounds on a schedule, and the labels inbox."""

from __future__ import annotations

from datetime import timedelta

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

import tasks  # noqa: F401  (offline defaults before Prefect loads)
from alflow.config import AlflowConfig
from flows.rounds import labeling_round, reimport_and_retrain
from flows.schedules import campaign_tag


def deployment_names(config: AlflowConfig) -> dict[str, str]:
    """Deployment name by flow name."""
    return {
        "labeling_round": f"{config.project}-rounds",
        "reimport_and_retrain": f"{config.project}-labels",
    }


def deployments(config: AlflowConfig, config_path: str, paused: bool = False) -> list:
    """The campaign's two deployments: rounds on ``schedule.round_cron`` (or every
    ``round_interval_seconds``) and the labels inbox polled every ``poll_interval_seconds``."""
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
