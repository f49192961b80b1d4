"""What every use case of a project works with: the config, the workspace, the ledger, the
tracker, the vendor, and the pool rows of given items."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from alflow.data.pool import feature_columns, fetch_items, join, pool_hash
from alflow.data.text_space import TextSpace, load_text_space
from alflow.handles import Stores
from alflow.labels.resolution import Policy
from alflow.scoring.score_cache import ScoreCache
from alflow.training.labeled_features import LabeledFeatures
from alflow.vendors.registry import make_vendor


class ProjectContext(Stores):
    """A validated config with its workspace and the services it opens on first use (the
    stores every command shares: ``alflow.handles``)."""

    @cached_property
    def vendor(self):
        return make_vendor(self.config, self.ws.exports_dir)

    @cached_property
    def policy(self) -> Policy:
        return Policy(self.config.resolution)

    @cached_property
    def score_cache(self) -> ScoreCache:
        return ScoreCache(self.ws.root / "scores")

    @cached_property
    def text_space(self) -> TextSpace | None:
        """A text pool's vectoriser and embedding, fitted at its first ingest (or None)."""
        return load_text_space(self.ws.text_space)

    @cached_property
    def labeled_features(self) -> LabeledFeatures:
        kind = self.config.data.features.kind
        return LabeledFeatures(
            self.ws.root / "labeled_features",
            kind,
            lambda ids: self.pool_rows(ids, feature_columns(kind)),
        )

    @property
    def labels(self) -> list[str]:
        return self.config.data.labels

    @property
    def stop_set_path(self) -> Path:
        return self.ws.root / "stop_set.parquet"

    def partition_urls(self, target: str = "pool") -> list[str]:
        base = self.ws.pool_url if target == "pool" else self.ws.eval_url
        return [join(base, name) for name, _ in self.ledger.partitions(target)]

    def pool_hash(self) -> str:
        return pool_hash(self.ledger.partitions("pool"))

    def pool_rows(self, item_ids, columns: list[str]) -> pa.Table:
        """The given items' pool rows (``item_id`` and ``columns``), one partition at a time."""
        return fetch_items(self.ws.pool_url, self.ledger.locations(item_ids), columns)

    def labeled_data(self, item_ids: pd.Series) -> Any:
        """The features of ``item_ids`` in their order, from the labeled-features store (which
        reads the pool only for items it does not hold yet)."""
        return self.labeled_features.features(item_ids.tolist())

    def restart_run(self, round_id: int) -> str:
        """Replace the round's run (and any orphan RUNNING run of the round) with a new one."""
        previous = self.ledger.get_round(round_id).mlflow_run_id
        run_id = self.tracker.restart_run(round_id, previous)
        self.ledger.update_round(round_id, mlflow_run_id=run_id)
        return run_id

    def round_run_id(self, round_id: int) -> str | None:
        """The MLflow run of round ``round_id``."""
        return self.ledger.get_round(round_id).mlflow_run_id
