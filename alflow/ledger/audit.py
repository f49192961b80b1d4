"""The audit trail: per-round summaries, one item's history, every label event."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alflow.labels.votes import EventRow, standings
from alflow.ledger.labels import LabelsLedger
from alflow.ledger.schema import (
    AnnotationEvent,
    Export,
    Import,
    Item,
    ResolvedLabel,
    Round,
    Selection,
    Training,
)
from alflow.ledger.states import ItemState
from alflow.ledger.votes import vote_rows

ANNOTATION_COLUMNS = ["event", "item_id", "round", "kind", "annotator", "label", "ref", "at"]
ANNOTATION_COLUMNS += ["status", "by"]


def _count_by_round(s: Session, query: Any) -> dict[int, int]:
    return dict(s.execute(query).tuples().all())


def _round_counts(s: Session) -> dict[str, dict[int, int]]:
    """Per round: items selected, items with labels back, items awaiting adjudication."""
    back = func.count(func.distinct(AnnotationEvent.item_id))
    return {
        "selected": _count_by_round(
            s, select(Selection.round_id, func.count()).group_by(Selection.round_id)
        ),
        "labeled_back": _count_by_round(
            s, select(AnnotationEvent.round_id, back).group_by(AnnotationEvent.round_id)
        ),
        "needs_adjudication": _count_by_round(
            s,
            select(Item.round_id, func.count())
            .where(Item.state == ItemState.NEEDS_RELABEL)
            .group_by(Item.round_id),
        ),
    }


def _round_row(r: Round, t: Training | None, counts: dict[str, dict[int, int]]) -> dict:
    return {
        "round": r.id,
        "status": r.status,
        "strategy": r.strategy,
        **{name: by_round.get(r.id, 0) for name, by_round in counts.items()},
        "scored_with": r.model_version,
        "trained_version": t.model_version if t else None,
        "accuracy": t.metrics.get("accuracy") if t else None,
        "macro_f1": t.metrics.get("macro_f1") if t else None,
        "promoted": t.promoted if t else None,
        "config_hash": r.config_hash,
    }


def _selections(s: Session, item_id: str) -> list[dict[str, Any]]:
    rows = s.execute(
        select(Selection).where(Selection.item_id == item_id).order_by(Selection.round_id)
    ).scalars()
    return [
        {
            "round": x.round_id,
            "rank": x.rank,
            "utility": x.utility,
            "predicted_label": x.predicted_label,
            **x.components,
        }
        for x in rows
    ]


def _exports(s: Session, round_ids: list[int]) -> list[dict[str, Any]]:
    rows = s.execute(select(Export).where(Export.round_id.in_(round_ids))).scalars()
    exports = {e.round_id: e for e in rows}
    return [
        {"round": e.round_id, "vendor": e.vendor, "uri": e.uri, "at": e.created_at.isoformat()}
        for e in exports.values()
    ]


def _annotations(s: Session, item_id: str) -> list[dict[str, Any]]:
    """The item's events in import order, each with its standing under the vote rules."""
    rows = vote_rows(s, [item_id])
    standing = standings(rows)
    query = (
        select(AnnotationEvent.id, Import.source)
        .join(Import, Import.id == AnnotationEvent.import_id)
        .where(AnnotationEvent.item_id == item_id)
    )
    sources = dict(s.execute(query).tuples().all())
    return [
        {
            "event": e.id,
            "kind": e.kind,
            "label": e.label,
            "annotator": e.annotator,
            "ref": e.ref,
            "source": sources[e.id],
            "given_at": e.at.isoformat() if e.at else None,
            "at": e.arrived.isoformat(),
            "status": standing[e.id].status,
            "by": standing[e.id].by,
        }
        for e in rows
    ]


def _event_cells(e: EventRow) -> tuple:
    return e.id, e.item_id, e.round_id, e.kind, e.annotator, e.label, e.ref, e.at or e.arrived


class AuditLedger(LabelsLedger):
    """Read-only views over the whole history."""

    def round_summary(self) -> pd.DataFrame:
        """One row per round: what chose the batch, what came back, what it trained."""
        with self.transaction() as s:
            counts = _round_counts(s)
            trained = {t.round_id: t for t in s.execute(select(Training)).scalars()}
            rows = [
                _round_row(r, trained.get(r.id), counts)
                for r in s.execute(select(Round).order_by(Round.id)).scalars()
            ]
        for row in rows:
            agree = self.round_agreement(row["round"])
            row["agreement"], row["fleiss_kappa"] = agree.pairwise, agree.fleiss_kappa
        columns = ["round", "status", "strategy", "selected", "labeled_back", "agreement"]
        columns += ["fleiss_kappa", "needs_adjudication", "scored_with", "trained_version"]
        columns += ["accuracy", "macro_f1", "promoted", "config_hash"]
        return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame()

    def item_history(self, item_id: str) -> dict[str, Any] | None:
        """Everything the ledger knows about one item, in order."""
        with self.transaction() as s:
            item = s.get(Item, item_id)
            if item is None:
                return None
            selections = _selections(s, item_id)
            resolved = s.get(ResolvedLabel, item_id)
            return {
                "item_id": item_id,
                "state": item.state,
                "partition": item.partition,
                "selections": selections,
                "exports": _exports(s, [x["round"] for x in selections]),
                "annotations": _annotations(s, item_id),
                "resolved": None
                if resolved is None
                else {"label": resolved.label, "rule": resolved.rule, "events": resolved.n_events},
            }

    def annotations(self) -> pd.DataFrame:
        """Every annotation event in import order (``ANNOTATION_COLUMNS``) with its standing
        under the vote rules (``alflow.labels.votes``): ``status`` is ``counts`` for the one event
        of each vote that counts, ``superseded`` or ``retracted`` (``by`` names the event that
        took its place or retracted it) or ``retraction``. ``at`` is the vendor's time (else
        the import's). Agreement is computed over the ``counts`` label rows."""
        with self.transaction() as s:
            rows = vote_rows(s, None)
        standing = standings(rows)
        return pd.DataFrame(
            [(*_event_cells(e), standing[e.id].status, standing[e.id].by) for e in rows],
            columns=ANNOTATION_COLUMNS,
        ).astype({"by": "Int64"})
