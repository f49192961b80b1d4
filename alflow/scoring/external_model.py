"""Scoring with a model trained elsewhere: ``model.scoring_uri``.

Any MLflow model whose ``predict`` returns class probabilities (a pyfunc) scores the pool. The
URI is pinned to one version when the round starts (``models:/fraud@champion`` becomes
``models:/fraud/3``), so every partition is scored by the same model and the round records it.
Each Dask worker loads the model once (``tracking.load_pyfunc``) and keeps it.

The model's input is a pandas DataFrame with the config's column names (``numeric``:
``data.features.columns``; ``tabular``: ``numeric`` then ``categorical``, gaps missing),
a list of strings (``text``) or a 2-D float32 array (``embedding``). Its output has one
probability column per class of ``data.labels``: columns named by the labels (a DataFrame, any
order), else in ``data.labels``' order. Anything else is a config error that says what came back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from alflow.config import AlflowConfig
from alflow.context import ProjectContext
from alflow.data.pool import feature_columns, features_of, read_partition
from alflow.errors import ConfigError
from alflow.scoring.compute import on_worker
from alflow.strategies import REGISTRY
from alflow.tracking.mlflow_tracker import load_pyfunc
from alflow.training.model import n_rows

PROBE_ROWS = 16  # pool rows the model scores on a worker before a round opens
SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class PyfuncScorer:
    """A pinned MLflow model with the ``classes_``/``predict_proba`` of a classifier over the
    config's label schema (what scoring, strategies and pseudo-labels call)."""

    uri: str
    tracking_uri: str
    labels: tuple[str, ...]
    feature_kind: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...] = ()

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.labels, dtype=object)

    def predict_proba(self, x) -> np.ndarray:
        """(n, K) probabilities over ``labels`` from the model's ``predict``."""
        model = load_pyfunc(self.uri, self.tracking_uri)
        try:
            out = model.predict(self.model_input(x))
        except Exception as err:  # the user's model may fail in any way on the pool's rows
            said = " ".join(str(err).split())[:300]
            raise ConfigError(
                f"model.scoring_uri: {self.uri} failed to predict {n_rows(x)} pool rows "
                f"({type(err).__name__}: {said}); its input: {self.input_note()}"
            ) from None
        return class_probabilities(out, self.labels, self.uri, n_rows(x))

    def predict(self, x) -> np.ndarray:
        return self.classes_[self.predict_proba(x).argmax(axis=1)]

    def input_note(self) -> str:
        """What ``model_input`` passes, in words (for error messages)."""
        if self.feature_kind == "text":
            return "a list of strings"
        if self.feature_kind == "embedding":
            return "a 2-D float32 array"
        return f"a DataFrame of columns {', '.join([*self.numeric, *self.categorical][:5])}, ..."

    def model_input(self, x):
        """``x`` as the model receives it (see the module's docstring)."""
        if self.feature_kind in ("text", "embedding"):
            return x
        frame = pd.DataFrame(x, columns=[*self.numeric, *self.categorical])
        return frame.astype(dict.fromkeys(self.numeric, np.float64))


def scorer(config: AlflowConfig, uri: str, tracking_uri: str) -> PyfuncScorer:
    """The scorer of the pinned ``uri`` for ``config``'s features and labels."""
    f = config.data.features
    numeric = f.numeric if f.kind == "tabular" else f.columns
    return PyfuncScorer(
        uri, tracking_uri, tuple(config.data.labels), f.kind, tuple(numeric), tuple(f.categorical)
    )


def class_probabilities(out, labels: tuple[str, ...], uri: str, n: int) -> np.ndarray:
    """The model's output as (n, K) probabilities over ``labels``, or a one-line config error."""
    if isinstance(out, pd.DataFrame) and sorted(map(str, out.columns)) == sorted(labels):
        out = out.set_axis([str(c) for c in out.columns], axis=1)[list(labels)]
    try:
        values = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    expected = f"{n} rows x {len(labels)} columns, one per label of data.labels"
    if values is None or values.ndim != 2 or values.shape != (n, len(labels)):
        got = "values that are not numbers" if values is None else f"shape {values.shape}"
        raise ConfigError(
            f"model.scoring_uri: {uri} returned {got}; alflow needs class probabilities, "
            f"{expected} {_preview(labels)} (named by label, or in that order)"
        )
    sums = values.sum(axis=1)
    if not np.isfinite(values).all() or values.min(initial=0) < 0 or values.max(initial=0) > 1:
        raise ConfigError(f"model.scoring_uri: {uri} returned values outside [0, 1]")
    if len(sums) and np.abs(sums - 1).max() > SUM_TOLERANCE:
        raise ConfigError(
            f"model.scoring_uri: {uri} returned rows that sum to {sums.min():.4g} to "
            f"{sums.max():.4g}, not 1: its predict must return class probabilities"
        )
    return values


def _preview(labels: tuple[str, ...]) -> str:
    shown = ", ".join(labels[:5]) + (", ..." if len(labels) > 5 else "")
    return f"({shown})"


def scoring_model(ctx: ProjectContext) -> tuple[PyfuncScorer, str, str]:
    """``(scorer, version, pinned uri)`` of ``model.scoring_uri`` in the project's MLflow."""
    pinned, version = ctx.tracker.pin_model_uri(ctx.config.model.scoring_uri)
    return scorer(ctx.config, pinned, ctx.ws.mlflow_tracking_uri), version, pinned


def check_scoring_model(ctx: ProjectContext, client) -> str:
    """Before a round opens: the model exists, the strategy does not refit it, and on a worker
    it returns probabilities for a few pool rows (that worker keeps it for the scoring pass).
    Returns the pinned URI."""
    cfg = ctx.config
    names = [cfg.strategy.name, *cfg.strategy.params.get("arms", [])]
    refits = [n for n in names if n in REGISTRY and "estimator" in REGISTRY[n].needs]
    if refits:
        raise ConfigError(
            f"strategy: {refits[0]} refits the scoring model for each candidate, which "
            "model.scoring_uri cannot do; choose another strategy"
        )
    model, _, pinned = scoring_model(ctx)
    if ctx.ledger.partitions("pool"):
        said = on_worker(client, probe, model, ctx.partition_urls()[0], cfg.data.features.kind)
        if said is not None:
            raise ConfigError(said)
    return pinned


def probe(model: PyfuncScorer, url: str, kind: str) -> str | None:
    """Score the first rows of a partition: the config error it raises (returned, so the
    worker does not log it as a failed task), or None."""
    table = read_partition(url, ["item_id", *feature_columns(kind)]).slice(0, PROBE_ROWS)
    try:
        model.predict_proba(features_of(table, kind))
    except ConfigError as err:
        return str(err)
    return None
