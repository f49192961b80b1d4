"""A project's stores, opened lazily: the workspace, the ledger and the MLflow tracker.

Read-only commands (``alflow status``, ``alflow audit``) and ``alflow ingest`` use this alone, so
they import neither the model, scoring and strategy code nor Prefect and Dask, and MLflow only
when they read it.
``alflow.project.Project`` builds on it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from alflow.config import AlflowConfig
from alflow.ledger import Ledger
from alflow.workspace import Workspace


class Stores:
    """The workspace (created if missing), its ledger and its MLflow tracker."""

    def __init__(self, config: AlflowConfig) -> None:
        self.config = config
        self.ws = Workspace.from_config(config)
        self.ws.create()

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.ws.ledger_url)

    @cached_property
    def tracker(self):
        from alflow.tracking.mlflow_tracker import Tracker

        return Tracker(
            self.ws.mlflow_tracking_uri,
            self.ws.mlflow_artifact_location,
            experiment=self.config.project,
            model_name=self.config.registered_model_name,
        )

    def ingest(self, url: str, *, target: str = "pool", progress=None):
        """Add a file's new items to the pool or the evaluation set (``alflow.data.ingest``)."""
        from alflow.data.ingest import ingest_into

        return ingest_into(self.ws, self.config, self.ledger, url, target=target, progress=progress)

    def status(self) -> dict[str, Any]:
        """Items by state, rounds, trainings and the champion, from the ledger alone."""
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
