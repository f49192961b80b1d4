"""Retraining on all resolved labels: the training set (human, weak and pseudo labels), the
evaluation, the model registry and the promotion gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from alflow import faults
from alflow.context import ProjectContext
from alflow.data.pool import feature_columns, features_of, read_partition
from alflow.errors import AlflowError, ConfigError
from alflow.labels.exporting import retrain_refusal
from alflow.rounds.control import label_saving
from alflow.rounds.stopping import agreement
from alflow.tracking.keys import label_key, label_keys
from alflow.tracking.reporting import log_report
from alflow.training.estimators import make_estimator, sample_weight_param
from alflow.training.model import build_model, evaluate, holdout_mask


@dataclass(frozen=True)
class TrainReport:
    round_id: int
    n_labels: int
    metrics: dict[str, float]
    model_version: str | None
    promoted: bool


def _count(extra, source: str) -> float:
    """How many labels of one source (``pseudo`` or ``weak``) a training set holds."""
    return 0.0 if extra is None else float((extra[1]["source"] == source).sum())


def _concat(a, b):
    """Two feature sets as one: arrays stacked, text lists joined."""
    return np.vstack([a, b]) if isinstance(a, np.ndarray) else [*a, *b]


def retrain(
    ctx: ProjectContext, round_id: int | None = None, flow_run_id: str | None = None
) -> TrainReport:
    """Fit on all resolved labels, evaluate, register; move ``champion`` if the gate passes."""
    if ctx.config.model.scoring_uri:
        raise ConfigError(retrain_refusal(ctx.config.model.scoring_uri))
    round_id = round_id or ctx.ledger.last_exported_round_id()
    if round_id is None:
        raise AlflowError("no exported round yet: run 'alflow round' first")
    labels = ctx.ledger.resolved_labels()
    train, x_eval, y_eval = eval_set(ctx, labels)
    if train["label"].nunique() < 2:
        raise AlflowError(
            f"{len(train)} training label(s) cover {train['label'].nunique()} class(es); "
            "a model needs at least two classes"
        )
    run_id = _retrain_run(ctx, round_id)
    extra = model_label_training_set(ctx)
    model = _fit(ctx, train, extra)
    faults.checkpoint("after_fit")
    t = ctx.tracker
    if flow_run_id:
        t.set_tags(run_id, {"prefect.flow_run_id.retrain": flow_run_id})
    metrics, report = _metrics(ctx, model, train, labels, extra, x_eval, y_eval)
    t.log_params(
        run_id, {f"model.{k}": v for k, v in model.named_steps["classify"].get_params().items()}
    )
    t.log_metrics(run_id, metrics, step=round_id)
    used = train[["item_id", "label"]].assign(source="human", weight=1.0)
    if extra is not None:
        used = pd.concat([used, extra[1]], ignore_index=True)
    t.log_frame(run_id, used, "training_labels.csv")
    kappa = _stop_kappa(ctx, model, round_id)
    if kappa is not None:
        metrics["stop_kappa"] = kappa
    if x_eval is not None:
        control = _control_estimate(ctx, train, x_eval, y_eval, len(train), metrics)
        t.log_metrics(run_id, control, step=round_id)
        metrics.update(control)
    if report:
        t.log_dict(run_id, report, "classification_report.json")
    if label_keys(ctx.labels):
        t.log_dict(run_id, label_keys(ctx.labels), "label_keys.json")
    return _register(ctx, round_id, run_id, model, train, metrics, x_eval, y_eval)


def check_trainable(ctx: ProjectContext) -> None:
    """The configured estimator builds (``model.estimator``, ``model.params``), else a one-line
    config error, before anything is imported for a retrain."""
    make_estimator(ctx.config.model, ctx.config.seed)


def _fit(ctx: ProjectContext, train: pd.DataFrame, extra):
    """The model fitted on the human labels, plus the weighted model labels in ``extra``."""
    x_train = ctx.labeled_data(train["item_id"])
    y_train = train["label"].to_numpy()
    model = build_model(ctx.config, ctx.text_space)
    if extra is None:
        return model.fit(x_train, y_train)
    x_extra, frame = extra
    weights = np.r_[np.ones(len(y_train)), frame["weight"].to_numpy()]
    return model.fit(
        _concat(x_train, x_extra),
        np.r_[y_train, frame["label"].to_numpy()],
        **{sample_weight_param(model, ctx.config.model.estimator): weights},
    )


def _metrics(ctx: ProjectContext, model, train, labels, extra, x_eval, y_eval):
    """``(metrics, classification report)``: label counts, then the evaluation if any."""
    metrics: dict[str, float] = {
        "labels_used": float(len(train)),
        "labels_total": float(len(labels)),
        "pseudo_labels_used": _count(extra, "pseudo"),
        "weak_labels_used": _count(extra, "weak"),
    }
    for cls, n in train["label"].value_counts().items():
        metrics[f"class_count.{label_key(str(cls))}"] = float(n)
    report: dict[str, Any] = {}
    if x_eval is not None:
        result = evaluate(model, x_eval, y_eval, ctx.labels)
        report = result.pop("report")
        metrics.update(result)
        metrics["eval_size"] = float(len(y_eval))
    return metrics, report


def _register(ctx: ProjectContext, round_id, run_id, model, train, metrics, x_eval, y_eval):
    """Register the model, apply the gate, record the training, log the round's report."""
    t = ctx.tracker
    version = t.log_model(run_id, model)
    faults.checkpoint("after_register")
    promoted = _gate(ctx, model, version, metrics, x_eval, y_eval)
    t.set_tags(run_id, {"alflow.model_version": version, "alflow.promoted": str(promoted)})
    ctx.ledger.record_training(
        round_id,
        model_version=version,
        n_labels=len(train),
        metrics={k: v for k, v in metrics.items() if not k.startswith("class_count.")},
        promoted=promoted,
    )
    log_report(ctx, round_id, run_id)
    t.set_tags(run_id, {"alflow.retrain": "done"})
    t.finish(run_id)
    return TrainReport(round_id, len(train), metrics, version, promoted)


