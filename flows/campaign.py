"""A campaign: rounds with the simulated annotator until a stopping criterion holds."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

import tasks  # noqa: F401  (offline defaults before Prefect loads)
from alflow.config import AlflowConfig
from alflow.rounds.stopping import stop_reason
from flows.heartbeats import without_heartbeats
from flows.rounds import labeling_round, reimport_and_retrain
from tasks import round_tasks as t
from tasks.progress import progress_bar


def _campaign_name() -> str:
    config = flow_run.parameters["config"]
    project = config.project if isinstance(config, AlflowConfig) else config["project"]
    return f"{project}-campaign"


@flow(name="campaign", flow_run_name=_campaign_name, log_prints=True)
def campaign(config: AlflowConfig) -> dict:
    """Run rounds with the simulated annotator; return the learning curve and the stop reason."""
    curve: list[dict] = []
    reason = None
    bar = progress_bar(f"{config.project}: rounds", config.campaign.max_rounds)
    # its rounds are subflows in this process: the campaign's own heartbeat says it is alive
    with bar as advance, without_heartbeats():
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
