"""Building a round's batch: score the pool, then stream picks, the control slice and the
strategy's picks from the candidates."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from alflow import faults
from alflow.candidates import build_candidates
from alflow.committee import build_committee
from alflow.compute import on_worker, score_pool
from alflow.context import ProjectContext
from alflow.errors import AlflowError
from alflow.index import pool_assigner
from alflow.model import build_model, build_model_family
from alflow.pool import join
from alflow.pool_index_source import by_pool_index, pool_density, pool_index_source
from alflow.scoring import FEATURES, PartitionScores, stack
from alflow.selection_policy import SelectionInputs, assemble_batch, control_picks, empty_picks
from alflow.stages import timed
from alflow.strategies import StrategySpec, candidate_count, get_strategy

Progress = Callable[[], None]


def compute_selection(
    ctx: ProjectContext,
    inputs: SelectionInputs,
    model,
    client,
    on_partition: Progress | None = None,
    cache: str | None = None,
) -> tuple[pd.DataFrame, PartitionScores]:
    """The batch that ``inputs`` and ``model`` pick. Without ``cache`` it has no side
    effects (replay calls it); with a ``cache`` key the pool's scores are stored under it, so
    a retry after a crash resumes from them.

    Stream picks come first (new items the champion alone finds uncertain enough), then
    the control slice (the top of a seeded uniform sample of the unlabeled pool), and the
    strategy fills the rest of the batch from the other candidates.
    """
    spec = get_strategy(inputs.strategy)
    if spec.needs_model and model is None:
        raise AlflowError(f"strategy {spec.name!r} needs a model; none is registered yet")
    source = pool_index_source(ctx) if by_pool_index(ctx, spec) else None
    batch_size = ctx.config.campaign.batch_size
    common = _scoring_common(ctx, inputs)
    stream = _stream_picks(ctx, inputs, model, client, common, batch_size - inputs.n_control)
    scores = _pool_scores(ctx, inputs, spec, model, client, common, source, on_partition, cache)
    if scores.rows_scored == 0:
        raise AlflowError("no unlabeled items are left in the pool")
    control = control_picks(scores.sample, inputs.n_control, set(stream["item_id"]))
    taken = set(stream["item_id"]) | set(control["item_id"])
    if taken:
        cand = scores.candidates
        scores.candidates = cand[~cand["item_id"].isin(taken)].reset_index(drop=True)
    n_strategy = batch_size - len(stream) - len(control)
    picks = _strategy_picks(ctx, spec, inputs, scores, model, n_strategy, client, source)
    return assemble_batch([picks, stream, control]), scores


def _scoring_common(ctx: ProjectContext, inputs: SelectionInputs) -> dict:
    """The scoring arguments shared by the stream pass and the pool pass."""
    return {
        "feature_kind": ctx.config.data.features.kind,
        "excluded_ids": inputs.excluded,
        "seed": ctx.config.seed,
        "round_id": inputs.round_id,
        "classes": ctx.labels,
    }


def _pool_scores(ctx, inputs, spec, model, client, common, source, on_partition, cache):
    """The pool's scores: reused from the cache after a crash, else one Dask pass."""
    cfg = ctx.config
    scores = ctx.score_cache.load(cache) if cache else None
    if cache:
        _tag_scores(ctx, inputs.round_id, cache, reused=scores is not None)
    if scores is None:
        pseudo = cfg.model.pseudo_labels
        scores = score_pool(
            client,
            [join(ctx.ws.pool_url, name) for name, _ in inputs.partitions],
            model if spec.needs_model else None,
            rank_by=spec.ranks,
            top_m=candidate_count(spec, cfg.campaign.batch_size, cfg.strategy.candidate_factor),
            keep_features=bool(spec.needs & {"features", "density", "committee"}),
            sample_m=inputs.sample_m,
            confident_m=pseudo.max_per_round if pseudo.enabled and model is not None else 0,
            assigner=on_worker(client, pool_assigner, *source)
            if source and "clusters" in spec.needs
            else None,
            on_partition=on_partition,
            **common,
        )
        if cache:
            ctx.score_cache.save(cache, scores)
    if cache:
        faults.checkpoint("after_scoring")
    return scores


