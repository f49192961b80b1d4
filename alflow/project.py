"""A project: config + workspace + ledger + tracking, and the steps of a labeling round.

Each step is idempotent: it checks the ledger for its own result first, so a retried task or a
rerun flow resumes where the last one stopped and never selects, exports or counts anything twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from alflow import faults, plots
from alflow.candidates import build_candidates
from alflow.committee import build_committee
from alflow.config import AlflowConfig, dump_config
from alflow.errors import AlflowError, InputError, located
from alflow.ingest import IngestReport, ingest_file
from alflow.ledger import EventRecord, Ledger
from alflow.model import build_model, build_model_family, evaluate, holdout_mask
from alflow.pool import (
    features_of,
    fetch_items,
    join,
    pool_hash,
    read_partition,
    to_table,
    write_partition,
)
from alflow.portfolio import PORTFOLIO, choose_arm, gains
from alflow.resolution import resolve
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
class TrainReport:
    round_id: int
    n_labels: int
    metrics: dict[str, float]
    model_version: str | None
    promoted: bool


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
        return make_vendor(self.config.vendor)

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
        if run_id is None:
            run_id = self.tracker.create_run(rnd.id, {"alflow.config_hash": cfg.hash()})
            self.ledger.update_round(rnd.id, mlflow_run_id=run_id)
        if flow_run_id:
            self.ledger.update_round(rnd.id, flow_run_id=flow_run_id)
            self.tracker.set_tags(run_id, {"prefect.flow_run_id.select": flow_run_id})
        return RoundStart(rnd.id, new, run_id)

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
        cfg = self.config
        model, version, uri = self.scoring_model()
        labels = self.ledger.resolved_labels()
        spec, params = self._choose_strategy(model, labels, round_id)
        if spec.needs_model and model is None:
            raise AlflowError(f"strategy {spec.name!r} needs a model; none is registered yet")
        from alflow.compute import score_pool

        batch_size = cfg.campaign.batch_size
        wants_x = bool(spec.needs & {"features", "density", "committee"})
        by_index = "density" in spec.needs and self.uses_pool_index()
        sample_m = cfg.strategy.pool_sample if "density" in spec.needs and not by_index else 0
        pseudo = cfg.model.pseudo_labels
        if not self.stop_set_path.exists():
            sample_m = max(sample_m, cfg.campaign.stop_set_size)
        scores = score_pool(
            client,
            self.partition_urls(),
            model if spec.needs_model else None,
            feature_kind=cfg.data.features.kind,
            excluded_ids=self.ledger.excluded_ids(),
            rank_by=spec.ranks,
            top_m=candidate_count(spec, batch_size, cfg.strategy.candidate_factor),
            seed=cfg.seed,
            round_id=round_id,
            keep_features=wants_x,
            sample_m=sample_m,
            confident_m=pseudo.max_per_round if pseudo.enabled and model is not None else 0,
            classes=self.labels,
            on_partition=on_partition,
        )
        if scores.rows_scored == 0:
            raise AlflowError("no unlabeled items are left in the pool")
        if not self.stop_set_path.exists():
            self._save_stop_set(scores.sample.head(cfg.campaign.stop_set_size))
        cand = scores.candidates
        picked = spec.select(
            self._candidates(
                spec,
                scores,
                model if spec.needs_model else None,
                labels,
                self.pool_index() if by_index else None,
            ),
            batch_size,
            random_state=cfg.seed + round_id,
            **params,
        )
        batch = cand.iloc[picked].reset_index(drop=True)
        batch.insert(1, "rank", np.arange(1, len(batch) + 1))
        batch["utility"] = batch[spec.rank_by]
        if "predicted_label" not in batch:
            batch["predicted_label"] = None
            batch["predicted_score"] = np.nan
        keep = [
            "item_id",
            "rank",
            "utility",
            "predicted_label",
            "predicted_score",
            *component_columns(batch),
        ]
        batch = batch[keep]
        pool = self.pool_hash()
        self.ledger.update_round(
            round_id,
            strategy=spec.name,
            pool_hash=pool,
            model_uri=uri,
            model_version=version,
        )
        self._log_selection(round_id, spec.name, version, pool, scores, batch)
        if scores.confident is not None:
            self._record_pseudo_labels(round_id, scores.confident, set(batch["item_id"]))
        self.ledger.record_selection(round_id, batch)
        faults.checkpoint("after_selection")
        return self.ledger.selection(round_id)

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
        kind = "text" if "text" in table.column_names else "numeric"
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

    def uses_pool_index(self) -> bool:
        """Density from the pool index (``strategy.density_index``; ``auto``: vector pools of
        more than ``EXACT_MAX`` items) rather than from a uniform pool sample."""
        from alflow.index import EXACT_MAX

        mode = self.config.strategy.density_index
        if mode == "auto":
            big = sum(self.ledger.state_counts().values()) > EXACT_MAX
            return big and self.config.data.features.kind != "text"
        return mode == "pool"

    def pool_index(self):
        """The kNN index over the whole pool: loaded from the workspace while the pool's content
        hash is unchanged, else built (trained on a sample, filled partition by partition)."""
        from alflow.index import PoolIndex, cached_pool_index

        kind = self.config.data.features.kind
        if kind == "text":
            raise AlflowError("the pool index needs vector features (numeric or embedding)")
        urls = self.partition_urls()

        def chunks():
            for url in urls:
                yield url.rsplit("/", 1)[-1], features_of(read_partition(url, ["x"]), kind)

        def build():
            n = sum(self.ledger.state_counts().values())
            d = next(chunks())[1].shape[1]
            return PoolIndex.build(
                chunks, n, d, standardize=kind == "numeric", seed=self.config.seed
            )

        index, _ = cached_pool_index(str(self.ws.root / "index"), self.pool_hash(), build)
        return index

    def _candidates(self, spec, scores: PartitionScores, model, labels: pd.DataFrame, index=None):
        """What the strategy declared it needs, built like in simulations (density from the pool
        ``index`` when given)."""
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
            pool_density=None
            if index is None
            else lambda x: index.density(x, index.keys(frame[PARTITION], frame[ROW])),
            seed=self.config.seed,
        )

    def _log_selection(
        self, round_id, strategy, version, pool, scores: PartitionScores, batch
    ) -> None:
        cfg = self.config
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
        t.log_metrics(
            run_id,
            {
                "pool_unlabeled_scored": scores.rows_scored,
                "candidates": len(scores.candidates),
                "batch_size": len(batch),
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
        shown = self._display_columns(batch)
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
        col = "text" if f.kind == "text" else "x"
        table = self._pool_rows(batch["item_id"], [col])
        if f.kind == "text":
            data = pd.DataFrame(
                {
                    "item_id": table.column("item_id").to_pylist(),
                    "text": table.column("text").to_pylist(),
                }
            )
        else:
            data = pd.DataFrame(features_of(table, "numeric"), columns=f.columns)
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
    def import_labels(self, path: str | Path) -> ImportReport:
        """Validate a labels file against the schema and the ledger, then append its events."""
        from alflow.vendors.base import file_sha256

        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: file not found")
        annotations = self.vendor.read_annotations(path, self.labels)
        targets = self.ledger.import_targets(a.item_id for a in annotations)
        problems = []
        for a in annotations:
            state = targets.get(a.item_id)
            if state is None:
                problems.append(
                    located(
                        str(path),
                        a.line,
                        "item_id",
                        f"unknown item {a.item_id!r} (not in the pool)",
                    )
                )
            elif state[0] in ("unlabeled", "selected"):
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
            source=str(path), sha256=file_sha256(path), events=events, resolver=resolve
        )
        return ImportReport(str(path), len(events), added, resolved)

    # ---------------------------------------------------------------- retrain
    def _pool_rows(self, item_ids, columns: list[str]) -> pa.Table:
        """The given items' pool rows (``item_id`` and ``columns``), one partition at a time."""
        return fetch_items(self.ws.pool_url, self.ledger.locations(item_ids), columns)

    def _labeled_data(self, item_ids: pd.Series) -> tuple[Any, pd.DataFrame]:
        kind = self.config.data.features.kind
        col = "text" if kind == "text" else "x"
        table = self._pool_rows(item_ids, [col])
        order = pd.Series(range(table.num_rows), index=table.column("item_id").to_pylist())
        idx = order.loc[list(item_ids)].to_numpy()
        x = features_of(table.take(idx), kind)
        return x, table

    def _eval_set(self, labels: pd.DataFrame):
        """The user's evaluation set if one was ingested, else a stable holdout of labels."""
        kind = self.config.data.features.kind
        urls = self.partition_urls("eval")
        if urls:
            col = "text" if kind == "text" else "x"
            table = pa.concat_tables(read_partition(u, [col, "truth"]) for u in urls)
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
        x_train, _ = self._labeled_data(train["item_id"])
        y_train = train["label"].to_numpy()
        model = build_model(self.config)
        pseudo = self._pseudo_training_set()
        if pseudo is None:
            model.fit(x_train, y_train)
        else:
            x_pseudo, y_pseudo = pseudo[0], pseudo[1]["label"].to_numpy()
            weights = np.r_[
                np.ones(len(y_train)),
                np.full(len(y_pseudo), self.config.model.pseudo_labels.weight),
            ]
            model.fit(
                _concat(x_train, x_pseudo),
                np.r_[y_train, y_pseudo],
                classify__sample_weight=weights,
            )
        faults.checkpoint("after_fit")
        run_id = self.ledger.get_round(round_id).mlflow_run_id
        t = self.tracker
        if flow_run_id:
            t.set_tags(run_id, {"prefect.flow_run_id.retrain": flow_run_id})
        metrics: dict[str, float] = {
            "labels_used": float(len(train)),
            "labels_total": float(len(labels)),
            "pseudo_labels_used": float(0 if pseudo is None else len(pseudo[1])),
        }
        for cls, n in train["label"].value_counts().items():
            metrics[f"class_count.{cls}"] = float(n)
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
        used = train[["item_id", "label"]].assign(source="human")
        if pseudo is not None:
            used = pd.concat([used, pseudo[1].assign(source="pseudo")], ignore_index=True)
        t.log_frame(run_id, used, "training_labels.csv")
        kappa = self._stop_kappa(model, round_id)
        if kappa is not None:
            metrics["stop_kappa"] = kappa
        if report:
            t.log_dict(run_id, report, "classification_report.json")
        version = t.log_model(run_id, model)
        promoted = self._gate(model, version, metrics, x_eval, y_eval)
        t.set_tags(run_id, {"alflow.model_version": version, "alflow.promoted": str(promoted)})
        self.ledger.record_training(
            round_id,
            model_version=version,
            n_labels=len(train),
            metrics={k: v for k, v in metrics.items() if not k.startswith("class_count.")},
            promoted=promoted,
        )
        t.finish(run_id)
        return TrainReport(round_id, len(train), metrics, version, promoted)

    def _pseudo_training_set(self):
        """``(features, frame of item_id and label)`` of the latest round's pseudo-labels, or
        None (CEAL)."""
        if not self.config.model.pseudo_labels.enabled:
            return None
        pseudo = self.ledger.pseudo_labels()
        if pseudo.empty:
            return None
        x, _ = self._labeled_data(pseudo["item_id"])
        return x, pseudo

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
        }
