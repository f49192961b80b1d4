"""A campaign: rounds with the simulated annotator until a stopping criterion holds."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

import tasks  # noqa: F401  (offline defaults before Prefect loads)
from alflow.config import AlflowConfig
from flows.rounds import labeling_round, reimport_and_retrain
from tasks import round_tasks as t
from tasks.progress import progress_bar


def stop_reason(config: AlflowConfig, rounds_done: int, labels: int, metric: float | None):
    """Why the campaign stops now, or None to go on."""
    c = config.campaign
    if c.label_budget is not None and labels + c.batch_size > c.label_budget:
        return f"label budget {c.label_budget} reached ({labels} labels)"
    if c.target_metric is not None and metric is not None and metric >= c.target_metric:
        return f"target {config.model.gate.metric} {c.target_metric} reached ({metric:.4f})"
    if rounds_done >= c.max_rounds:
        return f"max_rounds {c.max_rounds} done"
    return None


def _campaign_name() -> str:
    config = flow_run.parameters["config"]
    project = config.project if isinstance(config, AlflowConfig) else config["project"]
    return f"{project}-campaign"


@flow(name="campaign", flow_run_name=_campaign_name, log_prints=True)
def campaign(config: AlflowConfig) -> dict:
    """Run rounds with the simulated annotator; return the learning curve and the stop reason."""
    curve: list[dict] = []
    reason = None
    metric_name = config.model.gate.metric
    with progress_bar(f"{config.project}: rounds", config.campaign.max_rounds) as advance:
        while reason is None:
            selected = labeling_round(config)
            labels_path = t.simulate_annotation(config, selected["round_id"])
            result = reimport_and_retrain(config, labels_path)
            train = result["train"]
            curve.append(
                {
                    "round": train["round_id"],
                    "labels": train["n_labels"],
                    "strategy": config.strategy.name,
                    "accuracy": train["metrics"].get("accuracy"),
                    "macro_f1": train["metrics"].get("macro_f1"),
                    "model_version": train["model_version"],
                    "promoted": train["promoted"],
                }
            )
            advance(1)
            reason = stop_reason(
                config,
                len(curve),
                int(train["metrics"]["labels_total"]),
                train["metrics"].get(metric_name),
            )
    print(f"campaign {config.project} stopped: {reason}")
    return {"curve": curve, "stop_reason": reason}
