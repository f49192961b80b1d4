"""A project: config + workspace + ledger + tracking, and the steps of a labeling round.

Each step is idempotent: it checks the ledger for its own result first, so a retried task or a
rerun flow resumes where the last one stopped and never selects, exports or counts anything twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from alflow import faults, plots
from alflow.candidates import build_candidates
from alflow.committee import build_committee
from alflow.config import AlflowConfig, dump_config
from alflow.control import label_saving
from alflow.errors import AlflowError, InputError, located
from alflow.ingest import IngestReport, ingest_file
from alflow.keys import label_key, label_keys
from alflow.ledger import EventRecord, Ledger
from alflow.model import build_model, build_model_family, evaluate, holdout_mask
from alflow.pool import (
    feature_columns,
    features_of,
    fetch_items,
    file_sha256,
    join,
    pool_hash,
    read_partition,
    to_table,
    write_partition,
)
from alflow.portfolio import PORTFOLIO, choose_arm, gains
from alflow.resolution import Policy
from alflow.score_cache import ScoreCache, cache_key, ids_hash
from alflow.scoring import (
    FEATURES,
    HIST_BINS,
    PARTITION,
    ROW,
    PartitionScores,
    component_columns,
    stack,
)
from alflow.stopping import agreement
from alflow.strategies import candidate_count, get_strategy
from alflow.vendors import make_vendor
from alflow.workspace import Workspace

Progress = Callable[[], None]
REPLAY_DIR = "replay"


@dataclass(frozen=True)
class RoundStart:
    round_id: int
    new: bool
    mlflow_run_id: str


@dataclass(frozen=True)
class ImportReport:
    source: str
    events_read: int
    events_added: int
    items_resolved: int


@dataclass(frozen=True)
class WeakImportReport:
    source: str
    rows_read: int
    abstained: int
    weak_labels_changed: int


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


@dataclass(frozen=True)
class SelectionInputs:
    """Everything a round's selection depends on besides the config and the scoring model.

    MLflow records it with each round (``replay/``), so ``alflow replay`` can rebuild the batch.
    """

    round_id: int
    strategy: str
    params: dict[str, Any]
    model_version: str | None
    watermark: int  # the newest ingest the round saw
    partitions: list[tuple[str, str]]  # (name, sha256) of the pool the round scored
    stream_partitions: list[tuple[str, str]]  # ingested since the previous round
    excluded: list[str]  # labeled, skipped or in flight: not scored
    labels: pd.DataFrame  # resolved labels (item_id, label) at selection time
    sample_m: int
    n_control: int

    def to_json(self) -> dict[str, Any]:
        """The scalar part (excluded ids and labels are logged as CSV files)."""
        return {
            "round_id": self.round_id,
            "strategy": self.strategy,
            "params": self.params,
            "model_version": self.model_version,
            "watermark": self.watermark,
            "partitions": [list(p) for p in self.partitions],
            "stream_partitions": [list(p) for p in self.stream_partitions],
            "sample_m": self.sample_m,
            "n_control": self.n_control,
        }


def _empty_picks() -> pd.DataFrame:
    return pd.DataFrame(
        {"item_id": [], "utility": [], "predicted_label": [], "predicted_score": [], "reason": []}
    )


def _control_picks(sample: pd.DataFrame | None, n: int, skip: set) -> pd.DataFrame:
    """The control slice: the ``n`` best seeded uniform scores among unlabeled items, i.e. a
    uniform random sample without replacement (``skip``: items already in the batch)."""
    if n == 0 or sample is None:
        return _empty_picks()
    rows = sample[~sample["item_id"].isin(skip)]
    rows = rows.sort_values(["random", "item_id"], ascending=[False, True]).head(n)
    return pd.DataFrame(
        {
            "item_id": rows["item_id"].to_numpy(),
            "utility": rows["random"].to_numpy(),
            "predicted_label": None,
            "predicted_score": np.nan,
            "reason": "control",
            "random": rows["random"].to_numpy(),
        }
    )


def build_pool_index(urls: list[str], n: int, kind: str, seed: int, exact_max: int):
    """The ``index.PoolIndex`` over the partitions at ``urls`` (``n`` rows of ``kind``): exact
    up to ``exact_max`` rows, IVF above."""
    from alflow.index import PoolIndex

    def chunks():
        for url in urls:
            yield url.rsplit("/", 1)[-1], features_of(read_partition(url, ["x"]), kind)

    d = next(chunks())[1].shape[1]
    return PoolIndex.build(
        chunks, n, d, standardize=kind == "numeric", seed=seed, exact_max=exact_max
    )


def _concat(a, b):
    """Two feature sets as one: arrays stacked, text lists joined."""
    return np.vstack([a, b]) if isinstance(a, np.ndarray) else [*a, *b]


class Project:
    """Everything a round needs, opened from a validated config."""

    def __init__(self, config: AlflowConfig) -> None:
        self.config = config
        self.ws = Workspace.from_config(config)
        self.ws.create()

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.ws.ledger_url)

    @cached_property
    def tracker(self):
        from alflow.tracking import Tracker

        return Tracker(
            self.ws.mlflow_tracking_uri,
            self.ws.mlflow_artifact_location,
            experiment=self.config.project,
            model_name=self.config.registered_model_name,
        )

    @cached_property
    def vendor(self):
        return make_vendor(self.config, self.ws.exports_dir)

    @cached_property
    def policy(self) -> Policy:
        return Policy(self.config.resolution)

    @property
    def labels(self) -> list[str]:
        return self.config.data.labels

    # ----------------------------------------------------------------- ingest
    def ingest(self, url: str, *, target: str = "pool", progress=None) -> IngestReport:
        base = self.ws.pool_url if target == "pool" else self.ws.eval_url
        return ingest_file(
            url, self.config.data, self.ledger, base, target=target, progress=progress
        )

    def partition_urls(self, target: str = "pool") -> list[str]:
        base = self.ws.pool_url if target == "pool" else self.ws.eval_url
        return [join(base, name) for name, _ in self.ledger.partitions(target)]

    def pool_hash(self) -> str:
        return pool_hash(self.ledger.partitions("pool"))

    # ----------------------------------------------------------------- rounds
    def next_round_id(self) -> int:
        """The round the next labeling round works on (an unfinished one is resumed)."""
        last = self.ledger.last_round_id()
        if last is None:
            return 1
        return last if self.ledger.get_round(last).status in ("open", "selected") else last + 1

    def start_round(self, flow_run_id: str | None = None) -> RoundStart:
        cfg = self.config
        rnd, new = self.ledger.open_round(
            strategy=cfg.strategy.name,
            batch_size=cfg.campaign.batch_size,
            seed=cfg.seed,
            config_hash=cfg.hash(),
        )
        run_id = rnd.mlflow_run_id
        if not new:  # the last attempt at this round died or failed: its run is marked FAILED
            run_id = self._restart_run(rnd.id)
        elif run_id is None:
            run_id = self.tracker.create_run(rnd.id, {"alflow.config_hash": cfg.hash()})
            self.ledger.update_round(rnd.id, mlflow_run_id=run_id)
        if flow_run_id:
            self.ledger.update_round(rnd.id, flow_run_id=flow_run_id)
            self.tracker.set_tags(run_id, {"prefect.flow_run_id.select": flow_run_id})
        return RoundStart(rnd.id, new, run_id)

    def _restart_run(self, round_id: int) -> str:
        """Replace the round's run (and any orphan RUNNING run of the round) with a new one."""
        previous = self.ledger.get_round(round_id).mlflow_run_id
        run_id = self.tracker.restart_run(round_id, previous)
        self.ledger.update_round(round_id, mlflow_run_id=run_id)
        return run_id

    @cached_property
    def score_cache(self) -> ScoreCache:
        return ScoreCache(self.ws.root / "scores")

    def scoring_model(self) -> tuple[Any, str | None, str | None]:
        """``(model, version, uri)`` of the champion, or ``(None, None, None)`` at cold start."""
        champ = self.tracker.champion()
        if champ is None:
            return None, None, None
        version, uri = champ
        return self.tracker.load(uri), version, uri

    def select(self, round_id: int, client, on_partition: Progress | None = None) -> pd.DataFrame:
        """Score the pool on Dask and record the round's batch (once)."""
        existing = self.ledger.selection(round_id)
        if len(existing):
            return existing
        model, version, uri = self.scoring_model()
        inputs = self.selection_inputs(round_id, model, version)
        pool = pool_hash(inputs.partitions)
        key = cache_key(
            pool=pool,
            excluded=ids_hash(inputs.excluded),
            model_version=version,
            model_uri=uri,
            strategy=inputs.strategy,
            params=inputs.params,
            config=self.config.hash(),
            round=round_id,
            sample_m=inputs.sample_m,
        )
        batch, scores = self.compute_selection(inputs, model, client, on_partition, cache=key)
        if not self.stop_set_path.exists():
            self._save_stop_set(scores.sample.head(self.config.campaign.stop_set_size))
        self.ledger.update_round(
            round_id,
            strategy=inputs.strategy,
            pool_hash=pool,
            model_uri=uri,
            model_version=version,
            ingest_watermark=inputs.watermark,
        )
        self._log_selection(inputs, pool, scores, batch)
        if scores.confident is not None:
            self._record_pseudo_labels(round_id, scores.confident, set(batch["item_id"]))
        self.ledger.record_selection(round_id, batch)
        faults.checkpoint("after_selection")
        return self.ledger.selection(round_id)

    def selection_inputs(self, round_id: int, model, version: str | None) -> SelectionInputs:
        """The ledger's state that round ``round_id``'s selection depends on, read once."""
        cfg = self.config
        labels = self.ledger.resolved_labels()
        spec, params = self._choose_strategy(model, labels, round_id)
        watermark = self.ledger.max_ingest_id()
        previous = self.ledger.get_round(round_id - 1).ingest_watermark if round_id > 1 else None
        n_stream = cfg.stream.budget if model is not None and previous is not None else 0
        n_control = round(cfg.campaign.control_fraction * cfg.campaign.batch_size)
        by_index = self._by_pool_index(spec)
        sample_m = cfg.strategy.pool_sample if "density" in spec.needs and not by_index else 0
        if not self.stop_set_path.exists():
            sample_m = max(sample_m, cfg.campaign.stop_set_size)
        if n_control:  # the control slice is the top of the uniform sample, minus stream picks
            sample_m = max(sample_m, n_control + n_stream)
        return SelectionInputs(
            round_id=round_id,
            strategy=spec.name,
            params=params,
            model_version=version,
            watermark=watermark,
            partitions=self.ledger.partitions_after(0, upto=watermark),
            stream_partitions=self.ledger.partitions_after(previous, upto=watermark)
            if n_stream
            else [],
            excluded=self.ledger.excluded_ids(),
            labels=labels,
            sample_m=sample_m,
            n_control=n_control,
        )

    def compute_selection(
        self,
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
        cfg = self.config
        spec = get_strategy(inputs.strategy)
        if spec.needs_model and model is None:
            raise AlflowError(f"strategy {spec.name!r} needs a model; none is registered yet")
        from alflow.compute import on_worker, score_pool
        from alflow.index import pool_assigner

        source = self.pool_index_source() if self._by_pool_index(spec) else None
        batch_size = cfg.campaign.batch_size
        pseudo = cfg.model.pseudo_labels
        common = {
            "feature_kind": cfg.data.features.kind,
            "excluded_ids": inputs.excluded,
            "seed": cfg.seed,
            "round_id": inputs.round_id,
            "classes": self.labels,
        }
        stream = self._stream_picks(inputs, model, client, common, batch_size - inputs.n_control)
        scores = self.score_cache.load(cache) if cache else None
        if cache:
            self._tag_scores(inputs.round_id, cache, reused=scores is not None)
        if scores is None:
            scores = score_pool(
                client,
                [join(self.ws.pool_url, name) for name, _ in inputs.partitions],
                model if spec.needs_model else None,
                rank_by=spec.ranks,
                top_m=candidate_count(spec, batch_size, cfg.strategy.candidate_factor),
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
                self.score_cache.save(cache, scores)
        if cache:
            faults.checkpoint("after_scoring")
        if scores.rows_scored == 0:
            raise AlflowError("no unlabeled items are left in the pool")
        control = _control_picks(scores.sample, inputs.n_control, set(stream["item_id"]))
        taken = set(stream["item_id"]) | set(control["item_id"])
        if taken:
            cand = scores.candidates
            scores.candidates = cand[~cand["item_id"].isin(taken)].reset_index(drop=True)
        n_strategy = batch_size - len(stream) - len(control)
        picks = self._strategy_picks(spec, inputs, scores, model, n_strategy, client, source)
        parts = [picks, stream, control]
        batch = pd.concat([p for p in parts if len(p)], ignore_index=True)
        batch.insert(1, "rank", np.arange(1, len(batch) + 1))
        keep = ["item_id", "rank", "utility", "predicted_label", "predicted_score", "reason"]
        return batch[keep + list(component_columns(batch))], scores

    def _strategy_picks(
        self, spec, inputs: SelectionInputs, scores, model, n: int, client, source=None
    ):
        if n <= 0:
            return _empty_picks()
        picked = spec.select(
            self._candidates(
                spec,
                scores,
                model if spec.needs_model else None,
                inputs.labels,
                self._pool_density(client, source, scores.candidates) if source else None,
            ),
            n,
            random_state=self.config.seed + inputs.round_id,
            **inputs.params,
        )
        batch = scores.candidates.iloc[picked].reset_index(drop=True)
        batch["utility"] = batch[spec.rank_by]
        if "predicted_label" not in batch:
            batch["predicted_label"] = None
            batch["predicted_score"] = np.nan
        return batch.assign(reason="strategy")

    def _stream_picks(self, inputs: SelectionInputs, model, client, common: dict, room: int):
        """New items (ingested since the last round) whose utility under the champion alone
        reaches the threshold, best first, at most ``stream.budget``."""
        s = self.config.stream
        budget = min(s.budget, max(room, 0))
        if not inputs.stream_partitions or model is None or budget == 0:
            return _empty_picks()
        from alflow.compute import score_pool

        scores = score_pool(
            client,
            [join(self.ws.pool_url, name) for name, _ in inputs.stream_partitions],
            model,
            rank_by=s.utility,
            top_m=budget,
            **common,
        )
        frame = scores.candidates
        frame = frame[frame[s.utility] >= s.threshold].head(budget).reset_index(drop=True)
        return frame.assign(utility=frame[s.utility], reason="stream")

    def _tag_scores(self, round_id: int, key: str, reused: bool) -> None:
        """Tag the round's run with whether its scores were computed or reused after a crash."""
        self.tracker.set_tags(
            self.ledger.get_round(round_id).mlflow_run_id,
            {"alflow.scores": "reused" if reused else "computed", "alflow.scores_key": key},
        )

    def _record_pseudo_labels(self, round_id: int, confident: pd.DataFrame, batch: set) -> None:
        """Keep the confident predictions above the threshold, minus this round's batch."""
        keep = confident[
            (confident["predicted_score"] >= self.config.model.pseudo_labels.min_confidence)
            & ~confident["item_id"].isin(batch)
        ]
        frame = keep.rename(columns={"predicted_label": "label", "predicted_score": "confidence"})
        self.ledger.record_pseudo_labels(round_id, frame)

    @property
    def stop_set_path(self) -> Path:
        return self.ws.root / "stop_set.parquet"

    def _save_stop_set(self, sample: pd.DataFrame) -> None:
        """A fixed uniform sample of the pool: successive models are compared on it."""
        features = stack(sample[FEATURES].tolist())
        write_partition(to_table(sample["item_id"].tolist(), features), str(self.stop_set_path))

    def _stop_kappa(self, model, round_id: int) -> float | None:
        """Cohen's kappa between this model's and the previous model's stop-set predictions."""
        if not self.stop_set_path.exists():
            return None
        table = read_partition(str(self.stop_set_path))
        kind = self.config.data.features.kind
        preds = np.asarray(model.predict(features_of(table, kind))).astype(str)
        folder = self.ws.reports_dir / "stop_set_predictions"
        folder.mkdir(exist_ok=True)
        earlier = sorted(p for p in folder.glob("round-*.npy") if p.stem < f"round-{round_id:04d}")
        np.save(folder / f"round-{round_id:04d}.npy", preds)
        return agreement(np.load(earlier[-1]), preds) if earlier else None

    def _choose_strategy(self, model, labels: pd.DataFrame, round_id: int):
        """``(spec, params)`` for this round: the cold start while no model exists or some class
        has fewer than ``cold_start_until_per_class`` labels; a portfolio's pick; or the
        configured strategy."""
        s = self.config.strategy
        counts = labels["label"].value_counts()
        if model is None or any(
            counts.get(c, 0) < s.cold_start_until_per_class for c in self.labels
        ):
            return get_strategy(s.cold_start), {}
        if s.name != PORTFOLIO:
            return get_strategy(s.name), s.params
        history = self._portfolio_history()
        arm = choose_arm(
            s.params["arms"],
            history,
            seed=self.config.seed,
            round_id=round_id,
            gamma=s.params.get("gamma", 0.2),
        )
        return get_strategy(arm), {}

    def _portfolio_history(self) -> list[tuple[str, float]]:
        """``(strategy, gain of the gate metric)`` of every trained round so far."""
        trainings = self.ledger.trainings()
        metric = self.config.model.gate.metric
        if trainings.empty or metric not in trainings:
            return []
        trainings = trainings.dropna(subset=[metric])  # rounds too early to be evaluated
        rounds = self.ledger.rounds().set_index("round")["strategy"]
        return gains(rounds.loc[trainings["round"]].tolist(), trainings[metric].tolist())

    def _by_pool_index(self, spec) -> bool:
        """Whether ``spec``'s density and clusters come from the pool index."""
        return bool(spec.needs & {"density", "clusters"}) and self.uses_pool_index()

    @staticmethod
    def _pool_density(client, source: tuple, frame: pd.DataFrame) -> Callable:
        """Candidates' density from the pool index, computed on a worker (where it stays)."""
        from alflow.compute import on_worker
        from alflow.index import pool_density

        where = frame[PARTITION].to_numpy(), frame[ROW].to_numpy()
        return lambda x: on_worker(client, pool_density, *source, x, *where)

    def uses_pool_index(self) -> bool:
        """Density and clusters from the pool index (``strategy.density_index``; ``auto``: vector
        pools of more than ``strategy.index_exact_max`` items) rather than from a uniform pool
        sample and k-means of the candidates."""
        s = self.config.strategy
        mode = s.density_index
        if mode == "auto":
            big = sum(self.ledger.state_counts().values()) > s.index_exact_max
            return big and self.config.data.features.kind not in ("text", "tabular")
        return mode == "pool"

    def pool_index_source(self) -> tuple[str, str, Callable]:
        """``(folder, pool hash, build)``: where the kNN index over the whole pool is kept, the
        content it is valid for, and how to build it (trained on a sample, filled partition by
        partition). Picklable, so a Dask worker can load or build it (``index.pool_density``)."""
        kind = self.config.data.features.kind
        if kind in ("text", "tabular"):
            raise AlflowError("the pool index needs vector features (numeric or embedding)")
        n = sum(self.ledger.state_counts().values())
        cfg = self.config
        urls = self.partition_urls()
        build = partial(build_pool_index, urls, n, kind, cfg.seed, cfg.strategy.index_exact_max)
        return str(self.ws.root / "index"), self.pool_hash(), build

    def pool_index(self):
        """The pool's kNN index in this process (rounds use it on a worker instead)."""
        from alflow.index import cached_pool_index

        index, _ = cached_pool_index(*self.pool_index_source())
        return index

    def _candidates(self, spec, scores: PartitionScores, model, labels: pd.DataFrame, density=None):
        """What the strategy declared it needs, built like in simulations (``density`` from the
        pool index when given)."""
        frame = scores.candidates
        raw = stack(frame[FEATURES].tolist()) if FEATURES in frame else None
        labeled_x = None
        if spec.needs & {"labeled", "committee"} and len(labels):
            labeled_x, _ = self._labeled_data(labels["item_id"])
        committee = None
        if "committee" in spec.needs and labeled_x is not None:
            s = self.config.strategy
            y = labels["label"].to_numpy()
            if s.committee_kind == "estimators":
                committee = [m.fit(labeled_x, y) for m in build_model_family(self.config)]
            else:
                committee = build_committee(
                    build_model(self.config),
                    labeled_x,
                    y,
                    n_members=s.committee_size,
                    kind=s.committee_kind,
                    random_state=self.config.seed,
                )
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
            seed=self.config.seed,
        )

    def _log_selection(self, inputs: SelectionInputs, pool, scores: PartitionScores, batch) -> None:
        cfg = self.config
        round_id, strategy, version = inputs.round_id, inputs.strategy, inputs.model_version
        run_id = self.ledger.get_round(round_id).mlflow_run_id
        t = self.tracker
        from alflow.tracking import flatten

        t.log_params(
            run_id,
            {
                **flatten("config", cfg.model_dump(mode="json")),
                "round": round_id,
                "strategy": strategy,
                **flatten("strategy_params", cfg.strategy.params),
                "pool_hash": pool,
                "scoring_model_version": version or "none (cold start)",
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
        png = self.ws.reports_dir / f"round-{round_id:04d}-scores.png"
        title = f"round {round_id}: {strategy}, {len(batch)} of {scores.rows_scored} unlabeled"
        plots.score_distribution(scores.histograms, HIST_BINS, batch, png, title)
        t.log_file(run_id, png)
        t.log_dict(
            run_id,
            {k: v.tolist() for k, v in scores.histograms.items()} | {"bins": HIST_BINS.tolist()},
            "score_histograms.json",
        )

    # ----------------------------------------------------------------- export
    def export(self, round_id: int) -> dict[str, Any]:
        """Hand the round's batch to the vendor, at most once."""
        done = self.ledger.export_of(round_id)
        if done is not None:
            return {"uri": done.uri, "rows": done.n_rows, "sha256": done.sha256, "new": False}
        batch = self.ledger.selection(round_id)
        if batch.empty:
            raise AlflowError(f"round {round_id} has no selection to export")
        # why an item was picked (strategy, control, stream) stays in the ledger: annotators label
        # the control slice blind
        shown = self._display_columns(batch.drop(columns=["reason"], errors="ignore"))
        receipt = self.vendor.export_batch(shown, round_id, self.labels, self.ws.exports_dir)
        faults.checkpoint("after_export_file")
        recorded = self.ledger.record_export(
            round_id,
            vendor=receipt.vendor,
            uri=receipt.uri,
            n_rows=receipt.n_rows,
            sha256=receipt.sha256,
        )
        run_id = self.ledger.get_round(round_id).mlflow_run_id
        self.tracker.log_file(run_id, Path(receipt.manifest_uri), "export")
        return {
            "uri": receipt.uri,
            "rows": receipt.n_rows,
            "sha256": receipt.sha256,
            "new": recorded,
        }

    def _display_columns(self, batch: pd.DataFrame) -> pd.DataFrame:
        """What annotators see: the text or the feature values, then the model's suggestion."""
        f = self.config.data.features
        if f.kind == "embedding":
            return batch
        table = self._pool_rows(batch["item_id"], feature_columns(f.kind))
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

    def simulate_annotation(self, round_id: int) -> Path:
        """The simulated annotator answers the round's batch from the ground truth."""
        from alflow.vendors import SimulatedVendor

        if not self.config.data.truth_column:
            raise AlflowError("the simulated annotator needs data.truth_column")
        batch = self.ledger.selection(round_id)
        try:
            table = self._pool_rows(batch["item_id"], ["truth"])
        except (KeyError, pa.ArrowInvalid):
            raise AlflowError(
                f"the pool files have no {self.config.data.truth_column!r} column: the simulated "
                "annotator answers from ground truth ingested with the pool"
            ) from None
        truth = table.to_pandas()
        vendor = (
            self.vendor
            if isinstance(self.vendor, SimulatedVendor)
            else SimulatedVendor(noise_rate=self.config.vendor.noise_rate)
        )
        return vendor.annotate(truth, self.labels, self.ws.imports_dir, round_id, self.config.seed)

    # ----------------------------------------------------------------- import
    def pull_labels(self) -> Path:
        """Download the vendor's current annotations into the imports folder (API vendors)."""
        pull = getattr(self.vendor, "pull", None)
        if pull is None or getattr(self.vendor, "mode", "api") != "api":
            raise AlflowError(
                f"vendor {self.vendor.name!r} does not pull labels from a server: "
                "give the labels file to import"
            )
        return pull(self.ws.imports_dir, self.labels)

    def import_labels(self, path: str | Path) -> ImportReport:
        """Validate a labels file against the schema and the ledger, then append its events."""
        from alflow.vendors.base import source_sha256

        path = Path(path)
        if not (path.is_file() or path.is_dir()):
            raise InputError(f"{path}: file not found")
        annotations = self.vendor.read_annotations(path, self.labels)
        targets = self.ledger.import_targets(a.item_id for a in annotations)
        exported = self.ledger.exported_ids(targets)
        batches = {
            r: self.ledger.exported_batch(r) for r in {a.round_id for a in annotations} - {None}
        }
        problems = []
        for a in annotations:
            state = targets.get(a.item_id)
            batch = batches.get(a.round_id)
            if state is not None and a.round_id is not None and a.item_id not in (batch or ()):
                what = "was never exported" if batch is None else "did not contain it"
                problems.append(
                    located(
                        str(path),
                        a.line,
                        "item_id",
                        f"item {a.item_id!r} is not in round {a.round_id}'s export "
                        f"(round {a.round_id} {what})",
                    )
                )
                continue
            if state is None:
                problems.append(
                    located(
                        str(path),
                        a.line,
                        "item_id",
                        f"unknown item {a.item_id!r} (not in the pool)",
                    )
                )
            elif a.item_id not in exported:
                problems.append(
                    located(
                        str(path),
                        a.line,
                        "item_id",
                        f"item {a.item_id!r} was never exported "
                        f"(state {state[0]}); labels only come back for exports",
                    )
                )
        if problems:
            raise InputError(f"{path}: {len(problems)} problem(s); nothing was imported", problems)
        events = [
            EventRecord(
                a.event_key(self.vendor.name),
                a.item_id,
                a.kind,
                a.label,
                a.annotator,
                a.ref(self.vendor.name),
            )
            for a in annotations
        ]
        added, resolved = self.ledger.record_import(
            source=str(path), sha256=source_sha256(path), events=events, resolver=self.policy
        )
        if added:
            self._log_agreement({targets[a.item_id][1] for a in annotations} - {None})
        return ImportReport(str(path), len(events), added, resolved)

    def _log_agreement(self, round_ids: set[int]) -> None:
        """Inter-annotator agreement of each round that got new annotations, to its MLflow run."""
        for round_id in sorted(round_ids):
            agree = self.ledger.round_agreement(round_id)
            run_id = self.ledger.get_round(round_id).mlflow_run_id
            metrics = {
                "agreement.items": float(agree.items),
                "agreement.pairwise": agree.pairwise,
                "agreement.fleiss_kappa": agree.fleiss_kappa,
            }
            metrics = {k: v for k, v in metrics.items() if v is not None}
            if run_id is not None:
                self.tracker.log_metrics(run_id, metrics, step=round_id)

    def import_weak_labels(self, path: str | Path) -> WeakImportReport:
        """Store a label model's output as weak labels (all or nothing, idempotent)."""
        from alflow.weak import read_weak_labels

        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: file not found")
        weak = read_weak_labels(path, self.labels, self.config.vendor.max_file_bytes)
        known = self.ledger.import_targets(weak.frame["item_id"])
        unknown = weak.frame[~weak.frame["item_id"].isin(known)]
        if len(unknown):
            raise InputError(
                f"{path}: {len(unknown)} problem(s); nothing was imported",
                [
                    located(str(path), int(r.line), "item_id", f"unknown item {r.item_id!r}")
                    for r in unknown.itertuples()
                ],
            )
        changed = self.ledger.record_weak_labels(
            weak.frame[["item_id", "label", "confidence"]], source=str(path)
        )
        return WeakImportReport(str(path), len(weak.frame), weak.abstained, changed)

    # ---------------------------------------------------------------- retrain
    def _pool_rows(self, item_ids, columns: list[str]) -> pa.Table:
        """The given items' pool rows (``item_id`` and ``columns``), one partition at a time."""
        return fetch_items(self.ws.pool_url, self.ledger.locations(item_ids), columns)

    def _labeled_data(self, item_ids: pd.Series) -> tuple[Any, pd.DataFrame]:
        kind = self.config.data.features.kind
        table = self._pool_rows(item_ids, feature_columns(kind))
        order = pd.Series(range(table.num_rows), index=table.column("item_id").to_pylist())
        idx = order.loc[list(item_ids)].to_numpy()
        x = features_of(table.take(idx), kind)
        return x, table

    def _eval_set(self, labels: pd.DataFrame):
        """The user's evaluation set if one was ingested, else a stable holdout of labels."""
        kind = self.config.data.features.kind
        urls = self.partition_urls("eval")
        if urls:
            cols = [*feature_columns(kind), "truth"]
            table = pa.concat_tables(read_partition(u, cols) for u in urls)
            return labels, features_of(table, kind), np.asarray(table.column("truth").to_pylist())
        ev = self.config.evaluation
        mask = holdout_mask(labels["item_id"].to_numpy(), ev.holdout_fraction, self.config.seed)
        if mask.sum() < ev.min_eval_labels:  # too few to evaluate, still never trained on
            return labels[~mask], None, None
        held = labels[mask]
        x_eval, _ = self._labeled_data(held["item_id"])
        return labels[~mask], x_eval, held["label"].to_numpy()

    def retrain(self, round_id: int | None = None, flow_run_id: str | None = None) -> TrainReport:
        """Fit on all resolved labels, evaluate, register; move ``champion`` if the gate passes."""
        round_id = round_id or self.ledger.last_exported_round_id()
        if round_id is None:
            raise AlflowError("no exported round yet: run 'alflow round' first")
        labels = self.ledger.resolved_labels()
        train, x_eval, y_eval = self._eval_set(labels)
        if train["label"].nunique() < 2:
            raise AlflowError(
                f"{len(train)} training label(s) cover {train['label'].nunique()} class(es); "
                "a model needs at least two classes"
            )
        run_id = self._retrain_run(round_id)
        x_train, _ = self._labeled_data(train["item_id"])
        y_train = train["label"].to_numpy()
        model = build_model(self.config)
        extra = self._model_label_training_set()
        if extra is None:
            model.fit(x_train, y_train)
        else:
            x_extra, frame = extra
            model.fit(
                _concat(x_train, x_extra),
                np.r_[y_train, frame["label"].to_numpy()],
                classify__sample_weight=np.r_[np.ones(len(y_train)), frame["weight"].to_numpy()],
            )
        faults.checkpoint("after_fit")
        t = self.tracker
        if flow_run_id:
            t.set_tags(run_id, {"prefect.flow_run_id.retrain": flow_run_id})
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
            result = evaluate(model, x_eval, y_eval, self.labels)
            report = result.pop("report")
            metrics.update(result)
            metrics["eval_size"] = float(len(y_eval))
        t.log_params(
            run_id, {f"model.{k}": v for k, v in model.named_steps["classify"].get_params().items()}
        )
        t.log_metrics(run_id, metrics, step=round_id)
        used = train[["item_id", "label"]].assign(source="human", weight=1.0)
        if extra is not None:
            used = pd.concat([used, extra[1]], ignore_index=True)
        t.log_frame(run_id, used, "training_labels.csv")
        kappa = self._stop_kappa(model, round_id)
        if kappa is not None:
            metrics["stop_kappa"] = kappa
        if x_eval is not None:
            control = self._control_estimate(train, x_eval, y_eval, len(train), metrics)
            t.log_metrics(run_id, control, step=round_id)
            metrics.update(control)
        if report:
            t.log_dict(run_id, report, "classification_report.json")
        if label_keys(self.labels):
            t.log_dict(run_id, label_keys(self.labels), "label_keys.json")
        version = t.log_model(run_id, model)
        faults.checkpoint("after_register")
        promoted = self._gate(model, version, metrics, x_eval, y_eval)
        t.set_tags(run_id, {"alflow.model_version": version, "alflow.promoted": str(promoted)})
        self.ledger.record_training(
            round_id,
            model_version=version,
            n_labels=len(train),
            metrics={k: v for k, v in metrics.items() if not k.startswith("class_count.")},
            promoted=promoted,
        )
        self._log_report(round_id, run_id)
        t.set_tags(run_id, {"alflow.retrain": "done"})
        t.finish(run_id)
        return TrainReport(round_id, len(train), metrics, version, promoted)

    def _retrain_run(self, round_id: int) -> str:
        """The round's run, claimed for a retrain; a run whose earlier retrain never finished
        (killed, or failed with an error) is marked FAILED and replaced by a new one."""
        run_id = self.ledger.get_round(round_id).mlflow_run_id
        _, tags = self.tracker.run_state(run_id)
        if tags.get("alflow.retrain") == "started":  # never marked done: that attempt died
            run_id = self._restart_run(round_id)
        self.tracker.set_tags(run_id, {"alflow.retrain": "started"})
        return run_id

    def _control_estimate(self, train: pd.DataFrame, x_eval, y_eval, n_train: int, metrics):
        """A model on the control labels alone (what random sampling reaches with them), and the
        label saving of the campaign against it (see ``alflow.control``)."""
        gate = self.config.model.gate.metric
        control = train[train["item_id"].isin(self.ledger.selected_ids("control"))]
        if control["label"].nunique() < 2 or gate not in metrics:
            return {}
        x, _ = self._labeled_data(control["item_id"])
        model = build_model(self.config).fit(x, control["label"].to_numpy())
        value = evaluate(model, x_eval, y_eval, self.labels)[gate]
        out = {"control.labels": float(len(control)), f"control.{gate}": value}
        history = self.ledger.trainings()
        labels = [*history.get("labels", pd.Series(dtype=float)).tolist(), n_train]
        values = [*history.get(gate, pd.Series(dtype=float)).tolist(), metrics[gate]]
        kept = [(n, v) for n, v in zip(labels, values, strict=True) if pd.notna(v)]
        saving = label_saving([n for n, _ in kept], [v for _, v in kept], len(control), value)
        if saving is not None:
            out["control.label_saving"], out["control.labels_needed"] = saving
        return out

    def _log_report(self, round_id: int, run_id: str) -> None:
        """The round's self-contained HTML report, logged to MLflow (``report.html``)."""
        from alflow.report import agreement_table, round_report

        gate = self.config.model.gate.metric
        folder = self.ws.reports_dir
        trainings = self.ledger.trainings()
        parts = []
        if gate in trainings:
            parts.append(trainings[["labels", gate]].assign(strategy="campaign"))
        if f"control.{gate}" in trainings:
            ctrl = trainings[["control.labels", f"control.{gate}"]]
            ctrl.columns = ["labels", gate]
            parts.append(ctrl.assign(strategy="control slice (random)"))
        curve = (
            pd.concat(parts, ignore_index=True).dropna()
            if parts
            else pd.DataFrame(columns=["labels", gate, "strategy"])
        )
        curve_png = folder / f"round-{round_id:04d}-curve.png"
        plots.learning_curves(curve, gate, curve_png, f"learning curve after round {round_id}")
        labels = self.ledger.resolved_labels()
        batch = self.ledger.selection(round_id)["item_id"]
        balance = pd.DataFrame({"label": self.labels})
        balance["all labels"] = balance["label"].map(labels["label"].value_counts()).fillna(0)
        this_round = labels[labels["item_id"].isin(batch)]["label"].value_counts()
        balance[f"round {round_id}"] = balance["label"].map(this_round).fillna(0)
        balance_png = folder / f"round-{round_id:04d}-balance.png"
        plots.class_balance(balance, balance_png, f"class balance after round {round_id}")
        trained = trainings[trainings["round"] == round_id]
        control = {
            k: float(v)
            for k, v in (trained.iloc[-1].to_dict() if len(trained) else {}).items()
            if k.startswith("control.") and pd.notna(v)
        }
        page = round_report(
            project=self.config.project,
            round_id=round_id,
            curve_png=curve_png,
            curve=curve,
            scores_png=folder / f"round-{round_id:04d}-scores.png",
            balance_png=balance_png,
            balance=balance,
            agreement=agreement_table(self.ledger.annotations()),
            control=control,
        )
        self.tracker.log_text(run_id, page, "report.html")

    def _model_label_training_set(self):
        """``(features, frame of item_id, label, source, weight)`` of the labels that did not
        come from people, or None: weak labels (weight confidence x ``weak_labels.weight``),
        then the latest round's pseudo-labels (CEAL, weight ``pseudo_labels.weight``) of items
        without a weak label. Items with a human label (or awaiting adjudication) never appear:
        the ledger's queries leave them out."""
        m = self.config.model
        parts = []
        if m.weak_labels.enabled:
            weak = self.ledger.weak_labels()
            weak = weak[weak["confidence"] >= m.weak_labels.min_confidence]
            parts.append(
                weak.assign(source="weak", weight=weak["confidence"] * m.weak_labels.weight)
            )
        if m.pseudo_labels.enabled:
            parts.append(
                self.ledger.pseudo_labels().assign(source="pseudo", weight=m.pseudo_labels.weight)
            )
        columns = ["item_id", "label", "source", "weight"]
        parts = [p[columns] for p in parts if len(p)]
        if not parts:
            return None
        frame = pd.concat(parts, ignore_index=True)
        frame = frame.drop_duplicates("item_id").reset_index(drop=True)  # weak before pseudo
        x, _ = self._labeled_data(frame["item_id"])
        return x, frame

    def _gate(self, model, version: str, metrics, x_eval, y_eval) -> bool:
        """Promote when there is no champion, when nothing can be evaluated yet (the newest model
        has the most labels), or when the new model beats the champion on the same data."""
        gate = self.config.model.gate
        champ = self.tracker.champion()
        if champ is None or x_eval is None:
            self.tracker.promote(version)
            return True
        old = evaluate(self.tracker.load(champ[1]), x_eval, y_eval, self.labels)[gate.metric]
        if metrics[gate.metric] >= old + gate.min_delta:
            self.tracker.promote(version)
            return True
        return False

    # ------------------------------------------------------------- operations
    def round_lock(self):
        """The campaign's round lock: two rounds of one campaign never overlap (any backend)."""
        name = f"rounds:{self.config.project}"
        return self.ledger.lock(name, self.config.schedule.lock_wait_seconds)

    def in_flight_wait(self) -> str | None:
        """Why a new round must wait for labels (``schedule.max_in_flight``), or None to go on.
        An unfinished round is always resumed."""
        limit = self.config.schedule.max_in_flight
        last = self.ledger.last_round_id()
        if limit is None or (last and self.ledger.get_round(last).status in ("open", "selected")):
            return None
        n, batch = self.ledger.in_flight_count(), self.config.campaign.batch_size
        if n + batch <= limit:
            return None
        return (
            f"waiting for labels: {n} item(s) exported and not labeled yet; a batch of {batch} "
            f"would exceed schedule.max_in_flight={limit}"
        )

    def untrained_wait(self) -> str | None:
        """Why a scheduled round waits: the last exported round has no model trained on its
        labels yet (the next round should score with it). None to go on."""
        last = self.ledger.last_exported_round_id()
        trainings = self.ledger.trainings()
        if last is None or (len(trainings) and last in set(trainings["round"])):
            return None
        return f"waiting for round {last}'s labels to be imported and trained on"

    @property
    def inbox(self) -> Path:
        """The folder polled for labels files (the simulated annotator drops its files here)."""
        inbox = self.config.schedule.labels_inbox
        return Path(inbox).expanduser() if inbox else self.ws.imports_dir

    def new_label_files(self) -> list[Path]:
        """Labels files in the inbox whose content was never imported, oldest name first."""

        if not self.inbox.is_dir():
            return []
        done = self.ledger.imported_sha256s()
        files = sorted(p for p in self.inbox.iterdir() if p.suffix in (".jsonl", ".csv"))
        return [p for p in files if p.is_file() and file_sha256(str(p)) not in done]

    def needs_training(self) -> bool:
        """True when the last exported round has labels back but no model yet (e.g. a retrain
        that died after its import)."""
        last = self.ledger.last_exported_round_id()
        if last is None:
            return False
        trainings = self.ledger.trainings()
        if len(trainings) and last in set(trainings["round"]):
            return False
        return bool(self.ledger.round_summary().set_index("round").loc[last, "labeled_back"])

    def campaign_curve(self) -> list[dict]:
        """Every training so far as the records the stopping criteria read."""
        return self.ledger.trainings().to_dict("records")

    def record_stop(self, reason: str) -> bool:
        """Record why the campaign stops (ledger + a tag on the last round's MLflow run)."""
        last = self.ledger.last_round_id()
        new = self.ledger.record_stop(reason, last)
        if new and last is not None:
            run_id = self.ledger.get_round(last).mlflow_run_id
            if run_id:
                self.tracker.set_tags(run_id, {"alflow.campaign_stopped": reason})
        return new

    # ----------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        trainings = self.ledger.trainings()
        champion = None
        if len(trainings) and trainings["promoted"].any():
            champion = trainings[trainings["promoted"]].iloc[-1].to_dict()
        return {
            "items": self.ledger.state_counts(),
            "rounds": self.ledger.rounds(),
            "trainings": trainings,
            "champion": champion,
            "events": self.ledger.event_count(),
            "needs_adjudication": self.ledger.adjudication_queue(),
            "weak_labels": self.ledger.weak_label_count(),
        }
