"""Which annotation events count: one vote per annotator per item and round, the newest wins.

Rules (docs/vendors.md, "Vote rules"):

* **identity**: a vote is held by ``(item, round, annotator)``; without an annotator by the
  vendor's annotation id; without either by its content (kind and label), so a duplicated line
  or file is the same vote;
* **supersession**: within a vote the newest event wins, by the vendor's time (``updated_at``,
  ``created_at``, submission time, ``labeled_at``), falling back to when alflow imported it; ties
  go to import order. The result does not depend on the order files are imported in;
* **retraction**: a ``retract`` event withdraws every earlier event of its annotation id; a
  later version of that annotation counts again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from alflow.labels.resolution import Vote

RETRACT = "retract"


@dataclass(frozen=True)
class EventRow:
    """One stored annotation event, as the vote rules need it."""

    id: int
    item_id: str
    round_id: int | None
    kind: str
    label: str | None
    annotator: str | None
    ref: str | None
    at: datetime | None  # the vendor's time
    arrived: datetime  # when alflow recorded it


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def order_key(e: EventRow) -> tuple[datetime, int]:
    """Supersession order: the vendor's time, else the import time; then import order."""
    return _utc(e.at or e.arrived), e.id


def vote_slot(e: EventRow) -> tuple:
    """The vote an event belongs to (see the module docstring)."""
    if e.annotator is not None:
        return e.item_id, e.round_id, "annotator", e.annotator
    if e.ref is not None:
        return e.item_id, e.round_id, "ref", e.ref
    return e.item_id, e.round_id, "content", e.kind, e.label


@dataclass(frozen=True)
class Standing:
    """Whether an event counts and, when it does not, which event took its place."""

    status: str  # COUNTS, SUPERSEDED, RETRACTED or RETRACTION
    by: int | None = None  # the id of the counting event, or of the retraction


COUNTS, SUPERSEDED, RETRACTED, RETRACTION = "counts", "superseded", "retracted", "retraction"


def standings(rows: Iterable[EventRow]) -> dict[int, Standing]:
    """Every event's standing under the rules: the one newest event of each vote counts; the
    others are superseded by it, or retracted (by the first retraction of their annotation id
    after them); retraction events themselves never count."""
    rows = list(rows)
    retracts: dict[str, list[int]] = {}
    for e in rows:
        if e.kind == RETRACT and e.ref is not None:
            retracts.setdefault(e.ref, []).append(e.id)
    out: dict[int, Standing] = {}
    newest: dict[tuple, EventRow] = {}
    for e in rows:
        later = [r for r in retracts.get(e.ref, ()) if r > e.id] if e.ref is not None else []
        if e.kind == RETRACT:
            out[e.id] = Standing(RETRACTION)
        elif later:
            out[e.id] = Standing(RETRACTED, min(later))
        else:
            slot = vote_slot(e)
            if slot not in newest or order_key(e) > order_key(newest[slot]):
                newest[slot] = e
    winners = {vote_slot(e): e.id for e in newest.values()}
    for e in rows:
        if e.id not in out:
            won = winners[vote_slot(e)]
            out[e.id] = Standing(COUNTS) if won == e.id else Standing(SUPERSEDED, won)
    return out


def current_events(rows: Iterable[EventRow]) -> list[EventRow]:
    """The events that count, one per vote, in supersession order."""
    rows = list(rows)
    standing = standings(rows)
    return sorted((e for e in rows if standing[e.id].status == COUNTS), key=order_key)


def current_votes(rows: Iterable[EventRow]) -> dict[str, list[Vote]]:
    """Each item's counting votes (oldest first, so the newest ground truth is the last)."""
    out: dict[str, list[Vote]] = {}
    for e in current_events(rows):
        out.setdefault(e.item_id, []).append(Vote(e.kind, e.label, e.annotator))
    return out


def retractions(active_refs: dict[str, EventRow], present: set[str]) -> list[EventRow]:
    """The annotations a full-state pull no longer has: every active ref not in ``present``."""
    return [e for ref, e in sorted(active_refs.items()) if ref not in present]
