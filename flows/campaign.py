"""A campaign: rounds with the simulated annotator until a stopping criterion holds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect import flow
from prefect.runtime import flow_run
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

import tasks  # noqa: F401  (offline defaults before Prefect loads)
from alflow.config import AlflowConfig
from alflow.stopping import stop_reason
from flows.rounds import labeling_round, reimport_and_retrain
from tasks import round_tasks as t
from tasks.progress import progress_bar


def _campaign_name() -> str:
    config = flow_run.parameters["config"]
    project = config.project if isinstance(config, AlflowConfig) else config["project"]
    return f"{project}-campaign"


@contextmanager
def subflows_without_heartbeats() -> Iterator[None]:
    """Flow runs started inside send no heartbeats: they are subflows in this flow's process,
    whose own heartbeat already says it is alive. Each flow run's exit waits up to 1 s for its
    heartbeat thread (Prefect's thread sleeps in 1 s steps): about 1 s of a small round's 3."""
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


@flow(name="campaign", flow_run_name=_campaign_name, log_prints=True)
def campaign(config: AlflowConfig) -> dict:
    """Run rounds with the simulated annotator; return the learning curve and the stop reason."""
    curve: list[dict] = []
    reason = None
    bar = progress_bar(f"{config.project}: rounds", config.campaign.max_rounds)
    with bar as advance, subflows_without_heartbeats():
        while reason is None:
            selected = labeling_round(config)
            labels_path = t.simulate_annotation(config, selected["round_id"])
            result = reimport_and_retrain(config, labels_path)
            train = result["train"]
            m = train["metrics"]
            curve.append(
                {
                    "round": train["round_id"],
                    "labels": train["n_labels"],
                    "labels_total": int(m["labels_total"]),
                    "strategy": config.strategy.name,
                    "accuracy": m.get("accuracy"),
                    "macro_f1": m.get("macro_f1"),
                    "stop_kappa": m.get("stop_kappa"),
                    "model_version": train["model_version"],
                    "promoted": train["promoted"],
                }
            )
            advance(1)
            reason = stop_reason(config, curve)
    print(f"campaign {config.project} stopped: {reason}")
    return {"curve": curve, "stop_reason": reason}
