"""Opening a labeling round and recording its selection (once) in the ledger and MLflow.

Each step checks the ledger for its own result first, so a retried task or a rerun flow resumes
where the last one stopped and never selects anything twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from alflow import faults
from alflow.config import dump_config
from alflow.context import ProjectContext
from alflow.data.pool import pool_hash, to_table, write_partition
from alflow.scoring import external_model
from alflow.scoring.score import FEATURES, HIST_BINS, PartitionScores, stack
from alflow.scoring.score_cache import cache_key, ids_hash
from alflow.selection.batch import BatchRequest, Progress, pick_batch, score
from alflow.selection.policy import (
    SelectionInputs,
    batch_shares,
    choose_strategy,
    portfolio_history,
)
from alflow.selection.pool_index_source import by_pool_index
from alflow.selection.portfolio import PORTFOLIO
from alflow.tracking import plots
from alflow.tracking.mlflow_tracker import flatten

REPLAY_DIR = "replay"


@dataclass(frozen=True)
class RoundStart:
    round_id: int
    new: bool
    mlflow_run_id: str


def next_round_id(ctx: ProjectContext) -> int:
    """The round the next labeling round works on (an unfinished one is resumed)."""
    last = ctx.ledger.last_round_id()
    if last is None:
        return 1
    return last if ctx.ledger.get_round(last).status in ("open", "selected") else last + 1


def start_round(ctx: ProjectContext, flow_run_id: str | None = None) -> RoundStart:
    """Open the next round (or reopen an unfinished one) with its MLflow run."""
    cfg = ctx.config
    rnd, new = ctx.ledger.open_round(
        strategy=cfg.strategy.name,
        batch_size=cfg.campaign.batch_size,
        seed=cfg.seed,
        config_hash=cfg.hash(),
    )
    run_id = rnd.mlflow_run_id
    if not new:  # the last attempt at this round died or failed: its run is marked FAILED
        run_id = ctx.restart_run(rnd.id)
    elif run_id is None:
        run_id = ctx.tracker.create_run(rnd.id, {"alflow.config_hash": cfg.hash()})
        ctx.ledger.update_round(rnd.id, mlflow_run_id=run_id)
    if flow_run_id:
        ctx.ledger.update_round(rnd.id, flow_run_id=flow_run_id)
        ctx.tracker.set_tags(run_id, {"prefect.flow_run_id.select": flow_run_id})
    return RoundStart(rnd.id, new, run_id)


def scoring_model(ctx: ProjectContext) -> tuple[Any, str | None, str | None]:
    """``(model, version, uri)`` of ``model.scoring_uri`` (pinned to one version) or of the
    champion, or ``(None, None, None)`` at cold start."""
    if ctx.config.model.scoring_uri:
        return external_model.scoring_model(ctx)
    champ = ctx.tracker.champion()
    if champ is None:
        return None, None, None
    version, uri = champ
    return ctx.tracker.load(uri), version, uri


@dataclass(frozen=True)
class ScoredRound:
    """A round's pool scored: the batch request ``weigh`` and ``diversify`` read, and what
    ``record_selection`` writes with the batch. Held in memory between the stages (the scores
    themselves are kept in the workspace's score cache, for a retry after a crash)."""

    inputs: SelectionInputs
    request: BatchRequest
    pool_hash: str
    model_uri: str | None

    @property
    def scores(self) -> PartitionScores:
        return self.request.scores


def select(
    ctx: ProjectContext, round_id: int, client, on_partition: Progress | None = None
) -> pd.DataFrame:
    """Score the pool on Dask and record the round's batch (once): the stages a round's flow
    runs as tasks, in order (``score_round``, ``batch.weigh``, ``batch.diversify``,
    ``record_selection``)."""
    scored = score_round(ctx, round_id, client, on_partition)
    if scored is None:
        return ctx.ledger.selection(round_id)
    return record_selection(ctx, scored, pick_batch(scored.request))


def score_round(
    ctx: ProjectContext, round_id: int, client, on_partition: Progress | None = None
) -> ScoredRound | None:
    """The round's pool scored with the champion (or None when its selection is recorded)."""
    if len(ctx.ledger.selection(round_id)):
        return None
    model, version, uri = scoring_model(ctx)
    inputs = selection_inputs(ctx, round_id, model, version)
    pool = pool_hash(inputs.partitions)
    key = cache_key(
        pool=pool,
        excluded=ids_hash(inputs.excluded),
        model_version=version,
        model_uri=uri,
        strategy=inputs.strategy,
        params=inputs.params,
        config=ctx.config.hash(),
        round=round_id,
        sample_m=inputs.sample_m,
    )
    request = score(ctx, inputs, model, client, on_partition, cache=key)
    return ScoredRound(inputs, request, pool, uri)


def record_selection(ctx: ProjectContext, scored: ScoredRound, batch) -> pd.DataFrame:
    """Record the round's batch (once): the ledger, its MLflow run, the stop set, the
    confident predictions kept as pseudo labels. Returns the recorded selection."""
    inputs, scores = scored.inputs, scored.scores
    round_id = inputs.round_id
    if len(existing := ctx.ledger.selection(round_id)):
        return existing
    if not ctx.stop_set_path.exists():
        _save_stop_set(ctx, scores.sample.head(ctx.config.campaign.stop_set_size))
    ctx.ledger.update_round(
        round_id,
        strategy=inputs.strategy,
        pool_hash=scored.pool_hash,
        model_uri=scored.model_uri,
        model_version=inputs.model_version,
        ingest_watermark=inputs.watermark,
    )
    _log_selection(ctx, inputs, scored.pool_hash, scores, batch)
    if scored.model_uri:
        ctx.tracker.set_tags(
            ctx.round_run_id(round_id), {"alflow.scoring_model_uri": scored.model_uri}
        )
    if scores.confident is not None:
        _record_pseudo_labels(ctx, round_id, scores.confident, set(batch["item_id"]))
    ctx.ledger.record_selection(round_id, batch)
    faults.checkpoint("after_selection")
    return ctx.ledger.selection(round_id)


def round_portfolio_history(ctx: ProjectContext) -> list[tuple[str, float]]:
    """``(strategy, gain of the gate metric)`` of every trained round so far."""
    strategies = ctx.ledger.rounds().set_index("round")["strategy"]
    return portfolio_history(ctx.ledger.trainings(), strategies, ctx.config.model.gate.metric)


def selection_inputs(ctx: ProjectContext, round_id: int, model, version) -> SelectionInputs:
    """The ledger's state that round ``round_id``'s selection depends on, read once."""
    cfg, ledger = ctx.config, ctx.ledger
    labels = ledger.resolved_labels()
    spec, params = choose_strategy(
        cfg.strategy,
        ctx.labels,
        labels,
        has_model=model is not None,
        history=round_portfolio_history(ctx) if cfg.strategy.name == PORTFOLIO else [],
        seed=cfg.seed,
        round_id=round_id,
    )
    watermark = ledger.max_ingest_id()
    previous = ledger.get_round(round_id - 1).ingest_watermark if round_id > 1 else None
    shares = batch_shares(
        cfg,
        spec,
        streaming=model is not None and previous is not None,
        by_index=by_pool_index(ctx, spec),
        needs_stop_set=not ctx.stop_set_path.exists(),
    )
    return SelectionInputs(
        round_id=round_id,
        strategy=spec.name,
        params=params,
        model_version=version,
        watermark=watermark,
        partitions=ledger.partitions_after(0, upto=watermark),
        stream_partitions=ledger.partitions_after(previous, upto=watermark)
        if shares.n_stream
        else [],
        excluded=ledger.excluded_ids(),
        labels=labels,
        sample_m=shares.sample_m,
        n_control=shares.n_control,
    )


def _record_pseudo_labels(ctx: ProjectContext, round_id: int, confident, batch: set) -> None:
    """Keep the confident predictions above the threshold, minus this round's batch."""
    keep = confident[
        (confident["predicted_score"] >= ctx.config.model.pseudo_labels.min_confidence)
        & ~confident["item_id"].isin(batch)
    ]
    frame = keep.rename(columns={"predicted_label": "label", "predicted_score": "confidence"})
    ctx.ledger.record_pseudo_labels(round_id, frame)


def _save_stop_set(ctx: ProjectContext, sample: pd.DataFrame) -> None:
    """A fixed uniform sample of the pool: successive models are compared on it."""
    features = stack(sample[FEATURES].tolist())
    write_partition(to_table(sample["item_id"].tolist(), features), str(ctx.stop_set_path))


def _log_selection(
    ctx: ProjectContext, inputs: SelectionInputs, pool: str, scores: PartitionScores, batch
) -> None:
    """The round's params, replay inputs, batch and score histograms, to its MLflow run."""
    cfg, t = ctx.config, ctx.tracker
    round_id = inputs.round_id
    run_id = ctx.round_run_id(round_id)
    t.log_params(
        run_id,
        {
            **flatten("config", cfg.model_dump(mode="json")),
            "round": round_id,
            "strategy": inputs.strategy,
            **flatten("strategy_params", cfg.strategy.params),
            "pool_hash": pool,
            "scoring_model_version": inputs.model_version or "none (cold start)",
            "config_hash": cfg.hash(),
        },
    )
    t.log_text(run_id, dump_config(cfg), "config.yaml")
    t.log_dict(run_id, inputs.to_json() | {"pool_hash": pool}, f"{REPLAY_DIR}/inputs.json")
    t.log_frame(run_id, pd.DataFrame({"item_id": inputs.excluded}), "excluded.csv", REPLAY_DIR)
    t.log_frame(run_id, inputs.labels, "labels.csv", REPLAY_DIR)
    reasons = batch["reason"].value_counts()
    t.log_metrics(
        run_id,
        {
            "pool_unlabeled_scored": scores.rows_scored,
            "candidates": len(scores.candidates),
            "batch_size": len(batch),
            "stream_picks": int(reasons.get("stream", 0)),
            "control_picks": int(reasons.get("control", 0)),
        },
        step=round_id,
    )
    t.log_frame(run_id, batch, "selected_batch.csv")
    _log_score_plot(ctx, run_id, inputs, scores, batch)


def _log_score_plot(ctx: ProjectContext, run_id: str, inputs, scores, batch) -> None:
    """The batch against the pool's score distribution (PNG and the histograms as JSON)."""
    round_id = inputs.round_id
    png = ctx.ws.reports_dir / f"round-{round_id:04d}-scores.png"
    title = f"round {round_id}: {inputs.strategy}, {len(batch)} of {scores.rows_scored} unlabeled"
    plots.score_distribution(scores.histograms, HIST_BINS, batch, png, title)
    ctx.tracker.log_file(run_id, png)
    ctx.tracker.log_dict(
        run_id,
        {k: v.tolist() for k, v in scores.histograms.items()} | {"bins": HIST_BINS.tolist()},
        "score_histograms.json",
    )
