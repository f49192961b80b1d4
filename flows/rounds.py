"""The round flows. They run on Prefect's ephemeral local API when no server is configured.

``config`` is a validated config or the path of a YAML file (what deployments pass).
"""

from __future__ import annotations

import os
import sys

from prefect import flow
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

import tasks  # noqa: F401  (offline defaults before Prefect loads)
from alflow.config import AlflowConfig
from alflow.errors import ConfigError
from alflow.labels.exporting import retrain_refusal
from alflow.rounds.operations import release_round_lock
from flows import schedules
from flows.user_errors import quiet_expected_failures
from tasks import round_tasks as t
from tasks.context import as_config, project_for, with_batch_size

if not os.environ.get("ALFLOW_VERBOSE"):
    quiet_expected_failures()


def _config_param() -> AlflowConfig:
    return as_config(flow_run.parameters["config"])


def _select_name() -> str:
    config = _config_param()
    return f"{config.project}-round-{project_for(config).next_round_id()}-select"


def _retrain_name() -> str:
    config = _config_param()
    last = project_for(config).ledger.last_exported_round_id() or 0
    return f"{config.project}-round-{last}-retrain"


def _say(scheduled: bool, line: str) -> None:
    """One line on ``alflow serve``'s output (a scheduled run's stdout reaches it; Prefect's
    logs stay at WARNING there)."""
    if scheduled:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _skip(config: AlflowConfig, scheduled: bool, reason: str) -> dict:
    print(f"round skipped: {reason}")
    _say(scheduled, f"round {project_for(config).next_round_id()}: skipped because {reason}")
    return {"round_id": None, "skipped": reason}


@flow(name="labeling_round", flow_run_name=_select_name, log_prints=True)
def labeling_round(
    config: AlflowConfig | str, scheduled: bool = False, batch_size: int | None = None
) -> dict:
    """Score the pool, select a batch and export it to the vendor (each step once), as the
    tasks guard, open-round, score, weigh, diversify, record-selection and export.

    ``batch_size`` replaces ``campaign.batch_size`` for this round. Rounds of one campaign never
    overlap (a ledger lock: a second start waits up to ``schedule.lock_wait_seconds``, then
    refuses). With ``schedule.max_in_flight`` a new round is skipped while too many exported
    items wait for labels. A ``scheduled`` run (from ``alflow serve``) skips instead of failing,
    stops the campaign when the pool is used up, and hands the batch to the simulated annotator
    when the vendor is ``simulated``.
    """
    config = with_batch_size(as_config(config), batch_size)
    if scheduled and (reason := schedules.stopped(config)):
        return _skip(config, scheduled, f"campaign stopped: {reason}")
    admission = t.guard(config, scheduled)
    if admission.wait:
        return _skip(config, scheduled, admission.wait)
    try:
        if config.model.scoring_uri:  # before the round opens: a refusal changes nothing
            t.check_scoring_model(config)
        start = t.open_round(config, flow_run.id)
        round_id = start["round_id"]
        _say(scheduled, f"round {round_id}: started")
        selected = _select(config, round_id)
        _say(scheduled, f"round {round_id}: selected {selected}")
        export = t.export_batch(config, round_id)
    finally:
        release_round_lock(project_for(config), admission.holder)
    out = {"round_id": round_id, "selected": selected, "export": export}
    if scheduled and config.vendor.kind == "simulated":
        out["labels"] = t.simulate_annotation(config, round_id)
    return out


def _select(config: AlflowConfig, round_id: int) -> int:
    """The selection stages in order, as tasks (``alflow.rounds.opening.select`` composes the same
    functions): score, weigh, diversify, record-selection. The batch's size."""
    scored = t.score(config, round_id)
    if scored is None:  # recorded by an earlier attempt at this round
        return len(project_for(config).ledger.selection(round_id))
    weighed = t.weigh(quote(scored))
    picked = t.diversify(quote(scored), quote(weighed))
    return t.record_selection(config, quote(scored), quote(picked))


@flow(name="reimport_and_retrain", flow_run_name=_retrain_name, log_prints=True)
def reimport_and_retrain(
    config: AlflowConfig | str,
    labels_path: str | None = None,
    retrain: bool = True,
    poll_inbox: bool = False,
    scheduled: bool = False,
    pull: bool = False,
) -> dict:
    """Import a labels file (if given, or pulled from the vendor's server with ``pull``) and,
    with ``poll_inbox``, every new file in the labels inbox (a file already imported is skipped:
    same content, same events); resolve, retrain, log and register the model. When polling, it
    retrains only if labels arrived (or an earlier retrain died). A ``scheduled`` run then checks
    the stopping criteria and pauses the campaign's schedules when one holds."""
    config = as_config(config)
    project = project_for(config)
    out: dict = {}
    own_model = config.model.scoring_uri
    if retrain and own_model and not (labels_path or pull or poll_inbox):
        raise ConfigError(retrain_refusal(own_model))  # a retrain alone: refused
    if retrain and not own_model:  # a broken estimator refuses before labels come in
        project.check_trainable()
    pulled = pull and not labels_path
    if pulled:
        labels_path = t.pull_labels(config)
    if labels_path:
        out["import"] = t.import_labels(config, labels_path, full_state=pulled)
    added = out.get("import", {}).get("events_added", 0)
    if poll_inbox:
        out["imports"] = [t.import_labels(config, str(p)) for p in project.new_label_files()]
        for i in out["imports"]:
            _say(scheduled, f"labels: imported {i['events_added']} from {i['source']}")
        added += sum(i["events_added"] for i in out["imports"])
        if not out["imports"]:
            print(f"no new labels files in {project.inbox}")
    if retrain and own_model:
        out["train_skipped"] = retrain_refusal(own_model)
        _say(scheduled, f"retrain skipped: {out['train_skipped']}")
    elif retrain and (not poll_inbox or added or project.needs_training()):
        out["train"] = t.retrain(config, None, flow_run.id)
    if "train" in out:
        tr = out["train"]
        _say(scheduled, f"round {tr['round_id']}: trained on {tr['n_labels']} labels")
    if scheduled and "train" in out:
        out["stop_reason"] = schedules.check_stop(config)
    return out
