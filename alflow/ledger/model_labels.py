"""Labels that did not come from a person: pseudo-labels (CEAL) and imported weak labels."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from alflow.ledger.schema import Item, ModelLabel
from alflow.ledger.states import ItemState, ModelLabelKind
from alflow.ledger.store import LedgerStore, chunks


class ModelLabelsLedger(LedgerStore):
    """Pseudo- and weak labels, used for training only."""

    def record_pseudo_labels(self, round_id: int, frame: pd.DataFrame) -> int:
        """Replace round ``round_id``'s pseudo-labels (``item_id``, ``label``, ``confidence``)."""
        with self.transaction() as s:
            s.execute(
                delete(ModelLabel).where(
                    ModelLabel.kind == ModelLabelKind.PSEUDO, ModelLabel.round_id == round_id
                )
            )
            self._insert_model_labels(
                s, frame, kind=ModelLabelKind.PSEUDO, round_id=round_id, source=None
            )
            return len(frame)

    def record_weak_labels(self, frame: pd.DataFrame, source: str) -> int:
        """Store weak labels (``item_id``, ``label``, ``confidence``) in one transaction: each
        replaces the item's earlier weak label. Returns how many rows are new or changed (a
        re-import of the same file changes none)."""
        with self.transaction() as s:
            before = self._weak_of(s, frame["item_id"].tolist())
            changed = frame[
                [
                    before.get(i) != (label, float(c))
                    for i, label, c in zip(
                        frame["item_id"], frame["label"], frame["confidence"], strict=True
                    )
                ]
            ]
            for chunk in chunks(changed["item_id"].tolist()):
                s.execute(
                    delete(ModelLabel).where(
                        ModelLabel.kind == ModelLabelKind.WEAK, ModelLabel.item_id.in_(chunk)
                    )
                )
            self._insert_model_labels(
                s, changed, kind=ModelLabelKind.WEAK, round_id=None, source=source
            )
            return len(changed)

    def _weak_of(self, s: Session, item_ids: Sequence[str]) -> dict[str, tuple[str, float]]:
        out = {}
        for chunk in chunks(sorted(set(item_ids))):
            rows = s.execute(
                select(ModelLabel.item_id, ModelLabel.label, ModelLabel.confidence).where(
                    ModelLabel.kind == ModelLabelKind.WEAK, ModelLabel.item_id.in_(chunk)
                )
            )
            out.update({i: (label, conf) for i, label, conf in rows})
        return out

    @staticmethod
    def _insert_model_labels(
        s: Session,
        frame: pd.DataFrame,
        *,
        kind: ModelLabelKind,
        round_id: int | None,
        source: str | None,
    ) -> None:
        if len(frame):
            s.execute(
                ModelLabel.__table__.insert(),
                [
                    {
                        "kind": kind,
                        "round_id": round_id,
                        "item_id": r["item_id"],
                        "label": r["label"],
                        "confidence": float(r["confidence"]),
                        "source": source,
                    }
                    for r in frame.to_dict("records")
                ],
            )

    def pseudo_labels(self) -> pd.DataFrame:
        """The latest round's pseudo-labels of items that are still unlabeled."""
        with self.transaction() as s:
            latest = s.execute(
                select(func.max(ModelLabel.round_id)).where(
                    ModelLabel.kind == ModelLabelKind.PSEUDO
                )
            ).scalar()
            rows = s.execute(
                select(ModelLabel.item_id, ModelLabel.label)
                .join(Item, Item.item_id == ModelLabel.item_id)
                .where(
                    ModelLabel.kind == ModelLabelKind.PSEUDO,
                    ModelLabel.round_id == latest,
                    Item.state == ItemState.UNLABELED,
                )
                .order_by(ModelLabel.item_id)
            )
            return pd.DataFrame(rows.tuples().all(), columns=["item_id", "label"])

    def weak_labels(self) -> pd.DataFrame:
        """Weak labels (``item_id``, ``label``, ``confidence``) of items without a human label:
        an item that people labeled, or that awaits adjudication, no longer uses its weak label."""
        with self.transaction() as s:
            rows = s.execute(
                select(ModelLabel.item_id, ModelLabel.label, ModelLabel.confidence)
                .join(Item, Item.item_id == ModelLabel.item_id)
                .where(
                    ModelLabel.kind == ModelLabelKind.WEAK,
                    Item.state.not_in((ItemState.LABELED, ItemState.NEEDS_RELABEL)),
                )
                .order_by(ModelLabel.item_id)
            )
            return pd.DataFrame(rows.tuples().all(), columns=["item_id", "label", "confidence"])

    def weak_label_count(self) -> int:
        with self.transaction() as s:
            return s.execute(
                select(func.count())
                .select_from(ModelLabel)
                .where(ModelLabel.kind == ModelLabelKind.WEAK)
            ).scalar_one()
