"""The round flows. They run on Prefect's ephemeral local API when no server is configured."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

import tasks  # noqa: F401  (offline defaults before Prefect loads)
from alflow.config import AlflowConfig
from tasks import round_tasks as t
from tasks.context import project_for


def _config_param() -> AlflowConfig:
    config = flow_run.parameters["config"]
    return config if isinstance(config, AlflowConfig) else AlflowConfig.model_validate(config)


def _select_name() -> str:
    config = _config_param()
    return f"{config.project}-round-{project_for(config).next_round_id()}-select"


def _retrain_name() -> str:
    config = _config_param()
    last = project_for(config).ledger.last_exported_round_id() or 0
    return f"{config.project}-round-{last}-retrain"


@flow(name="labeling_round", flow_run_name=_select_name, log_prints=True)
def labeling_round(config: AlflowConfig) -> dict:
    """Score the pool, select a batch and export it to the vendor (each step once)."""
    start = t.open_round(config, flow_run.id)
    round_id = start["round_id"]
    selected = t.score_and_select(config, round_id)
    export = t.export_batch(config, round_id)
    return {"round_id": round_id, "selected": selected, "export": export}


@flow(name="reimport_and_retrain", flow_run_name=_retrain_name, log_prints=True)
def reimport_and_retrain(
    config: AlflowConfig, labels_path: str | None = None, retrain: bool = True, pull: bool = False
) -> dict:
    """Import a labels file (if given, or pulled from the vendor's server with ``pull``),
    resolve labels, retrain, log and register the model."""
    out: dict = {}
    if pull and not labels_path:
        labels_path = t.pull_labels(config)
    if labels_path:
        out["import"] = t.import_labels(config, labels_path)
    if retrain:
        out["train"] = t.retrain(config, None, flow_run.id)
    return out
