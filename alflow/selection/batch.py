"""Building a round's batch: score the pool, then stream picks, the control slice and the
strategy's picks from the candidates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from alflow import faults
from alflow.context import ProjectContext
from alflow.data.pool import join
from alflow.data.pool_embedding import embedded_rows, has_pool_embedding
from alflow.errors import AlflowError
from alflow.index.pool import pool_assigner
from alflow.scoring.compute import on_worker, score_pool
from alflow.scoring.score import FEATURES, PartitionScores, ScoreRequest, stack
from alflow.selection.candidates import CandidateSources, Embedded, build_candidates
from alflow.selection.committee import build_committee
from alflow.selection.policy import SelectionInputs, assemble_batch, control_picks, empty_picks
from alflow.selection.pool_index_source import by_pool_index, pool_density, pool_index_source
from alflow.stages import timed
from alflow.strategies import Candidates, StrategySpec, candidate_count, get_strategy
from alflow.training.model import build_model, build_model_family

Progress = Callable[[], None]


@dataclass(frozen=True)
class BatchRequest:
    """What the batch is built from once the pool is scored: in a round and in a simulation.

    ``spec`` carries the strategy's parameters (``StrategySpec.with_params``); ``scores``'
    candidates and sample carry their raw features (a ``FEATURES`` column, or the
    ``features``/``sample_features`` arrays); ``labeled_x``/``labeled_y`` are the labeled items
    in the ledger's order; ``committee`` fits the query-by-committee members on them;
    ``density`` gives a candidates frame's density function (the pool index) or None (the
    uniform sample); ``embedded`` the space distances are measured in, when not the model's.
    """

    spec: StrategySpec
    scores: PartitionScores
    model: Any
    labeled_x: Any
    labeled_y: np.ndarray
    committee: Callable[[Any, np.ndarray], list]
    batch_size: int
    seed: int
    round_id: int
    n_control: int = 0
    stream: pd.DataFrame = field(default_factory=empty_picks)
    density: Callable[[pd.DataFrame], Callable] | None = None
    embedded: Callable[[pd.DataFrame, pd.DataFrame | None], Embedded] | None = None


def committee_builder(
    kind: str, size: int, make_model: Callable, make_family: Callable | None, seed: int
) -> Callable[[Any, np.ndarray], list]:
    """How a round's committee is fitted: ``estimators`` (one member per estimator kind of
    ``make_family``) or ``bagging``/``seeds`` clones of ``make_model()``, seeded by ``seed``."""

    def fit(x, y: np.ndarray) -> list:
        if kind == "estimators":
            if make_family is None:
                raise AlflowError("committee_kind 'estimators' needs a family of estimators")
            return [m.fit(x, y) for m in make_family()]
        return build_committee(make_model(), x, y, n_members=size, kind=kind, random_state=seed)

    return fit


@dataclass(frozen=True)
class Weighed:
    """The candidates left for the strategy once the control slice is taken, as the strategy
    sees them (features, committee votes, density); ``n`` picks are left to make."""

    frame: pd.DataFrame
    candidates: Candidates | None  # None when stream and control fill the batch
    control: pd.DataFrame
    n: int


def pick_batch(req: BatchRequest) -> pd.DataFrame:
    """The batch: ``req.stream`` picks, then the control slice (the top of the seeded uniform
    sample), then the strategy's picks from the remaining candidates, ranked in that order.
    The two stages a round runs as tasks, in this order: ``weigh``, then ``diversify``."""
    return diversify(req, weigh(req))


@timed("weigh")
def weigh(req: BatchRequest) -> Weighed:
    """Take the control slice, then build what the strategy reads from the other candidates:
    their features, the committee's votes and their density (the pool index on a worker, or
    the uniform sample)."""
    control = control_picks(req.scores.sample, req.n_control, set(req.stream["item_id"]))
    taken = set(req.stream["item_id"]) | set(control["item_id"])
    frame, raw = _without(req.scores.candidates, req.scores.features, taken)
    n = req.batch_size - len(req.stream) - len(control)  # the strategy's share
    candidates = _candidates(req, frame, raw) if n > 0 else None
    return Weighed(frame, candidates, control, n)


@timed("diversify")
def diversify(req: BatchRequest, weighed: Weighed) -> pd.DataFrame:
    """The strategy's ``weighed.n`` picks, after the stream picks and the control slice: the
    ranked batch (``item_id``, ``rank``, ``utility``, ``predicted_label``, ... ``reason``)."""
    picks = _strategy_picks(req, weighed) if weighed.candidates is not None else empty_picks()
    return assemble_batch([picks, req.stream, weighed.control])


def _without(frame: pd.DataFrame, features, taken: set):
    """The candidates (and their raw features) minus the ``taken`` ids."""
    raw = stack(frame[FEATURES].tolist()) if FEATURES in frame else features
    if not taken:
        return frame, raw
    rows = np.flatnonzero(~frame["item_id"].isin(taken).to_numpy())
    if raw is not None:
        raw = [raw[i] for i in rows] if isinstance(raw, list) else raw[rows]
    return frame.iloc[rows].reset_index(drop=True), raw


def _pool_sample(scores: PartitionScores, frame: pd.DataFrame):
    """``(rows, raw features)`` of the uniform sample minus the candidates (a candidate must
    not count itself as its own neighbour); None when there is no sample."""
    sample = scores.sample
    if sample is None:
        return None, None
    return _without(sample, scores.sample_features, set(frame["item_id"]))


def _candidates(req: BatchRequest, frame: pd.DataFrame, raw) -> Candidates:
    spec = req.spec
    model = req.model if spec.needs_model else None
    labeled = spec.needs & {"labeled", "committee"} and len(req.labeled_y)
    committee = None
    if "committee" in spec.needs and labeled:
        committee = req.committee(req.labeled_x, req.labeled_y)
    sample, sample_raw = _pool_sample(req.scores, frame)
    sources = CandidateSources(
        model=model,
        labeled_raw_x=req.labeled_x if labeled else None,
        labeled_labels=req.labeled_y,
        committee=committee,
        pool_sample_raw=sample_raw if sample is not None and len(sample) else None,
        pool_density=req.density(frame) if req.density else None,
        embedded=req.embedded(frame, sample) if req.embedded else None,
        seed=req.seed,
    )
    return build_candidates(frame, raw, spec, sources)


def _strategy_picks(req: BatchRequest, weighed: Weighed) -> pd.DataFrame:
    spec = req.spec
    picked = spec.choose(weighed.candidates, weighed.n, random_state=req.seed + req.round_id)
    batch = weighed.frame.iloc[picked].reset_index(drop=True)
    batch["utility"] = batch[spec.rank_by]
    if "predicted_label" not in batch:
        batch["predicted_label"] = None
        batch["predicted_score"] = np.nan
    return batch.assign(reason="strategy")


def compute_selection(
    ctx: ProjectContext,
    inputs: SelectionInputs,
    model,
    client,
    on_partition: Progress | None = None,
    cache: str | None = None,
) -> tuple[pd.DataFrame, PartitionScores]:
    """The batch that ``inputs`` and ``model`` pick, and the pool's scores: ``score``, then
    ``pick_batch``. Without ``cache`` it has no side effects (replay calls it)."""
    request = score(ctx, inputs, model, client, on_partition, cache)
    return pick_batch(request), request.scores


def score(
    ctx: ProjectContext,
    inputs: SelectionInputs,
    model,
    client,
    on_partition: Progress | None = None,
    cache: str | None = None,
) -> BatchRequest:
    """The scoring stage: the pool scored on Dask, and all else ``pick_batch`` reads. With a
    ``cache`` key the pool's scores are stored under it, so a retry after a crash resumes
    from them.

    Stream picks come first (new items the champion alone finds uncertain enough), then
    the control slice (the top of a seeded uniform sample of the unlabeled pool), and the
    strategy fills the rest of the batch from the other candidates (``pick_batch``).
    """
    spec = get_strategy(inputs.strategy).with_params(inputs.params)
    if spec.needs_model and model is None:
        raise AlflowError(f"strategy {spec.name!r} needs a model; none is registered yet")
    source = pool_index_source(ctx) if by_pool_index(ctx, spec) else None
    cfg = ctx.config
    stream = _stream_picks(ctx, inputs, model, client, cfg.campaign.batch_size - inputs.n_control)

    def score_pass() -> PartitionScores:
        clusters = source and "clusters" in spec.needs
        return score_pool(
            client,
            _urls(ctx, inputs.partitions),
            model if spec.needs_model else None,
            _pool_request(ctx, inputs, spec, model),
            on_worker(client, pool_assigner, *source) if clusters else None,
            on_partition,
        )

    scores = _cached_scores(ctx, inputs.round_id, cache, score_pass)
    if scores.rows_scored == 0:
        raise AlflowError("no unlabeled items are left in the pool")
    labels = inputs.labels
    labeled_x = None
    if spec.needs & {"labeled", "committee"} and len(labels):
        labeled_x = ctx.labeled_data(labels["item_id"])
    return BatchRequest(
        spec=spec,
        scores=scores,
        model=model,
        labeled_x=labeled_x,
        labeled_y=labels["label"].to_numpy(),
        committee=_committee(ctx),
        batch_size=cfg.campaign.batch_size,
        seed=cfg.seed,
        round_id=inputs.round_id,
        n_control=inputs.n_control,
        stream=stream,
        density=partial(pool_density, client, source) if source else None,
        embedded=embedded_rows(ctx, labels["item_id"].tolist())
        if has_pool_embedding(ctx)
        else None,
    )


def _committee(ctx: ProjectContext) -> Callable[[Any, np.ndarray], list]:
    """How this workspace's committee is fitted (``strategy.committee_kind`` and size)."""
    cfg, space = ctx.config, ctx.text_space
    return committee_builder(
        cfg.strategy.committee_kind,
        cfg.strategy.committee_size,
        partial(build_model, cfg, space),
        partial(build_model_family, cfg, space),
        cfg.seed,
    )


