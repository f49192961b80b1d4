"""A project: the facade flows, the CLI and tests call. Each method is one use case, implemented
in its own module over pure policy functions:

- ``alflow.rounds.opening``: open a round, record its selection (``alflow.selection.batch``
  builds the batch, ``alflow.selection.policy`` decides strategy and shares);
- ``alflow.rounds.export``: hand the batch to the vendor, the simulated annotator;
- ``alflow.labels.importing``: labels and weak labels back, validated, exactly once;
- ``alflow.training.retrain``: retrain, evaluate, register, promote;
- ``alflow.rounds.operations``: scheduling guards, the stop record (the status: ``alflow.handles``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from alflow.context import ProjectContext
from alflow.labels import importing
from alflow.labels.importing import ImportReport, WeakImportReport
from alflow.rounds import export, opening, operations
from alflow.rounds.opening import REPLAY_DIR, RoundStart
from alflow.scoring import external_model
from alflow.scoring.score import PartitionScores
from alflow.selection import pool_index_source
from alflow.selection.batch import Progress, compute_selection
from alflow.selection.policy import SelectionInputs
from alflow.training import retrain
from alflow.training.retrain import TrainReport

__all__ = [
    "REPLAY_DIR",
    "ImportReport",
    "Project",
    "RoundStart",
    "SelectionInputs",
    "TrainReport",
    "WeakImportReport",
]


class Project(ProjectContext):
    """Everything a round needs, opened from a validated config."""

    # ----------------------------------------------------------------- rounds
    def next_round_id(self) -> int:
        return opening.next_round_id(self)

    def start_round(self, flow_run_id: str | None = None) -> RoundStart:
        return opening.start_round(self, flow_run_id)

    def scoring_model(self) -> tuple[Any, str | None, str | None]:
        return opening.scoring_model(self)

    def select(self, round_id: int, client, on_partition: Progress | None = None) -> pd.DataFrame:
        return opening.select(self, round_id, client, on_partition)

    def selection_inputs(self, round_id: int, model, version: str | None) -> SelectionInputs:
        return opening.selection_inputs(self, round_id, model, version)

    def compute_selection(
        self, inputs: SelectionInputs, model, client, on_partition=None, cache=None
    ) -> tuple[pd.DataFrame, PartitionScores]:
        return compute_selection(self, inputs, model, client, on_partition, cache)

    def uses_pool_index(self) -> bool:
        return pool_index_source.uses_pool_index(self)

    def pool_index(self):
        return pool_index_source.pool_index(self)

    # --------------------------------------------------------- export, labels
    def export(self, round_id: int) -> dict[str, Any]:
        return export.export(self, round_id)

    def simulate_annotation(self, round_id: int) -> Path:
        return export.simulate_annotation(self, round_id)

    def pull_labels(self) -> Path:
        return importing.pull_labels(self)

    def import_labels(self, path: str | Path, full_state: bool = False) -> ImportReport:
        return importing.import_labels(self, path, full_state)

    def import_weak_labels(self, path: str | Path) -> WeakImportReport:
        return importing.import_weak_labels(self, path)

    def check_trainable(self) -> None:
        retrain.check_trainable(self)

    def check_scoring_model(self, client) -> str:
        return external_model.check_scoring_model(self, client)

    def retrain(self, round_id: int | None = None, flow_run_id: str | None = None) -> TrainReport:
        return retrain.retrain(self, round_id, flow_run_id)

    # ------------------------------------------------------------- operations
    def round_lock(self):
        return operations.round_lock(self)

    @property
    def inbox(self) -> Path:
        return operations.inbox(self)

    def new_label_files(self) -> list[Path]:
        return operations.new_label_files(self)

    def needs_training(self) -> bool:
        return operations.needs_training(self)

    def campaign_curve(self) -> list[dict]:
        return operations.campaign_curve(self)

    def record_stop(self, reason: str) -> bool:
        return operations.record_stop(self, reason)
