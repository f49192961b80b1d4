"""Handing a round's batch to the annotation vendor (at most once), and the simulated annotator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from alflow import faults
from alflow.context import ProjectContext
from alflow.data.pool import feature_columns, features_of
from alflow.errors import AlflowError
from alflow.vendors.simulated import SimulatedVendor


def export(ctx: ProjectContext, round_id: int) -> dict[str, Any]:
    """Hand the round's batch to the vendor, at most once."""
    done = ctx.ledger.export_of(round_id)
    if done is not None:
        return {"uri": done.uri, "rows": done.n_rows, "sha256": done.sha256, "new": False}
    batch = ctx.ledger.selection(round_id)
    if batch.empty:
        raise AlflowError(f"round {round_id} has no selection to export")
    # why an item was picked (strategy, control, stream) stays in the ledger: annotators label
    # the control slice blind
    shown = display_columns(ctx, batch.drop(columns=["reason"], errors="ignore"))
    receipt = ctx.vendor.export_batch(shown, round_id, ctx.labels, ctx.ws.exports_dir)
    faults.checkpoint("after_export_file")
    recorded = ctx.ledger.record_export(
        round_id,
        vendor=receipt.vendor,
        uri=receipt.uri,
        n_rows=receipt.n_rows,
        sha256=receipt.sha256,
    )
    ctx.tracker.log_file(ctx.round_run_id(round_id), Path(receipt.manifest_uri), "export")
    return {"uri": receipt.uri, "rows": receipt.n_rows, "sha256": receipt.sha256, "new": recorded}


def display_columns(ctx: ProjectContext, batch: pd.DataFrame) -> pd.DataFrame:
    """What annotators see: the text or the feature values, then the model's suggestion."""
    f = ctx.config.data.features
    if f.kind == "embedding":
        return batch
    table = ctx.pool_rows(batch["item_id"], feature_columns(f.kind))
    if f.kind == "text":
        data = pd.DataFrame(
            {
                "item_id": table.column("item_id").to_pylist(),
                "text": table.column("text").to_pylist(),
            }
        )
    else:
        data = pd.DataFrame(features_of(table, f.kind), columns=f.model_columns)
        data.insert(0, "item_id", table.column("item_id").to_pylist())
    return batch.merge(data, on="item_id", how="left")


def simulate_annotation(ctx: ProjectContext, round_id: int) -> Path:
    """The simulated annotator answers the round's batch from the ground truth."""
    cfg = ctx.config
    if not cfg.data.truth_column:
        raise AlflowError("the simulated annotator needs data.truth_column")
    batch = ctx.ledger.selection(round_id)
    try:
        table = ctx.pool_rows(batch["item_id"], ["truth"])
    except (KeyError, pa.ArrowInvalid):
        raise AlflowError(
            f"the pool files have no {cfg.data.truth_column!r} column: the simulated "
            "annotator answers from ground truth ingested with the pool"
        ) from None
    vendor = (
        ctx.vendor
        if isinstance(ctx.vendor, SimulatedVendor)
        else SimulatedVendor(noise_rate=cfg.vendor.noise_rate)
    )
    return vendor.annotate(table.to_pandas(), ctx.labels, ctx.ws.imports_dir, round_id, cfg.seed)