def _urls(ctx: ProjectContext, partitions: list[tuple[str, str]]) -> list[str]:
    return [join(ctx.ws.pool_url, name) for name, _ in partitions]


def _score_request(ctx: ProjectContext, inputs: SelectionInputs, **keep) -> ScoreRequest:
    """A scoring pass of this round (its seed, excluded ids and label schema) keeping ``keep``."""
    return ScoreRequest(
        seed=ctx.config.seed,
        round_id=inputs.round_id,
        classes=ctx.labels,
        feature_kind=ctx.config.data.features.kind,
        excluded=inputs.excluded,
        **keep,
    )


def _pool_request(ctx: ProjectContext, inputs: SelectionInputs, spec, model) -> ScoreRequest:
    """What the pool pass keeps for ``spec``: its candidates (ranked by its utilities), the
    uniform sample, and the most confident rows when pseudo-labels are on."""
    cfg = ctx.config
    pseudo = cfg.model.pseudo_labels
    return _score_request(
        ctx,
        inputs,
        rank_by=spec.ranks,
        top_m=candidate_count(spec, cfg.campaign.batch_size, cfg.strategy.candidate_factor),
        keep_features=bool(spec.needs & {"features", "density", "committee"}),
        sample_m=inputs.sample_m,
        confident_m=pseudo.max_per_round if pseudo.enabled and model is not None else 0,
    )


def _cached_scores(
    ctx: ProjectContext, round_id: int, cache: str | None, score: Callable[[], PartitionScores]
) -> PartitionScores:
    """The pool's scores: reused from the cache after a crash, else ``score()`` (one Dask
    pass), stored under the ``cache`` key when there is one."""
    scores = ctx.score_cache.load(cache) if cache else None
    if cache:
        _tag_scores(ctx, round_id, cache, reused=scores is not None)
    if scores is None:
        scores = score()
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


def _stream_picks(ctx: ProjectContext, inputs, model, client, batch_size: int):
    """New items (ingested since the last round) whose utility under the champion alone
    reaches the threshold, best first, at most ``stream.budget`` of the ``batch_size`` left
    after the control slice."""
    s = ctx.config.stream
    budget = min(s.budget, max(batch_size, 0))
    if not inputs.stream_partitions or model is None or budget == 0:
        return empty_picks()
    req = _score_request(ctx, inputs, rank_by=s.utility, top_m=budget)
    scores = score_pool(client, _urls(ctx, inputs.stream_partitions), model, req)
    frame = scores.candidates
    frame = frame[frame[s.utility] >= s.threshold].head(budget).reset_index(drop=True)
    return frame.assign(utility=frame[s.utility], reason="stream")