def _tag_scores(ctx: ProjectContext, round_id: int, key: str, reused: bool) -> None:
    """Tag the round's run with whether its scores were computed or reused after a crash."""
    ctx.tracker.set_tags(
        ctx.round_run_id(round_id),
        {"alflow.scores": "reused" if reused else "computed", "alflow.scores_key": key},
    )


@timed("density+diversification")
def _strategy_picks(
    ctx: ProjectContext, spec, inputs: SelectionInputs, scores, model, n: int, client, source
):
    if n <= 0:
        return empty_picks()
    density = pool_density(client, source, scores.candidates) if source else None
    candidates = _candidates(
        ctx, spec, scores, model if spec.needs_model else None, inputs.labels, density
    )
    picked = spec.select(
        candidates, n, random_state=ctx.config.seed + inputs.round_id, **inputs.params
    )
    batch = scores.candidates.iloc[picked].reset_index(drop=True)
    batch["utility"] = batch[spec.rank_by]
    if "predicted_label" not in batch:
        batch["predicted_label"] = None
        batch["predicted_score"] = np.nan
    return batch.assign(reason="strategy")


def _stream_picks(ctx: ProjectContext, inputs, model, client, common: dict, room: int):
    """New items (ingested since the last round) whose utility under the champion alone
    reaches the threshold, best first, at most ``stream.budget``."""
    s = ctx.config.stream
    budget = min(s.budget, max(room, 0))
    if not inputs.stream_partitions or model is None or budget == 0:
        return empty_picks()
    scores = score_pool(
        client,
        [join(ctx.ws.pool_url, name) for name, _ in inputs.stream_partitions],
        model,
        rank_by=s.utility,
        top_m=budget,
        **common,
    )
    frame = scores.candidates
    frame = frame[frame[s.utility] >= s.threshold].head(budget).reset_index(drop=True)
    return frame.assign(utility=frame[s.utility], reason="stream")


def _committee(ctx: ProjectContext, labeled_x, y):
    """The query-by-committee members, fitted on the labeled items."""
    s = ctx.config.strategy
    if s.committee_kind == "estimators":
        return [m.fit(labeled_x, y) for m in build_model_family(ctx.config)]
    return build_committee(
        build_model(ctx.config),
        labeled_x,
        y,
        n_members=s.committee_size,
        kind=s.committee_kind,
        random_state=ctx.config.seed,
    )


def _candidates(
    ctx: ProjectContext, spec: StrategySpec, scores: PartitionScores, model, labels, density=None
):
    """What the strategy declared it needs, built like in simulations (``density`` from the
    pool index when given)."""
    frame = scores.candidates
    raw = stack(frame[FEATURES].tolist()) if FEATURES in frame else None
    labeled_x = None
    if spec.needs & {"labeled", "committee"} and len(labels):
        labeled_x, _ = ctx.labeled_data(labels["item_id"])
    committee = None
    if "committee" in spec.needs and labeled_x is not None:
        committee = _committee(ctx, labeled_x, labels["label"].to_numpy())
    sample = scores.sample
    if sample is not None:  # a candidate must not count itself as its own neighbour
        sample = sample[~sample["item_id"].isin(frame["item_id"])]
    return build_candidates(
        frame,
        raw,
        spec,
        model=model,
        labeled_raw_x=labeled_x,
        labeled_labels=labels["label"].to_numpy(),
        committee=committee,
        pool_sample_raw=stack(sample[FEATURES].tolist())
        if sample is not None and len(sample)
        else None,
        pool_density=density,
        seed=ctx.config.seed,
    )
