"""The ledger's side of the vote rules (``alflow.labels.votes``): reading events as ``EventRow`` and
appending retractions for annotations a vendor's full-state pull no longer has."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alflow.labels.votes import RETRACT, EventRow, retractions
from alflow.ledger.schema import AnnotationEvent, utcnow

_COLUMNS = (
    AnnotationEvent.id,
    AnnotationEvent.item_id,
    AnnotationEvent.round_id,
    AnnotationEvent.kind,
    AnnotationEvent.label,
    AnnotationEvent.annotator,
    AnnotationEvent.annotation_ref,
    AnnotationEvent.event_time,
    AnnotationEvent.created_at,
)


def vote_rows(
    s: Session, item_ids: Sequence[str] | None, round_id: int | None = None
) -> list[EventRow]:
    """Every event of ``item_ids`` (of all items when None; of one round when given), in
    import order."""
    query = select(*_COLUMNS)
    if item_ids is not None:
        query = query.where(AnnotationEvent.item_id.in_(item_ids))
    if round_id is not None:
        query = query.where(AnnotationEvent.round_id == round_id)
    return [EventRow(*row) for row in s.execute(query.order_by(AnnotationEvent.id))]


def active_refs(s: Session, prefix: str) -> dict[str, EventRow]:
    """Each annotation id under ``prefix`` that is not retracted, with its newest event."""
    query = (
        select(*_COLUMNS)
        .where(AnnotationEvent.annotation_ref.startswith(prefix, autoescape=True))
        .order_by(AnnotationEvent.id)
    )
    latest: dict[str, EventRow] = {}
    for row in s.execute(query):
        latest[row.annotation_ref] = EventRow(*row)
    return {ref: e for ref, e in latest.items() if e.kind != RETRACT}


def retract_missing(
    s: Session, insert_ignore: Callable[[Any], Any], prefix: str, present: set[str], import_id: int
) -> set[str]:
    """Append a ``retract`` event for every active annotation id under ``prefix`` that is not
    in ``present`` (idempotent: one retraction per retracted version). Returns touched items."""
    touched = set()
    for e in retractions(active_refs(s, prefix), present):
        key = hashlib.sha256(f"{e.ref}\x1f{e.id}".encode()).hexdigest()
        res = s.execute(
            insert_ignore(AnnotationEvent.__table__)
            .values(
                event_key=f"retract:sha256:{key}",
                item_id=e.item_id,
                round_id=e.round_id,
                kind=RETRACT,
                label=None,
                annotator=e.annotator,
                annotation_ref=e.ref,
                import_id=import_id,
                created_at=utcnow(),
            )
            .returning(AnnotationEvent.id)
        )
        if res.first() is not None:
            touched.add(e.item_id)
    return touched
