"""Rounds and their batches: open a round, record its selection once, its export once."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, select, update

from alflow.errors import LedgerError
from alflow.ledger.bulk import set_items, states_of
from alflow.ledger.records import ExportRecord, RoundRecord, record
from alflow.ledger.schema import Export, Round, Selection
from alflow.ledger.states import UNFINISHED_ROUND, ItemState, RoundStatus, SelectionReason
from alflow.ledger.store import LedgerStore, insert_many


class RoundsLedger(LedgerStore):
    """Rounds, selections and exports."""

    def open_round(
        self, *, strategy: str, batch_size: int, seed: int, config_hash: str
    ) -> tuple[RoundRecord, bool]:
        """The round to work on: an unfinished one (resumed) or a new one. Returns (round, new)."""
        with self.transaction() as s:
            last = s.execute(select(Round).order_by(Round.id.desc()).limit(1)).scalar()
            if last is not None and last.status in UNFINISHED_ROUND:
                return record(RoundRecord, last), False
            r = Round(
                id=(last.id + 1) if last else 1,
                strategy=strategy,
                batch_size=batch_size,
                seed=seed,
                config_hash=config_hash,
            )
            s.add(r)
            s.flush()
            return record(RoundRecord, r), True

    def update_round(self, round_id: int, **fields: Any) -> None:
        with self.transaction() as s:
            s.execute(update(Round).where(Round.id == round_id).values(**fields))

    def get_round(self, round_id: int) -> RoundRecord:
        with self.transaction() as s:
            r = s.get(Round, round_id)
            if r is None:
                raise LedgerError(f"round {round_id} does not exist")
            return record(RoundRecord, r)

    def rounds(self) -> pd.DataFrame:
        with self.transaction() as s:
            rows = s.execute(select(Round).order_by(Round.id)).scalars().all()
            return pd.DataFrame(
                [
                    {
                        "round": r.id,
                        "status": r.status,
                        "strategy": r.strategy,
                        "batch": r.batch_size,
                        "model_version": r.model_version,
                        "mlflow_run_id": r.mlflow_run_id,
                    }
                    for r in rows
                ]
            )

    def last_round_id(self) -> int | None:
        with self.transaction() as s:
            return s.execute(select(func.max(Round.id))).scalar()

    def last_exported_round_id(self) -> int | None:
        """The latest round whose batch reached a vendor (what a retrain belongs to)."""
        with self.transaction() as s:
            return s.execute(select(func.max(Export.round_id))).scalar()

    def record_selection(self, round_id: int, batch: pd.DataFrame) -> int:
        """Mark the batch selected in round ``round_id``, once. Returns items newly selected.

        ``batch`` has ``item_id``, ``rank``, ``utility``, ``predicted_label``,
        ``predicted_score`` and any number of score-component columns.
        """
        fixed = {"item_id", "rank", "utility", "predicted_label", "predicted_score", "reason"}
        components = [c for c in batch.columns if c not in fixed]
        with self.transaction() as s:
            already = s.execute(
                select(func.count()).select_from(Selection).where(Selection.round_id == round_id)
            ).scalar_one()
            if already:
                return 0
            ids = batch["item_id"].tolist()
            states = states_of(s, ids)
            free = len({i for i in ids if states.get(i) == ItemState.UNLABELED})
            if free != len(ids):
                raise LedgerError(
                    f"round {round_id}: {len(ids) - free} of {len(ids)} selected items are "
                    "not unlabeled (already selected, labeled or unknown); nothing was recorded"
                )
            changed = set_items(s, ids, state=ItemState.SELECTED, round_id=round_id)
            insert_many(s, Selection.__table__, _selection_columns(round_id, batch, components))
            s.execute(update(Round).where(Round.id == round_id).values(status=RoundStatus.SELECTED))
            return changed

    def selection(self, round_id: int) -> pd.DataFrame:
        """The round's batch in rank order, score components as columns."""
        with self.transaction() as s:
            rows = s.execute(
                select(Selection).where(Selection.round_id == round_id).order_by(Selection.rank)
            ).scalars()
            records = [
                {
                    "item_id": r.item_id,
                    "rank": r.rank,
                    "utility": r.utility,
                    "predicted_label": r.predicted_label,
                    "predicted_score": r.predicted_score,
                    "reason": r.reason,
                    **r.components,
                }
                for r in rows
            ]
        return pd.DataFrame.from_records(records)

    def selected_ids(self, reason: str, before_round: int | None = None) -> list[str]:
        """Items selected for ``reason`` (e.g. ``control``), in rounds before ``before_round``."""
        with self.transaction() as s:
            query = select(Selection.item_id).where(Selection.reason == reason)
            if before_round is not None:
                query = query.where(Selection.round_id < before_round)
            return list(s.execute(query.order_by(Selection.item_id)).scalars())

    def export_of(self, round_id: int) -> ExportRecord | None:
        with self.transaction() as s:
            row = s.execute(select(Export).where(Export.round_id == round_id)).scalar()
            return None if row is None else record(ExportRecord, row)

    def record_export(
        self, round_id: int, *, vendor: str, uri: str, n_rows: int, sha256: str
    ) -> bool:
        """Record the round's export and move its items to ``exported``, once.

        Returns False when the round was already exported (nothing changes).
        """
        with self.transaction() as s:
            if s.execute(select(Export.id).where(Export.round_id == round_id)).scalar():
                return False
            s.add(Export(round_id=round_id, vendor=vendor, uri=uri, n_rows=n_rows, sha256=sha256))
            batch = s.execute(select(Selection.item_id).where(Selection.round_id == round_id))
            states = states_of(s, batch.scalars())
            waiting = [i for i, st in states.items() if st == ItemState.SELECTED]
            set_items(s, waiting, state=ItemState.EXPORTED)
            s.execute(update(Round).where(Round.id == round_id).values(status=RoundStatus.EXPORTED))
            return True

    def exported_batch(self, round_id: int) -> set[str] | None:
        """The item ids handed to a vendor in round ``round_id``; None if it was never exported."""
        with self.transaction() as s:
            if s.execute(select(Export.id).where(Export.round_id == round_id)).scalar() is None:
                return None
            ids = s.execute(select(Selection.item_id).where(Selection.round_id == round_id))
            return set(ids.scalars())


def _selection_columns(round_id: int, batch: pd.DataFrame, components: list[str]) -> dict:
    """The ``selections`` rows of ``batch`` as columns of plain Python values (NaN as NULL;
    a component is stored where it is not NaN)."""

    def plain(column: str) -> list[Any]:
        values = batch[column].astype(object)
        return values.where(values.notna(), None).tolist()

    parts = batch[components].astype(float).to_dict("records")  # [{}, ...] without any
    reasons = batch["reason"] if "reason" in batch else [SelectionReason.STRATEGY] * len(batch)
    return {
        "round_id": [round_id] * len(batch),
        "item_id": batch["item_id"].tolist(),
        "rank": batch["rank"].astype(int).tolist(),
        "utility": batch["utility"].astype(float).tolist(),
        "components": [{c: v for c, v in p.items() if pd.notna(v)} for p in parts],
        "predicted_label": plain("predicted_label"),
        "predicted_score": plain("predicted_score"),
        "reason": [str(r) for r in reasons],
    }
