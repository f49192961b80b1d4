"""A round's self-contained HTML report (learning curve, class balance, agreement), built from
the ledger and logged to the round's MLflow run."""

from __future__ import annotations

import pandas as pd

from alflow.context import ProjectContext
from alflow.tracking import plots
from alflow.tracking.report import agreement_table, round_report


def learning_curve(trainings: pd.DataFrame, gate: str) -> pd.DataFrame:
    """``labels, <gate>, strategy`` of the campaign and of its control slice (random)."""
    parts = []
    if gate in trainings:
        parts.append(trainings[["labels", gate]].assign(strategy="campaign"))
    if f"control.{gate}" in trainings:
        ctrl = trainings[["control.labels", f"control.{gate}"]]
        ctrl.columns = ["labels", gate]
        parts.append(ctrl.assign(strategy="control slice (random)"))
    if not parts:
        return pd.DataFrame(columns=["labels", gate, "strategy"])
    return pd.concat(parts, ignore_index=True).dropna()


def class_balance(ctx: ProjectContext, round_id: int) -> pd.DataFrame:
    """Labels per class: all of them, and those of round ``round_id``'s batch."""
    labels = ctx.ledger.resolved_labels()
    batch = ctx.ledger.selection(round_id)["item_id"]
    balance = pd.DataFrame({"label": ctx.labels})
    balance["all labels"] = balance["label"].map(labels["label"].value_counts()).fillna(0)
    this_round = labels[labels["item_id"].isin(batch)]["label"].value_counts()
    balance[f"round {round_id}"] = balance["label"].map(this_round).fillna(0)
    return balance


def log_report(ctx: ProjectContext, round_id: int, run_id: str) -> None:
    """The round's self-contained HTML report, logged to MLflow (``report.html``)."""
    gate = ctx.config.model.gate.metric
    folder = ctx.ws.reports_dir
    trainings = ctx.ledger.trainings()
    curve = learning_curve(trainings, gate)
    curve_png = folder / f"round-{round_id:04d}-curve.png"
    plots.learning_curves(curve, gate, curve_png, f"learning curve after round {round_id}")
    balance = class_balance(ctx, round_id)
    balance_png = folder / f"round-{round_id:04d}-balance.png"
    plots.class_balance(balance, balance_png, f"class balance after round {round_id}")
    trained = trainings[trainings["round"] == round_id]
    control = {
        k: float(v)
        for k, v in (trained.iloc[-1].to_dict() if len(trained) else {}).items()
        if k.startswith("control.") and pd.notna(v)
    }
    page = round_report(
        project=ctx.config.project,
        round_id=round_id,
        curve_png=curve_png,
        curve=curve,
        scores_png=folder / f"round-{round_id:04d}-scores.png",
        balance_png=balance_png,
        balance=balance,
        agreement=agreement_table(ctx.ledger.annotations()),
        control=control,
    )
    ctx.tracker.log_text(run_id, page, "report.html")
