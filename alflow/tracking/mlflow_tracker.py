"""The MLflow owner: one run per round, the model registry and the ``champion`` alias.

Every round's run holds the resolved config, strategy parameters, pool hash, the model version used
for scoring, the selected batch with every score component, the score distributions, label counts,
evaluation metrics and the registered model, so a round can be audited from MLflow alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from alflow.config import redact_url
from alflow.csvsafe import read_csv, write_csv
from alflow.errors import ConfigError
from alflow.stages import timed_methods
from alflow.training.skops_import import import_skops_io

skops_io = import_skops_io()
logger = logging.getLogger(__name__)
CHAMPION = "champion"
BATCH_PARAMS = 100  # MLflow's bound on params and tags per log_batch call
# Logging a model without this list makes MLflow infer requirements: 6-8 s instead of about 1 s.
PIP_REQUIREMENTS = [
    f"scikit-learn=={__import__('sklearn').__version__}",
    f"numpy=={__import__('numpy').__version__}",
]


@timed_methods("mlflow logging")
class Tracker:
    """MLflow for one project: an experiment, a registered model name, runs per round."""

    def __init__(
        self, tracking_uri: str, artifact_location: str | None, experiment: str, model_name: str
    ):
        self.uri = tracking_uri
        self.client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
        self.model_name = model_name
        exp = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (
            exp.experiment_id
            if exp is not None
            else self.client.create_experiment(experiment, artifact_location=artifact_location)
        )

    def _activate(self) -> None:
        """Point MLflow's process-global (fluent) API at this project's backend.

        Several projects with different backends can live in one process (tests, the demo);
        every fluent call goes through here first.
        """
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)

    # ------------------------------------------------------------------ runs
    def create_run(self, round_id: int, tags: dict[str, str]) -> str:
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"round-{round_id:04d}",
            tags={"alflow.round": str(round_id), **tags},
        )
        return run.info.run_id

    @contextmanager
    def run(self, run_id: str) -> Iterator[str]:
        """Resume a round's run; it stays open (RUNNING) until ``finish`` is called."""
        self._activate()
        with mlflow.start_run(run_id=run_id, experiment_id=self.experiment_id) as run:
            yield run.info.run_id

    def unfinished_runs(self, round_id: int) -> list[str]:
        """Ids of the round's runs still marked RUNNING (found by the ``alflow.round`` tag)."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`alflow.round` = '{round_id}' and attributes.status = 'RUNNING'",
        )
        return [r.info.run_id for r in runs]

    def restart_run(self, round_id: int, previous: str | None) -> str:
        """A new run for a round whose last attempt died: it starts with a copy of ``previous``'s
        tags, params, metrics and artifacts; ``previous`` and every RUNNING run of the round are
        then marked FAILED. Returns the new run's id."""
        tags = {"alflow.round": str(round_id)}
        if previous is not None:
            tags |= {
                k: v
                for k, v in self.client.get_run(previous).data.tags.items()
                if not k.startswith("mlflow.") and k not in ("alflow.replaced_by",)
            }
            tags["alflow.replaces"] = previous
        new = self.create_run(round_id, tags)
        if previous is not None:
            self._copy(previous, new)
        for run_id in {*self.unfinished_runs(round_id), *([previous] if previous else [])}:
            if run_id != new:
                self.client.set_tag(run_id, "alflow.replaced_by", new)
                self.finish(run_id, "FAILED")
        return new

    def _copy(self, source: str, dest: str) -> None:
        """Params, metric histories and artifacts of ``source`` into ``dest``."""
        data = self.client.get_run(source).data
        self._batch(dest, params=[Param(k, v) for k, v in data.params.items()])
        history = [m for key in data.metrics for m in self.client.get_metric_history(source, key)]
        self._batch(dest, metrics=history)
        if self.client.list_artifacts(source):
            with tempfile.TemporaryDirectory() as tmp:
                local = self.client.download_artifacts(source, "", tmp)
                self.client.log_artifacts(dest, local)

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    def run_status(self, run_id: str) -> str:
        return self.client.get_run(run_id).info.status

    def run_state(self, run_id: str) -> tuple[str, dict[str, str]]:
        """``(status, tags)`` of a run."""
        run = self.client.get_run(run_id)
        return run.info.status, run.data.tags

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self._batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Log params once; a rerun that logs the same values again is harmless."""
        existing = self.client.get_run(run_id).data.params
        new = [Param(k, str(v)[:6000]) for k, v in params.items() if k not in existing]
        self._batch(run_id, params=new)

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        self._batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])

    def _batch(
        self,
        run_id: str,
        *,
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        metrics: Sequence[Metric] = (),
    ) -> None:
        """Params, tags and metrics in as few round trips as MLflow's batch bounds allow."""
        for i in range(0, len(params), BATCH_PARAMS):
            self.client.log_batch(run_id, params=params[i : i + BATCH_PARAMS])
        for i in range(0, len(tags), BATCH_PARAMS):
            self.client.log_batch(run_id, tags=tags[i : i + BATCH_PARAMS])
        for i in range(0, len(metrics), 10 * BATCH_PARAMS):
            self.client.log_batch(run_id, metrics=metrics[i : i + 10 * BATCH_PARAMS])

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_dict(self, run_id: str, data: dict, artifact_file: str) -> None:
        self.client.log_dict(run_id, data, artifact_file)

    def log_file(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def log_frame(
        self, run_id: str, frame: pd.DataFrame, artifact_file: str, artifact_path: str | None = None
    ) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / artifact_file
            write_csv(frame, path)
            self.client.log_artifact(run_id, str(path), artifact_path)

    def download(self, run_id: str, artifact: str, dest: str) -> Path:
        """One artifact of a run, downloaded into ``dest``."""
        return Path(self.client.download_artifacts(run_id, artifact, dest))

    def round_run_id(self, round_id: int) -> str | None:
        """The MLflow run of a round, found by its ``alflow.round`` tag (the latest one)."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`alflow.round` = '{round_id}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def model_uri(self, version: str) -> str:
        return f"models:/{self.model_name}/{version}"

    # -------------------------------------------------------------- registry
    def log_model(self, run_id: str, model, input_example=None) -> str:
        """Log and register the model from inside the run; return the new version.

        MLflow prints "Created version N" straight to stderr; that goes to the debug log instead.
        The types the model is made of are recorded as trusted for skops: alflow built it from
        the config (a user's own estimator is named there, ``model.estimator``).
        """
        trusted = skops_io.get_untrusted_types(data=skops_io.dumps(model))
        with self.run(run_id), contextlib.redirect_stderr(io.StringIO()) as said:
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=self.model_name,
                pip_requirements=PIP_REQUIREMENTS,
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                input_example=input_example,
                skops_trusted_types=trusted or None,
            )
        logger.debug("mlflow: %s", said.getvalue().strip())
        return str(info.registered_model_version)

    def champion(self) -> tuple[str, str] | None:
        """``(version, models:/ URI)`` of the champion, or None before the first promotion."""
        try:
            mv = self.client.get_model_version_by_alias(self.model_name, CHAMPION)
        except MlflowException as err:
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None  # no registered model or no alias yet
            raise  # an unreachable server must not look like "no champion"
        return str(mv.version), f"models:/{self.model_name}@{CHAMPION}"

    def load(self, uri: str):
        self._activate()
        return mlflow.sklearn.load_model(uri)

    def pin_model_uri(self, uri: str) -> tuple[str, str]:
        """``(uri of one fixed model, its version)`` for a ``model.scoring_uri``.

        ``models:/name@alias`` and ``models:/name/N`` pin to ``models:/name/N`` (version
        ``N``); ``runs:/<run id>/path`` stays as it is (version: the run id); any other URI
        (``models:/<model id>``, a path) is taken as it is, its version a hash of it.
        """
        try:
            if uri.startswith("models:/") and "@" in uri:
                name, alias = uri.removeprefix("models:/").split("@", 1)
                mv = self.client.get_model_version_by_alias(name, alias)
                return f"models:/{name}/{mv.version}", str(mv.version)
            name, _, version = uri.removeprefix("models:/").rpartition("/")
            if uri.startswith("models:/") and version.isdigit():
                self.client.get_model_version(name, version)
                return uri, version
            if uri.startswith("runs:/"):
                run_id = uri.removeprefix("runs:/").split("/", 1)[0]
                self.client.get_run(run_id)
                return uri, run_id
        except MlflowException as err:
            raise ConfigError(
                f"model.scoring_uri: {uri} is not in the MLflow at {redact_url(self.uri)} "
                f"({err.error_code}: {_first_line(err.message)})"
            ) from None
        return uri, f"uri-{hashlib.sha256(uri.encode()).hexdigest()[:12]}"

    def promote(self, version: str) -> None:
        self.client.set_registered_model_alias(self.model_name, CHAMPION, version)

    def runs(self) -> pd.DataFrame:
        self._activate()
        return mlflow.search_runs([self.experiment_id], order_by=["attributes.start_time ASC"])


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


_PYFUNCS: dict[tuple[str, str], Any] = {}
_PYFUNC_LOCK = threading.Lock()
PYFUNC_LOADS: list[str] = []  # every model URI this process loaded, in order (tests count)
KEEP_PYFUNCS = 2  # a long-lived worker keeps the last models it scored with, not every one


def load_pyfunc(uri: str, tracking_uri: str):
    """The MLflow model at ``uri`` as a pyfunc, loaded once per process and kept: a Dask worker
    loads it for its first partition, its other partitions (and rounds) reuse it."""
    key = (tracking_uri, uri)
    with _PYFUNC_LOCK:
        if key not in _PYFUNCS:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(tracking_uri)
            try:
                with warnings.catch_warnings():  # advice to the model's author, not the user
                    warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
                    model = mlflow.pyfunc.load_model(uri)
            except (MlflowException, OSError) as err:
                raise ConfigError(
                    f"model.scoring_uri: cannot load {uri} "
                    f"({type(err).__name__}: {_first_line(str(err))})"
                ) from None
            while len(_PYFUNCS) >= KEEP_PYFUNCS:
                _PYFUNCS.pop(next(iter(_PYFUNCS)))
            _PYFUNCS[key] = model
            PYFUNC_LOADS.append(uri)
        return _PYFUNCS[key]


def flatten(prefix: str, data: Any) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay JSON), for ``log_params``."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: json.dumps(data) if isinstance(data, list) else data}


def read_run_csv(tracker: Tracker, run_id: str, artifact: str) -> pd.DataFrame:
    """A CSV artifact of a run, read back (e.g. the labels a model was trained on)."""
    with tempfile.TemporaryDirectory() as tmp:
        return read_csv(tracker.client.download_artifacts(run_id, artifact, tmp))