def eval_set(ctx: ProjectContext, labels: pd.DataFrame):
    """The user's evaluation set if one was ingested, else a stable holdout of labels."""
    kind = ctx.config.data.features.kind
    urls = ctx.partition_urls("eval")
    if urls:
        table = pa.concat_tables(read_partition(u, [*feature_columns(kind), "truth"]) for u in urls)
        return labels, features_of(table, kind), np.asarray(table.column("truth").to_pylist())
    ev = ctx.config.evaluation
    mask = holdout_mask(labels["item_id"].to_numpy(), ev.holdout_fraction, ctx.config.seed)
    if mask.sum() < ev.min_eval_labels:  # too few to evaluate, still never trained on
        return labels[~mask], None, None
    held = labels[mask]
    x_eval = ctx.labeled_data(held["item_id"])
    return labels[~mask], x_eval, held["label"].to_numpy()


def _retrain_run(ctx: ProjectContext, round_id: int) -> str:
    """The round's run, claimed for a retrain; a run whose earlier retrain never finished
    (killed, or failed with an error) is marked FAILED and replaced by a new one."""
    run_id = ctx.round_run_id(round_id)
    _, tags = ctx.tracker.run_state(run_id)
    if tags.get("alflow.retrain") == "started":  # never marked done: that attempt died
        run_id = ctx.restart_run(round_id)
    ctx.tracker.set_tags(run_id, {"alflow.retrain": "started"})
    return run_id


def _control_estimate(ctx: ProjectContext, train, x_eval, y_eval, n_train: int, metrics):
    """A model on the control labels alone (what random sampling reaches with them), and the
    label saving of the campaign against it (see ``alflow.rounds.control``)."""
    gate = ctx.config.model.gate.metric
    control = train[train["item_id"].isin(ctx.ledger.selected_ids("control"))]
    if control["label"].nunique() < 2 or gate not in metrics:
        return {}
    x = ctx.labeled_data(control["item_id"])
    model = build_model(ctx.config, ctx.text_space).fit(x, control["label"].to_numpy())
    value = evaluate(model, x_eval, y_eval, ctx.labels)[gate]
    out = {"control.labels": float(len(control)), f"control.{gate}": value}
    history = ctx.ledger.trainings()
    labels = [*history.get("labels", pd.Series(dtype=float)).tolist(), n_train]
    values = [*history.get(gate, pd.Series(dtype=float)).tolist(), metrics[gate]]
    kept = [(n, v) for n, v in zip(labels, values, strict=True) if pd.notna(v)]
    saving = label_saving([n for n, _ in kept], [v for _, v in kept], len(control), value)
    if saving is not None:
        out["control.label_saving"], out["control.labels_needed"] = saving
    return out


def model_label_training_set(ctx: ProjectContext):
    """``(features, frame of item_id, label, source, weight)`` of the labels that did not
    come from people, or None: weak labels (weight confidence x ``weak_labels.weight``),
    then the latest round's pseudo-labels (CEAL, weight ``pseudo_labels.weight``) of items
    without a weak label. Items with a human label (or awaiting adjudication) never appear:
    the ledger's queries leave them out."""
    m = ctx.config.model
    parts = []
    if m.weak_labels.enabled:
        weak = ctx.ledger.weak_labels()
        weak = weak[weak["confidence"] >= m.weak_labels.min_confidence]
        parts.append(weak.assign(source="weak", weight=weak["confidence"] * m.weak_labels.weight))
    if m.pseudo_labels.enabled:
        parts.append(
            ctx.ledger.pseudo_labels().assign(source="pseudo", weight=m.pseudo_labels.weight)
        )
    columns = ["item_id", "label", "source", "weight"]
    parts = [p[columns] for p in parts if len(p)]
    if not parts:
        return None
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.drop_duplicates("item_id").reset_index(drop=True)  # weak before pseudo
    x = ctx.labeled_data(frame["item_id"])
    return x, frame


def _gate(ctx: ProjectContext, model, version: str, metrics, x_eval, y_eval) -> bool:
    """Promote when there is no champion, when nothing can be evaluated yet (the newest model
    has the most labels), or when the new model beats the champion on the same data."""
    gate = ctx.config.model.gate
    champ = ctx.tracker.champion()
    if champ is None or x_eval is None:
        ctx.tracker.promote(version)
        return True
    old = evaluate(ctx.tracker.load(champ[1]), x_eval, y_eval, ctx.labels)[gate.metric]
    if metrics[gate.metric] >= old + gate.min_delta:
        ctx.tracker.promote(version)
        return True
    return False


def _stop_kappa(ctx: ProjectContext, model, round_id: int) -> float | None:
    """Cohen's kappa between this model's and the previous model's stop-set predictions."""
    if not ctx.stop_set_path.exists():
        return None
    table = read_partition(str(ctx.stop_set_path))
    kind = ctx.config.data.features.kind
    preds = np.asarray(model.predict(features_of(table, kind))).astype(str)
    folder = ctx.ws.reports_dir / "stop_set_predictions"
    folder.mkdir(exist_ok=True)
    earlier = sorted(p for p in folder.glob("round-*.npy") if p.stem < f"round-{round_id:04d}")
    np.save(folder / f"round-{round_id:04d}.npy", preds)
    return agreement(np.load(earlier[-1]), preds) if earlier else None
