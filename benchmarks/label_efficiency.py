"""Label-efficiency benchmark: simulated active-learning campaigns on real public datasets.

    python benchmarks/label_efficiency.py --datasets pendigits,sms_spam --seeds 2 --budget 200

Every (dataset, seed) runs each alflow strategy through ``alflow.selection.simulation.simulate``
and, with ``--baselines`` (the ``bench`` extra: modAL, scikit-activeml), the libraries' strategies
under the same protocol: the same pool/test split, model factory, initial labels, batch size and
budget. Reports per dataset and strategy the AULC (mean test accuracy over the rounds), accuracy at
fixed label counts, labels needed to reach 95% and 98% of full-pool accuracy and the saving against
random at 95%; then each strategy's mean AULC rank across datasets and the datasets where it loses
to margin sampling beyond two paired standard errors. Writes a markdown table and JSON to
benchmarks/results/ and one learning-curve PNG per dataset.

A strategy is a registered name, ``default`` (the shipped ``strategy`` section, whatever it is),
``NAME(K=V;...)`` (one with ``params``) or ``NAME/COLD@N`` (NAME after the cold start COLD while a
class has fewer than N labels). Each finished campaign is kept under ``<out-dir>/jobs/`` per
(dataset, seed, protocol): rerunning an interrupted command resumes, and adding a strategy runs only
that one (``--rerun NAMES`` runs kept ones again after their code changed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from functools import cached_property, partial
from importlib.util import find_spec
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks` from a plain run
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import matplotlib
import numpy as np
import pandas as pd
import yaml
from scipy import sparse
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from alflow.config import (
    DEFAULT_STRATEGY,
    AlflowConfig,
    FeaturesConfig,
    StrategyConfig,
    config_from_dict,
)
from alflow.data.text_space import TextSpace, fit_text_space, sample_texts
from alflow.selection.simulation import Protocol, initial_labels, simulate
from alflow.strategies import REGISTRY
from alflow.training.model import build_model
from benchmarks.datasets import LOADERS, POOL_CAP, TABULAR, TEXT, load, split

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TUNING = (  # the six the default was first chosen on (docs/benchmarks.md)
    "sms_spam",
    "20newsgroups",
    "adult",
    "letter_recognition",
    "pendigits",
    "covertype_sample_15k",
)
DATASETS = tuple(LOADERS)  # the broad development suite: every dataset in ../shared/datasets
CHECKPOINTS = (100, 200, 600)
THRESHOLDS = (0.95, 0.98)
PARTS = ("curves", "skipped", "seconds")  # what a job keeps per strategy
REFERENCE = "margin"  # the baseline every library has (Bahri et al. 2022)
COMMITTEE_SIZE = 5
PAL_CANDIDATES = 1_000  # ProbabilisticAL scores this many random unlabeled rows a round
MODAL = ("modal:uncertainty", "modal:margin", "modal:entropy", "modal:qbc-vote_entropy")
SKACTIVEML = (
    "skactiveml:UncertaintySampling-least_confident",
    "skactiveml:UncertaintySampling-margin",
    "skactiveml:UncertaintySampling-entropy",
    "skactiveml:QueryByCommittee-KL_divergence",
    "skactiveml:ProbabilisticAL",
)
LIBRARIES = {"modal": ("modAL", MODAL), "skactiveml": ("skactiveml", SKACTIVEML)}

Curve = dict[str, list[float]]
CURVE_COLUMNS = ("labels", "accuracy", "macro_f1", "query_seconds")


# --------------------------------------------------------------------------- model and data


def model_config(
    kind: str, features: FeaturesConfig | None, seed: int, text_embedding: str = "lsa"
) -> AlflowConfig:
    """The config a user would write for the dataset: its features (text, with its embedding,
    numeric columns or the mixed table's columns) and the default model (logistic regression)."""
    if features is None:
        features = (
            FeaturesConfig(kind="text", text_column="text", text_embedding=text_embedding)
            if kind == "text"
            else FeaturesConfig(kind="numeric", columns=["x"])
        )
    data = {"features": features.model_dump(), "labels": ["a", "b"]}
    return config_from_dict({"data": data, "seed": seed}, environ={})


def make_model(config: AlflowConfig, space: TextSpace | None = None) -> Pipeline:
    """The round's model (``alflow.training.model.build_model``). Text is vectorised once per
    campaign by the pool's own vectoriser (``text_features``), so the model here is the round's
    pipeline without its first step, the frozen vectoriser: the same fit and probabilities."""
    model = build_model(config, space)
    return model[1:] if space is not None else model


def text_features(
    x_pool: np.ndarray, x_test: np.ndarray, config: AlflowConfig, seed: int
) -> tuple[TextSpace, sparse.csr_matrix, sparse.csr_matrix, np.ndarray]:
    """The pool's text space as the first pool ingest fits it (``alflow.data.text_space``: a sample
    of ``text_sample_rows`` texts), the pool and test sets through its vectoriser, and the
    pool's embedding (LSA, or the sentence encoder's) applied partition by partition, as ingest
    writes it."""
    f = config.data.features
    sample = sample_texts(_chunks(list(x_pool)), f.text_sample_rows, seed)
    space = fit_text_space(sample, f.text_embedding_dim, seed, f.text_embedding)
    embedding = np.vstack([space.embed(c) for c in _chunks(list(x_pool))])
    return space, space.vectorizer.transform(x_pool), space.vectorizer.transform(x_test), embedding


def _chunks(texts: list[str], rows: int = 2_000) -> Iterator[list[str]]:
    for i in range(0, len(texts), rows):
        yield texts[i : i + rows]


@dataclass
class Campaign:
    """One (dataset, seed) setting every strategy runs under."""

    kind: str
    x_pool: Any  # dense features, a tabular block, or text through the pool's vectoriser
    y_pool: np.ndarray
    x_test: Any
    y_test: np.ndarray
    protocol: Protocol
    config: AlflowConfig
    space: TextSpace | None = None  # a text pool's fitted vectoriser and embedding
    embedding: np.ndarray | None = None  # where alflow measures distances (text: LSA)

    @cached_property
    def schema(self) -> list[str]:
        return sorted(set(self.y_pool) | set(self.y_test))

    def new_model(self) -> Pipeline:
        return make_model(self.config, self.space)

    def metrics(self, labels: int, pred: np.ndarray) -> dict[str, float]:
        """One round's row, scored like ``simulate`` scores it."""
        return {
            "labels": labels,
            "accuracy": float(accuracy_score(self.y_test, pred)),
            "macro_f1": float(
                f1_score(self.y_test, pred, labels=self.schema, average="macro", zero_division=0)
            ),
        }


def full_pool_accuracy(c: Campaign) -> float:
    """Test accuracy of the same model fit on the whole (capped) pool."""
    model = c.new_model().fit(c.x_pool, c.y_pool)
    return float(accuracy_score(c.y_test, model.predict(c.x_test)))


# --------------------------------------------------------------------------- baselines


class Adapter:
    """A library's strategy in the shared loop: fit on labeled rows, predict test, query a batch."""

    def __init__(self, c: Campaign, method: str) -> None:
        self.c, self.method = c, method

    def fit(self, labeled: np.ndarray) -> Any:
        raise NotImplementedError

    def predict_test(self, model: Any) -> np.ndarray:
        raise NotImplementedError

    def query(self, model: Any, labeled: np.ndarray, batch: int, round_id: int) -> np.ndarray:
        """Pool indices of the next batch (never already labeled)."""
        raise NotImplementedError


def run_loop(adapter: Adapter) -> pd.DataFrame:
    """``simulate``'s loop: the same initial draw, rounds, batch sizes and scoring."""
    c, p = adapter.c, adapter.c.protocol
    labeled = initial_labels(c.y_pool, p.initial, np.random.default_rng(p.seed))
    rows = []
    for round_id in range(1, 10_000):
        model = adapter.fit(labeled)
        rows.append(c.metrics(len(labeled), adapter.predict_test(model)))
        batch = min(p.batch_at(len(labeled)), p.budget - len(labeled), len(c.y_pool) - len(labeled))
        if batch <= 0:
            break
        started = time.perf_counter()
        picked = np.asarray(adapter.query(model, labeled, batch, round_id), dtype=int)
        rows[-1]["query_seconds"] = time.perf_counter() - started
        if len(np.intersect1d(picked, labeled)) or len(np.unique(picked)) != len(picked):
            raise RuntimeError(f"{adapter.method} queried an already labeled or duplicate item")
        labeled = np.concatenate([labeled, picked])
    return pd.DataFrame(rows)


def bootstrap_samples(
    labeled: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """``n`` bootstrap resamples of ``labeled`` (query by bagging), each with two classes."""
    samples = []
    while len(samples) < n:
        idx = rng.choice(labeled, size=len(labeled), replace=True)
        if len(np.unique(y[idx])) > 1:
            samples.append(idx)
    return samples


class ModalAdapter(Adapter):
    """modAL's query functions, called with the benchmark's own fitted pipeline.

    Labels are class numbers: modAL's committee votes are stored in a float array.
    """

    def __init__(self, c: Campaign, method: str) -> None:
        super().__init__(c, method)
        self.y = np.searchsorted(c.schema, c.y_pool)

    def fit(self, labeled: np.ndarray) -> Pipeline:
        return self.c.new_model().fit(self.c.x_pool[labeled], self.y[labeled])

    def predict_test(self, model: Pipeline) -> np.ndarray:
        return np.asarray(self.c.schema, dtype=object)[model.predict(self.c.x_test)]

    def query(self, model: Pipeline, labeled: np.ndarray, batch: int, round_id: int) -> np.ndarray:
        from modAL import uncertainty

        unlabeled = np.setdiff1d(np.arange(len(self.c.y_pool)), labeled)
        x_unl = self.c.x_pool[unlabeled]
        functions = {
            "uncertainty": uncertainty.uncertainty_sampling,
            "margin": uncertainty.margin_sampling,
            "entropy": uncertainty.entropy_sampling,
        }
        if self.method in functions:
            picked = functions[self.method](model, x_unl, n_instances=batch)
        else:
            picked = self._qbc(labeled, x_unl, batch, round_id)
        return unlabeled[np.asarray(picked[0] if isinstance(picked, tuple) else picked)]

    def _qbc(self, labeled: np.ndarray, x_unl: np.ndarray, batch: int, round_id: int):
        from modAL.disagreement import vote_entropy_sampling
        from modAL.models import ActiveLearner, Committee

        c = self.c
        rng = np.random.default_rng([c.protocol.seed, round_id])
        members = [
            ActiveLearner(estimator=self.fit(idx))
            for idx in bootstrap_samples(labeled, self.y, COMMITTEE_SIZE, rng)
        ]
        return vote_entropy_sampling(Committee(learner_list=members), x_unl, n_instances=batch)


class SharedRows:
    """A matrix shared, not copied, by every clone of a pipeline (sklearn's clone deep-copies)."""

    def __init__(self, rows: sparse.csr_matrix | np.ndarray) -> None:
        self.rows = rows

    def __deepcopy__(self, memo: dict) -> SharedRows:
        return self


class RowLookup(TransformerMixin, BaseEstimator):
    """Maps a column of row numbers to their rows (text's sparse token counts, a mixed table's
    raw cells): scikit-activeml only accepts dense numeric X."""

    def __init__(self, rows: SharedRows | None = None) -> None:
        self.rows = rows

    def fit(self, x: np.ndarray, y: Any = None) -> RowLookup:
        return self

    def transform(self, x: np.ndarray) -> sparse.csr_matrix | np.ndarray:
        return self.rows.rows[np.asarray(x)[:, 0].astype(int)]


class SkactivemlAdapter(Adapter):
    """scikit-activeml's query strategies around ``SklearnClassifier(the same pipeline)``.

    Labels are class numbers with -1 missing. Text and mixed tables are passed as row numbers and
    looked up inside the pipeline; numeric features are standardised once over the pool (the
    pipeline standardises again, which leaves its model unchanged) so that ProbabilisticAL's RBF
    density is meaningful.
    """

    def __init__(self, c: Campaign, method: str) -> None:
        super().__init__(c, method)
        if method == "ProbabilisticAL" and c.kind != "numeric":
            raise ValueError(f"ProbabilisticAL needs a feature-space metric; {c.kind} has none")
        self.classes = np.arange(len(c.schema))
        self.y = np.searchsorted(c.schema, c.y_pool)
        n = len(c.y_pool)
        if c.kind in ("text", "tabular"):
            rows = SharedRows(
                sparse.vstack([c.x_pool, c.x_test], format="csr")
                if c.kind == "text"
                else np.concatenate([c.x_pool, c.x_test])
            )
            self.x = np.arange(n + len(c.y_test), dtype=float)[:, None]
            self.pipeline = Pipeline([("lookup", RowLookup(rows)), ("model", c.new_model())])
        else:
            scaler = StandardScaler().fit(c.x_pool)
            self.x = np.concatenate([scaler.transform(c.x_pool), scaler.transform(c.x_test)])
            self.pipeline = c.new_model()
        self.x_pool, self.x_test = self.x[:n], self.x[n:]

    def classifier(self, idx: np.ndarray) -> Any:
        from skactiveml.classifier import SklearnClassifier

        clf = SklearnClassifier(
            self.pipeline,
            classes=self.classes,
            missing_label=-1,
            random_state=self.c.protocol.seed,
        )
        return clf.fit(self.x_pool[idx], self.y[idx])

    def fit(self, labeled: np.ndarray) -> Any:
        return self.classifier(labeled)

    def predict_test(self, model: Any) -> np.ndarray:
        return np.asarray(self.c.schema, dtype=object)[model.predict(self.x_test)]

    def query(self, model: Any, labeled: np.ndarray, batch: int, round_id: int) -> np.ndarray:
        from skactiveml.pool import ProbabilisticAL, QueryByCommittee, UncertaintySampling

        y = np.full(len(self.y), -1)
        y[labeled] = self.y[labeled]
        seed = self.c.protocol.seed + round_id
        kw = {"missing_label": -1, "random_state": seed}
        name, _, method = self.method.partition("-")
        if name == "UncertaintySampling":
            method = "margin_sampling" if method == "margin" else method
            qs = UncertaintySampling(method=method, **kw)
            return qs.query(self.x_pool, y, clf=model, fit_clf=False, batch_size=batch)
        if name == "QueryByCommittee":
            rng = np.random.default_rng([self.c.protocol.seed, round_id])
            members = [
                self.classifier(idx)
                for idx in bootstrap_samples(labeled, self.y, COMMITTEE_SIZE, rng)
            ]
            qs = QueryByCommittee(method=method, **kw)
            return qs.query(self.x_pool, y, ensemble=members, fit_ensemble=False, batch_size=batch)
        # A seeded sample of unlabeled rows goes in as candidate samples: the RBF density is then
        # computed against the labeled rows only, and cost reduction (~0.5 ms per candidate) stays
        # affordable on 20,000-row pools and 26 classes.
        unlabeled = np.setdiff1d(np.arange(len(self.y)), labeled)
        rng = np.random.default_rng([self.c.protocol.seed, round_id])
        if len(unlabeled) > PAL_CANDIDATES:
            unlabeled = np.sort(rng.choice(unlabeled, PAL_CANDIDATES, replace=False))
        qs = ProbabilisticAL(metric="rbf", **kw)
        x_lab, x_unl = self.x_pool[labeled], self.x_pool[unlabeled]
        picked = qs.query(
            x_lab, y[labeled], clf=model, fit_clf=False, candidates=x_unl, batch_size=batch
        )
        return unlabeled[picked]


ADAPTERS: dict[str, type[Adapter]] = {"modal": ModalAdapter, "skactiveml": SkactivemlAdapter}


def run_baseline(name: str, c: Campaign) -> pd.DataFrame:
    """``library:method`` through the shared loop."""
    library, _, method = name.partition(":")
    return run_loop(ADAPTERS[library](c, method))


def strategy_config(name: str) -> StrategyConfig:
    """A report column as the ``strategy`` section a user would write: ``default`` is alflow's
    shipped default (``StrategyConfig()``), ``NAME`` a registered strategy, ``NAME(K=V;...)``
    one with ``params``, and ``NAME/COLD@N`` NAME after the cold start COLD while some class
    has fewer than N labels."""
    if name == DEFAULT_STRATEGY:
        return StrategyConfig()
    main, _, cold = name.partition("/")
    main, _, params = main.partition("(")
    section: dict[str, Any] = {"name": main, "params": _params(params.removesuffix(")"))}
    if cold:
        cold_start, _, until = cold.partition("@")
        section |= {"cold_start": cold_start, "cold_start_until_per_class": int(until)}
    return StrategyConfig(**section)


def _params(text: str) -> dict[str, Any]:
    """``K=V;K=V`` with each V read as YAML would (``0.15`` a float, ``entropy`` a string)."""
    pairs = (item.partition("=") for item in text.split(";") if item)
    return {key.strip(): yaml.safe_load(value) for key, _, value in pairs}


def run_alflow(name: str, c: Campaign) -> pd.DataFrame:
    """alflow's strategy ``name`` (``strategy_config``) through
    ``alflow.selection.simulation.simulate``."""
    return simulate(
        strategy_config(name),
        c.x_pool,
        c.y_pool,
        c.x_test,
        c.y_test,
        make_model=c.new_model,
        protocol=c.protocol,
        embedding=c.embedding,
    )


# --------------------------------------------------------------------------- one (dataset, seed)


@dataclass(frozen=True)
class Job:
    """One worker task: every strategy on one dataset with one seed."""

    dataset: str
    seed: int
    strategies: tuple[str, ...]
    baselines: tuple[str, ...]
    initial: int
    batch: int
    budget: int
    root: Path
    started: float
    late_batch: int = 0
    text_embedding: str = "lsa"  # data.features.text_embedding of the text datasets


def campaigns(job: Job) -> Iterator[tuple[str, Callable[[Campaign], pd.DataFrame]]]:
    """(name, runner) for each alflow strategy, then each baseline."""
    for name in job.strategies:
        yield name, partial(run_alflow, name)
    for name in job.baselines:
        yield name, partial(run_baseline, name)


def run_job(job: Job) -> dict[str, Any]:
    """Runs every campaign of ``job``; prints one line per finished campaign."""
    data = load(job.dataset, job.root)
    x_pool, y_pool, x_test, y_test = split(data, job.seed)
    config = model_config(data.kind, data.features, job.seed, job.text_embedding)
    space = embedding = None
    if data.kind == "text":
        space, x_pool, x_test, embedding = text_features(x_pool, x_test, config, job.seed)
    protocol = Protocol(
        initial=job.initial,
        batch=job.batch,
        budget=job.budget,
        seed=job.seed,
        late_batch=job.late_batch,
    )
    c = Campaign(data.kind, x_pool, y_pool, x_test, y_test, protocol, config, space, embedding)
    out: dict[str, Any] = {
        "dataset": job.dataset,
        "seed": job.seed,
        "pool": len(y_pool),
        "test": len(y_test),
        "classes": len(c.schema),
        "full_pool_accuracy": full_pool_accuracy(c),
        "curves": {},
        "skipped": {},
        "seconds": {},
    }
    for name, run in campaigns(job):
        start = time.perf_counter()
        try:
            frame = run(c)
        except Exception as exc:  # a strategy simulate cannot run, or a library failure
            out["skipped"][name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            _progress(job, name, f"skipped: {out['skipped'][name]}")
            continue
        out["seconds"][name] = time.perf_counter() - start
        out["curves"][name] = frame[[*CURVE_COLUMNS]].to_dict("list")
        final = frame.iloc[-1]
        _progress(
            job,
            name,
            f"AULC {frame['accuracy'].mean():.3f}, acc@{int(final['labels'])} "
            f"{final['accuracy']:.3f} ({out['seconds'][name]:.1f}s)",
        )
    return out


def _progress(job: Job, name: str, text: str) -> None:
    elapsed = time.time() - job.started
    print(f"[{elapsed:7.1f}s] {job.dataset} seed={job.seed} {name}: {text}", flush=True)


def _init_worker() -> None:
    """One BLAS thread per worker (the pool supplies the parallelism), and quiet fits."""
    from threadpoolctl import threadpool_limits

    global _LIMITS
    _LIMITS = threadpool_limits(limits=1)
    for category in (ConvergenceWarning, FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)


_LIMITS: Any = None


# --------------------------------------------------------------------------- summary


def _mean_curve(curves: list[Curve]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = np.asarray(curves[0]["labels"], dtype=int)
    acc = np.asarray([c["accuracy"] for c in curves], dtype=float)
    return labels, acc.mean(axis=0), acc.std(axis=0)


def _labels_to_reach(labels: np.ndarray, mean_acc: np.ndarray, target: float) -> int | None:
    hit = np.flatnonzero(mean_acc >= target)
    return int(labels[hit[0]]) if len(hit) else None


def summarise_strategy(curves: list[Curve], full_pool: float, checkpoints: list[int]) -> dict:
    """AULC, accuracy at checkpoints, labels to reach each threshold of full-pool accuracy."""
    labels, mean_acc, std_acc = _mean_curve(curves)
    aulc = [float(np.mean(c["accuracy"])) for c in curves]
    at = {}
    for k in checkpoints:
        pos = np.flatnonzero(labels == k)
        if len(pos):
            per_seed = [c["accuracy"][pos[0]] for c in curves]
            at[str(k)] = {"mean": float(np.mean(per_seed)), "std": float(np.std(per_seed))}
    queries = [np.nanmean(c["query_seconds"]) for c in curves if "query_seconds" in c]
    return {
        "seeds": len(curves),
        "query_seconds": float(np.mean(queries)) if queries else None,
        "aulc": {"mean": float(np.mean(aulc)), "std": float(np.std(aulc)), "per_seed": aulc},
        "accuracy_at": at,
        "labels_to": {
            str(t): _labels_to_reach(labels, mean_acc, t * full_pool) for t in THRESHOLDS
        },
        "curve": {
            "labels": labels.tolist(),
            "accuracy_mean": mean_acc.tolist(),
            "accuracy_std": std_acc.tolist(),
            "macro_f1_mean": np.mean([c["macro_f1"] for c in curves], axis=0).tolist(),
        },
    }


def summarise_dataset(runs: list[dict], names: list[str], checkpoints: list[int]) -> dict:
    """Seed means for one dataset, plus each strategy's saving against random at 95%."""
    full = [r["full_pool_accuracy"] for r in runs]
    full_mean = float(np.mean(full))
    strategies, skipped = {}, {}
    for name in names:
        curves = [r["curves"][name] for r in runs if name in r["curves"]]
        if curves:
            strategies[name] = summarise_strategy(curves, full_mean, checkpoints)
        else:
            reasons = [r["skipped"][name] for r in runs if name in r["skipped"]]
            skipped[name] = reasons[0] if reasons else "not run"
    base = strategies.get("random", {}).get("labels_to", {}).get(str(THRESHOLDS[0]))
    for name, s in strategies.items():
        own = s["labels_to"][str(THRESHOLDS[0])]
        s["saving_95"] = 1 - own / base if (base and own and name != "random") else None
    return {
        "saving_ceiling_95": saving_ceiling(base, strategies.get("random", {})),
        "pool": runs[0]["pool"],
        "test": runs[0]["test"],
        "classes": runs[0]["classes"],
        "full_pool_accuracy": {"mean": full_mean, "std": float(np.std(full)), "per_seed": full},
        "strategies": strategies,
        "skipped": skipped,
    }


def saving_ceiling(base: int | None, random: dict) -> float | None:
    """The largest saving at 95% any strategy can have on this dataset, given ``base``, the
    labels random needs: every strategy starts from the same random initial labels, so the
    earliest it can reach 95% and differ from random is the round after its first chosen batch
    (None where random never reaches 95%)."""
    if not base:
        return None
    initial, *chosen = random["curve"]["labels"]
    return 1 - chosen[0] / base if base > initial else 0.0


def paired_vs(d: dict, name: str, reference: str = REFERENCE) -> dict | None:
    """``name``'s AULC minus ``reference``'s on one dataset, paired over seeds: the mean, its
    standard error and whether it loses beyond two of them (None without both on every seed)."""
    runs = d["strategies"]
    if name == reference or name not in runs or reference not in runs:
        return None
    a, b = (np.asarray(runs[n]["aulc"]["per_seed"]) for n in (name, reference))
    if len(a) != len(b) or len(a) < 2:
        return None
    diff = a - b
    se = float(np.std(diff, ddof=1) / np.sqrt(len(diff)))
    mean = float(diff.mean())
    return {"mean": mean, "se": se, "loses": mean + 2 * se < 0}


def query_ratio(d: dict, reference: str = REFERENCE) -> dict[str, float]:
    """Each strategy's query time per round over ``reference``'s on one dataset."""
    runs = d["strategies"]
    base = runs.get(reference, {}).get("query_seconds")
    if not base:
        return {}
    return {n: r["query_seconds"] / base for n, r in runs.items() if r.get("query_seconds")}


def overall(datasets: dict[str, dict], names: list[str]) -> dict[str, dict]:
    """Mean AULC rank (1 = best, ties averaged) across datasets, mean saving at 95%, the
    datasets where a strategy loses to margin sampling beyond two paired standard errors, and its
    mean query time over margin's on the full-size (``POOL_CAP``) pools."""
    ranks: dict[str, list[float]] = {n: [] for n in names}
    savings: dict[str, list[float]] = {n: [] for n in names}
    losses: dict[str, list[str]] = {n: [] for n in names}
    query_ratios: dict[str, list[float]] = {n: [] for n in names}
    for dataset, d in datasets.items():
        if d["pool"] >= POOL_CAP:
            for name, ratio in query_ratio(d).items():
                query_ratios[name].append(ratio)
        ran = list(d["strategies"])
        for name, r in zip(
            ran, rankdata([-d["strategies"][n]["aulc"]["mean"] for n in ran]), strict=True
        ):
            ranks[name].append(float(r))
            if d["strategies"][name]["saving_95"] is not None:
                savings[name].append(d["strategies"][name]["saving_95"])
            paired = paired_vs(d, name)
            if paired and paired["loses"]:
                losses[name].append(dataset)
    return {
        n: {
            "mean_aulc_rank": float(np.mean(ranks[n])) if ranks[n] else None,
            "datasets": len(ranks[n]),
            "mean_saving_95": float(np.mean(savings[n])) if savings[n] else None,
            "saving_datasets": len(savings[n]),
            "loses_to_margin": losses[n],
            "query_vs_margin": float(np.mean(query_ratios[n])) if query_ratios[n] else None,
        }
        for n in names
    }


# --------------------------------------------------------------------------- output


def _pm(stat: dict | None, seeds: int) -> str:
    if not stat:
        return "—"
    return f"{stat['mean']:.3f}" + (f" ± {stat['std']:.3f}" if seeds > 1 else "")


def _labels(n: int | None, budget: int) -> str:
    return str(n) if n is not None else f"> {budget}"


def _saving(value: float | None, name: str) -> str:
    return "—" if name == "random" else ("n/a" if value is None else f"{value:+.0%}")


def dataset_table(name: str, d: dict, checkpoints: list[int], budget: int) -> list[str]:
    full = d["full_pool_accuracy"]
    seeds = len(full["per_seed"])
    lines = [
        f"### {name}",
        "",
        f"pool {d['pool']:,}, test {d['test']:,}, {d['classes']} classes; "
        f"full-pool accuracy {_pm(full, seeds)}",
        "",
        "| strategy | AULC | "
        + " | ".join(f"acc@{k}" for k in checkpoints)
        + " | labels to 95% | labels to 98% | saving vs random at 95% |",
        "|---" * (len(checkpoints) + 5) + "|",
    ]
    for s_name, s in sorted(d["strategies"].items(), key=lambda kv: -kv[1]["aulc"]["mean"]):
        n = s["seeds"]
        cells = [_pm(s["aulc"], n)] + [_pm(s["accuracy_at"].get(str(k)), n) for k in checkpoints]
        cells += [_labels(s["labels_to"][str(t)], budget) for t in THRESHOLDS]
        cells.append(_saving(s["saving_95"], s_name))
        lines.append(f"| {s_name} | " + " | ".join(cells) + " |")
    for s_name, reason in d["skipped"].items():
        lines.append(f"| {s_name} | skipped: {reason} |" + " |" * (len(checkpoints) + 3))
    return [*lines, ""]


def overall_table(rows: dict[str, dict], n_datasets: int) -> list[str]:
    lines = [
        "### Overall",
        "",
        "| strategy | mean AULC rank | datasets | mean saving vs random at 95% "
        f"| below {REFERENCE} beyond 2 paired SE | query time vs {REFERENCE} "
        f"({POOL_CAP:,}-row pools) |",
        "|---|---|---|---|---|---|",
    ]
    ranked = sorted(
        (item for item in rows.items() if item[1]["mean_aulc_rank"] is not None),
        key=lambda kv: kv[1]["mean_aulc_rank"],
    )
    for name, r in ranked:
        saving = _saving(r["mean_saving_95"], name)
        if r["mean_saving_95"] is not None:
            saving += f" ({r['saving_datasets']}/{n_datasets} datasets)"
        below = ", ".join(r.get("loses_to_margin", [])) or "—"
        query = f"{r['query_vs_margin']:.1f}x" if r.get("query_vs_margin") else "—"
        lines.append(
            f"| {name} | {r['mean_aulc_rank']:.2f} | {r['datasets']}/{n_datasets} | {saving} "
            f"| {below} | {query} |"
        )
    return [*lines, ""]


def markdown(report: dict, checkpoints: list[int]) -> str:
    p = report["protocol"]
    lines = [
        "## Label efficiency",
        "",
        f"Protocol: {p['initial']} random initial labels, batches of {p['batch']} up to "
        + (f"600 labels, then of {p['late_batch']} up to " if p.get("late_batch") else "")
        + f"{p['budget']} labels, seeds {p['seeds']}; pool ≤ 20,000 and test ≤ 5,000 rows "
        "subsampled with the seed; the default model of a user's config (`build_model`: "
        "LogisticRegression; text through the pool-fitted TF-IDF with distances in its LSA "
        "embedding, mixed tables (adult, kddcup99, mushroom, electricity, wine_quality) from "
        "their raw cells through the tabular encoder, numeric data standardised). "
        "Mean ± std over seeds. AULC = mean test accuracy over all rounds. Labels to X% = first "
        "round whose seed-mean accuracy reaches X% of full-pool accuracy.",
        "",
        f"Command: `{report['command']}`; wall time {report['wall_seconds']:.0f} s.",
        "",
    ]
    for note in report["notes"]:
        lines += [f"Note: {note}", ""]
    for name, d in report["datasets"].items():
        lines += dataset_table(name, d, checkpoints, p["budget"])
    lines += overall_table(report["overall"], len(report["datasets"]))
    lines += ceiling_line(report["datasets"])
    return "\n".join(lines)


def ceiling_line(datasets: dict[str, dict]) -> list[str]:
    """The protocol's bound on the mean saving at 95%: what a strategy reaching 95% right after
    its first chosen batch on every dataset would score."""
    ceilings = [c for d in datasets.values() if (c := d.get("saving_ceiling_95")) is not None]
    if not ceilings:
        return []
    return [
        f"Ceiling of the mean saving vs random at 95% under this protocol: "
        f"{np.mean(ceilings):+.0%}, the mean over the datasets where random reaches 95% "
        f"({len(ceilings)}) for a strategy at 95% one batch after the initial labels on every "
        "one; no strategy can save anything where random reaches 95% at the initial labels or "
        f"one batch later ({sum(c == 0 for c in ceilings)} of them).",
        "",
    ]


def highlighted(strategies: dict) -> list[str]:
    """Random, alflow's default, and the best (by AULC) of alflow, modAL and scikit-activeml."""
    best: dict[str, tuple[float, str]] = {}
    for s_name, s in strategies.items():
        library = s_name.rpartition(":")[0] or "alflow"
        if s.get("aulc") and (library not in best or s["aulc"]["mean"] > best[library][0]):
            best[library] = (s["aulc"]["mean"], s_name)
    default = StrategyConfig().name
    names = ["random", default, *(n for _, n in best.values())]
    return [n for n in dict.fromkeys(names) if n in strategies]


def plot_dataset(name: str, d: dict, path: Path) -> None:
    """Seed-mean learning curves with the 95% and 98% full-pool lines: random, the default and
    each library's best in colour (±1 std band), every other strategy as a thin grey line."""
    if not d["strategies"]:
        return
    fig, ax = plt.subplots(figsize=(10, 6))
    styles = {"modal": "--", "skactiveml": ":"}  # alflow's own strategies are solid lines
    colors = iter(["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"])
    shown = highlighted(d["strategies"])
    for s_name, s in sorted(d["strategies"].items(), key=lambda kv: kv[0] in shown):
        if not s.get("curve"):
            continue
        curve = s["curve"]
        x, y, sd = (np.asarray(curve[k]) for k in ("labels", "accuracy_mean", "accuracy_std"))
        style = styles.get(s_name.rpartition(":")[0], "-")
        if s_name not in shown:
            ax.plot(x, y, style, color="0.75", linewidth=0.8)
            continue
        color = "black" if s_name == "random" else next(colors)
        ax.plot(x, y, style, color=color, linewidth=2.2, label=s_name)
        ax.fill_between(x, y - sd, y + sd, color=color, alpha=0.12)
    full = d["full_pool_accuracy"]["mean"]
    for t in THRESHOLDS:
        ax.axhline(t * full, color="grey", linewidth=0.8, linestyle="-.")
        ax.annotate(f"{t:.0%} of full pool", (ax.get_xlim()[0], t * full), fontsize=8, va="bottom")
    ax.set(
        title=f"{name}: test accuracy vs labels (full pool {full:.3f}; grey: other strategies)",
        xlabel="labels",
        ylabel="test accuracy",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- driver


BASELINE_NOTE = (
    "baselines run in the same loop as simulate (same initial labels, batches and pipeline): "
    "modAL's query functions and scikit-activeml's strategies get the fitted pipeline; "
    f"committees are {COMMITTEE_SIZE} bootstrap members; skactiveml:ProbabilisticAL uses an RBF "
    f"density on standardised features and scores {PAL_CANDIDATES:,} random unlabeled rows a "
    "round (tabular only)"
)


def available_baselines() -> tuple[list[str], list[str]]:
    """Baseline names whose library is importable, and a note for each missing library."""
    names, notes = [], []
    for prefix, (module, strategies) in LIBRARIES.items():
        if find_spec(module) is None:
            notes.append(
                f"{module} is not installed: skipping {prefix}:* (pip install -e '.[bench]')"
            )
        else:
            names += strategies
    return names, notes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated")
    ap.add_argument(
        "--strategies", default=None, help="alflow strategies, comma-separated (default: all)"
    )
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="first seed (runs split over processes share --out-dir: a run with the full "
        "--seeds then reports every kept seed)",
    )
    ap.add_argument("--budget", type=int, default=600)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument(
        "--late-batch",
        type=int,
        default=0,
        help="batch size once 600 labels are reached (long budgets); 0: --batch throughout",
    )
    ap.add_argument("--initial", type=int, default=20)
    ap.add_argument(
        "--text-embedding",
        choices=["lsa", "minilm"],
        default="lsa",
        help="the text datasets' embedding (data.features.text_embedding; minilm: the encoder "
        "extra)",
    )
    ap.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--baseline-names", help="only these baselines, comma-separated")
    ap.add_argument(
        "--replot", type=Path, help="re-render the table and PNGs of a saved JSON report, then stop"
    )
    ap.add_argument(
        "--rerun",
        help="strategies to run again where kept (comma-separated; after their code changed)",
    )
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--datasets-dir", type=Path, default=ROOT / ".." / "shared" / "datasets")
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    return ap.parse_args(argv)


def strategy_names(arg: str | None) -> list[str]:
    """alflow strategies to run (``strategy_config`` names, each checked): ``random`` first,
    then the rest in the given (or registry) order."""
    names = arg.split(",") if arg else [DEFAULT_STRATEGY, *REGISTRY]
    for name in names:
        try:
            strategy_config(name)
        except ValueError as exc:
            raise SystemExit(f"--strategies: {name!r} is not a strategy section: {exc}") from None
    return sorted(dict.fromkeys(names), key=lambda n: n != "random")


def job_path(out_dir: Path, job: Job) -> Path:
    """Where a (dataset, seed)'s campaigns are kept, keyed by everything that shapes their
    results except which strategies run: each strategy's curve is kept once and reused."""
    key = f"{job.initial},{job.batch},{job.budget}"
    if job.late_batch:
        key += f",late{job.late_batch}"
    if job.dataset in TEXT:  # the pool's TF-IDF and its embedding (alflow.data.text_space)
        key += f",pool-tfidf-{job.text_embedding}"
    if job.dataset in TABULAR:  # the raw table through the tabular pipeline
        key += ",tabular-raw"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return out_dir / "jobs" / f"{job.dataset}-seed{job.seed}-{digest}.json"


def _kept(out_dir: Path, job: Job, rerun: frozenset[str]) -> tuple[dict | None, Job | None]:
    """What is kept of ``job`` and the job of the campaigns still to run (None: all kept)."""
    path = job_path(out_dir, job)
    kept = json.loads(path.read_text()) if path.exists() else None
    done = set() if kept is None else (set(kept["curves"]) | set(kept["skipped"])) - rerun
    todo = replace(
        job,
        strategies=tuple(n for n in job.strategies if n not in done),
        baselines=tuple(n for n in job.baselines if n not in done),
    )
    return kept, (todo if todo.strategies or todo.baselines else None)


def _merge(kept: dict | None, new: dict) -> dict:
    """``new`` campaigns over the ``kept`` ones of the same (dataset, seed)."""
    if kept is None:
        return new
    for name in {n for part in PARTS for n in new[part]}:  # a rerun replaces all it had
        for part in PARTS:
            kept[part].pop(name, None)
    for part in PARTS:
        kept[part].update(new[part])
    return kept


def _only(result: dict, job: Job) -> dict:
    """``result`` with the campaigns of ``job``'s strategies and baselines only."""
    names = {*job.strategies, *job.baselines}
    return {**result, **{p: {k: v for k, v in result[p].items() if k in names} for p in PARTS}}


def run_all(
    jobs: list[Job], workers: int, out_dir: Path, rerun: frozenset[str] = frozenset()
) -> list[dict]:
    """Runs the jobs on a process pool, keeping each (dataset, seed)'s campaigns under
    ``out_dir/jobs``: a rerun resumes, and a strategy already run there (a baseline, say) is
    not run again unless named in ``rerun`` (after its code changed)."""
    results, todo = [], {}
    for job in jobs:
        kept, missing = _kept(out_dir, job, rerun)
        if missing is None:
            results.append(_only(kept, job))
            print(f"== {job.dataset} seed={job.seed} kept", flush=True)
        else:
            todo[missing] = (job, kept)
    spawn = multiprocessing.get_context("spawn")  # no forked BLAS or matplotlib state
    with ProcessPoolExecutor(workers, mp_context=spawn, initializer=_init_worker) as pool:
        futures = {pool.submit(run_job, missing): missing for missing in todo}
        for n, future in enumerate(as_completed(futures), 1):
            job, kept = todo[futures[future]]
            merged = _merge(kept, future.result())
            path = job_path(out_dir, job)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(merged, default=str))
            results.append(_only(merged, job))
            print(f"== {job.dataset} seed={job.seed} done ({n}/{len(todo)})", flush=True)
    return sorted(results, key=lambda r: (r["dataset"], r["seed"]))


def build_report(args: argparse.Namespace, results: list[dict], names: list[str]) -> dict:
    checkpoints = [k for k in sorted({*CHECKPOINTS[:-1], args.budget}) if k <= args.budget]
    datasets = {}
    for name in args.datasets.split(","):
        runs = [r for r in results if r["dataset"] == name]
        datasets[name] = summarise_dataset(runs, names, checkpoints)
    return {
        "protocol": {
            "initial": args.initial,
            "batch": args.batch,
            "late_batch": args.late_batch,
            "budget": args.budget,
            "seeds": args.seeds,
            "committee_size": COMMITTEE_SIZE,
            "checkpoints": checkpoints,
        },
        "datasets": datasets,
        "overall": overall(datasets, names),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.replot:
        report = json.loads(args.replot.read_text())
        report["overall"] = overall(report["datasets"], list(report["overall"]))
        write_outputs(report, args.replot.parent)
        return
    started = time.time()
    for name in args.datasets.split(","):
        if name not in LOADERS:
            raise SystemExit(f"unknown dataset {name!r}; known: {', '.join(LOADERS)}")
    strategies = strategy_names(args.strategies)
    baselines, notes = available_baselines() if args.baselines else ([], [])
    if args.baseline_names:
        wanted = args.baseline_names.split(",")
        unknown = sorted(set(wanted) - set(baselines))
        if unknown:
            raise SystemExit(f"unknown or unavailable baselines {unknown}; have {baselines}")
        baselines = [b for b in baselines if b in wanted]
    for note in notes:
        print(note, flush=True)
    if baselines:
        notes.append(BASELINE_NOTE)
    jobs = [
        Job(
            name,
            seed,
            tuple(strategies),
            tuple(baselines),
            args.initial,
            args.batch,
            args.budget,
            args.datasets_dir.resolve(),
            started,
            args.late_batch,
            args.text_embedding,
        )
        for name in args.datasets.split(",")
        for seed in range(args.seed_offset, args.seed_offset + args.seeds)
    ]
    rerun = frozenset(args.rerun.split(",")) if args.rerun else frozenset()
    results = run_all(jobs, args.jobs, args.out_dir, rerun)
    report = build_report(args, results, strategies + baselines)
    report.update(
        command="python benchmarks/label_efficiency.py " + " ".join(sys.argv[1:]),
        wall_seconds=time.time() - started,
        notes=notes,
        runs=[{k: v for k, v in r.items() if k != "curves"} for r in results],
    )
    write_outputs(report, args.out_dir)
    print(f"total wall time {report['wall_seconds']:.1f} s", flush=True)


def write_outputs(report: dict, out_dir: Path) -> None:
    """Prints the table; writes it as markdown, the report as JSON and one PNG per dataset."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(report, report["protocol"]["checkpoints"])
    print(text, flush=True)
    (out_dir / "label_efficiency.md").write_text(text + "\n")
    (out_dir / "label_efficiency.json").write_text(json.dumps(report, indent=1, default=str))
    for name, d in report["datasets"].items():
        plot_dataset(name, d, out_dir / f"curve_{name}.png")


if __name__ == "__main__":
    main()
