"""Trainings: the model retrained after each round, its metrics, whether it was promoted."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select, update

from alflow.ledger.schema import Round, Training
from alflow.ledger.states import RoundStatus
from alflow.ledger.store import LedgerStore


class TrainingLedger(LedgerStore):
    """One training record per round."""

    def training_of_version(self, version: str) -> dict[str, Any] | None:
        """The training that produced a registered model version."""
        with self.transaction() as s:
            t = s.execute(select(Training).where(Training.model_version == version)).scalar()
            if t is None:
                return None
            run_id = s.get(Round, t.round_id).mlflow_run_id
            return {
                "round": t.round_id,
                "labels": t.n_labels,
                "promoted": t.promoted,
                "mlflow_run_id": run_id,
                **t.metrics,
            }

    def record_training(
        self,
        round_id: int,
        *,
        model_version: str | None,
        n_labels: int,
        metrics: dict[str, float],
        promoted: bool,
    ) -> None:
        """Record the model trained after round ``round_id`` (replaces a retried record)."""
        with self.transaction() as s:
            existing = s.execute(select(Training).where(Training.round_id == round_id)).scalar()
            if existing is not None:
                s.delete(existing)
                s.flush()
            s.add(
                Training(
                    round_id=round_id,
                    model_version=model_version,
                    n_labels=n_labels,
                    metrics=metrics,
                    promoted=promoted,
                )
            )
            s.execute(
                update(Round)
                .where(
                    Round.id == round_id,
                    Round.status.in_((RoundStatus.EXPORTED, RoundStatus.TRAINED)),
                )
                .values(status=RoundStatus.TRAINED)
            )

    def trainings(self) -> pd.DataFrame:
        with self.transaction() as s:
            rows = s.execute(select(Training).order_by(Training.round_id)).scalars().all()
            return pd.DataFrame(
                [
                    {
                        "round": t.round_id,
                        "model_version": t.model_version,
                        "labels": t.n_labels,
                        "promoted": t.promoted,
                        **t.metrics,
                    }
                    for t in rows
                ]
            )
