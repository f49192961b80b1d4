"""Labels coming back: append annotation events exactly once, resolve them into labels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from alflow import faults
from alflow.labels.resolution import AWAITING, Agreement, Policy, Resolution, Vote, agreement
from alflow.labels.votes import current_votes
from alflow.ledger import votes as vote_rules
from alflow.ledger.bulk import set_items
from alflow.ledger.records import EventRecord
from alflow.ledger.schema import (
    AnnotationEvent,
    Export,
    Import,
    Item,
    ResolvedLabel,
    Selection,
)
from alflow.ledger.states import EventKind, ItemState
from alflow.ledger.store import LedgerStore, by_id, chunks, insert_many


class LabelsLedger(LedgerStore):
    """Annotation events, imports and resolved labels."""

    def import_targets(self, item_ids: Iterable[str]) -> dict[str, tuple[str, int | None]]:
        """``item_id -> (state, round_id)`` for the known ids among ``item_ids``."""
        with self.transaction() as s:
            rows = by_id(s, Item, item_ids, Item.state, Item.round_id)
        return {i: (state, r) for i, state, r in rows}

    def exported_ids(self, item_ids: Iterable[str]) -> set[str]:
        """The items among ``item_ids`` that some exported round handed to a vendor (a late
        label for an item that went back to the pool is still welcome)."""
        out: set[str] = set()
        with self.transaction() as s:
            for chunk in chunks(sorted(set(item_ids))):
                rows = s.execute(
                    select(Selection.item_id)
                    .join(Export, Export.round_id == Selection.round_id)
                    .where(Selection.item_id.in_(chunk))
                )
                out.update(rows.scalars())
        return out

    def record_import(
        self,
        *,
        source: str,
        sha256: str,
        events: Sequence[EventRecord],
        resolver: Policy,
        retract_missing: str | None = None,
    ) -> tuple[int, int]:
        """Append new events, then re-resolve touched items, in one transaction.

        ``resolver`` is the resolution policy (``alflow.labels.resolution.Policy``); a policy that
        ``needs_all_items`` re-resolves every item with label votes. ``retract_missing`` (a ref
        prefix such as ``label-studio:``) marks ``events`` as the vendor's full state: every
        annotation under that prefix missing from it gets a retraction event. Returns
        ``(events_added, items_resolved)``.
        """
        with self.transaction() as s:
            imp = Import(source=source, sha256=sha256, events_read=len(events), events_added=0)
            s.add(imp)
            s.flush()
            # lock the items before any event references them: an event's foreign key takes a
            # share lock that would deadlock against a concurrent import's resolution
            rounds = dict(
                by_id(s, Item, [e.item_id for e in events], Item.round_id, for_update=True)
            )
            new = _new_events(s, events)
            half = len(new) // 2
            _append_events(s, new[:half], rounds, imp.id)
            faults.checkpoint("mid_import")  # half the events written, not committed
            _append_events(s, new[half:], rounds, imp.id)
            added, touched = len(new), {e.item_id for e in new}
            if retract_missing is not None:
                present = {e.ref for e in events if e.ref is not None}
                gone = vote_rules.retract_missing(
                    s, self._insert_ignore, retract_missing, present, imp.id
                )
                added += len(gone)
                touched |= gone
            imp.events_added = added
            self._resolve(s, sorted(touched), resolver)
            return added, len(touched)

    def _resolve(self, s: Session, item_ids: Sequence[str], policy: Policy) -> None:
        if policy.needs_all_items and item_ids:
            labeled = s.execute(
                select(AnnotationEvent.item_id)
                .where(AnnotationEvent.kind.in_((EventKind.LABEL, EventKind.GROUND_TRUTH)))
                .distinct()
            )
            item_ids = sorted(set(item_ids) | set(labeled.scalars()))
        votes: dict[str, list[Vote]] = {}
        for chunk in chunks(item_ids):
            # lock the items first, so concurrent imports resolve them one after the other
            s.execute(select(Item.item_id).where(Item.item_id.in_(chunk)).with_for_update())
            votes.update(self._current_votes(s, chunk))
        outcomes = policy({i: v for i, v in votes.items() if v})
        for item_id in set(item_ids) - set(outcomes):  # every vote retracted: waiting again
            outcomes[item_id] = Resolution(AWAITING, None, "retracted")
        by_state: dict[str, list[str]] = {}
        for item_id, r in outcomes.items():
            by_state.setdefault(r.state, []).append(item_id)
        for state, ids in by_state.items():
            set_items(s, ids, state=state)
        for chunk in chunks(sorted(outcomes)):
            s.execute(delete(ResolvedLabel).where(ResolvedLabel.item_id.in_(chunk)))
        labeled = [(i, r) for i, r in sorted(outcomes.items()) if r.label is not None]
        insert_many(
            s,
            ResolvedLabel.__table__,
            {
                "item_id": [i for i, _ in labeled],
                "label": [r.label for _, r in labeled],
                "n_events": [len(votes.get(i, ())) for i, _ in labeled],
                "rule": [r.rule for _, r in labeled],
            },
        )

    def _current_votes(
        self, s: Session, item_ids: Sequence[str], round_id: int | None = None
    ) -> dict[str, list[Vote]]:
        """Each item's counting votes under the vote rules (``alflow.labels.votes``)."""
        return current_votes(vote_rules.vote_rows(s, item_ids, round_id))

    def round_agreement(self, round_id: int) -> Agreement:
        """Inter-annotator agreement over the round's items with 2+ current label votes."""
        with self.transaction() as s:
            ids = s.execute(
                select(AnnotationEvent.item_id)
                .where(
                    AnnotationEvent.round_id == round_id, AnnotationEvent.kind == EventKind.LABEL
                )
                .distinct()
            )
            votes: dict[str, list[Vote]] = {}
            for chunk in chunks(sorted(ids.scalars())):
                votes.update(self._current_votes(s, chunk, round_id))
        return agreement(
            {i: [v.label for v in vs if v.kind == EventKind.LABEL] for i, vs in votes.items()}
        )

    def adjudication_queue(self) -> list[str]:
        """Items whose annotators disagree beyond the policy: out of training until someone
        adds a ground-truth annotation."""
        with self.transaction() as s:
            rows = s.execute(
                select(Item.item_id)
                .where(Item.state == ItemState.NEEDS_RELABEL)
                .order_by(Item.item_id)
            )
            return list(rows.scalars())

    def event_count(self) -> int:
        with self.transaction() as s:
            return s.execute(select(func.count()).select_from(AnnotationEvent)).scalar_one()

    def import_count(self) -> int:
        with self.transaction() as s:
            return s.execute(select(func.count()).select_from(Import)).scalar_one()

    def labeled_among(self, item_ids: Iterable[str]) -> list[str]:
        """The items among ``item_ids`` that have a resolved label."""
        with self.transaction() as s:
            return [row[0] for row in by_id(s, ResolvedLabel, item_ids)]

    def resolved_labels(self) -> pd.DataFrame:
        """All resolved labels as ``item_id``, ``label`` (sorted by item id)."""
        with self.transaction() as s:
            rows = s.execute(
                select(ResolvedLabel.item_id, ResolvedLabel.label).order_by(ResolvedLabel.item_id)
            )
            return pd.DataFrame(rows.tuples().all(), columns=["item_id", "label"])


def _new_events(s: Session, events: Sequence[EventRecord]) -> list[EventRecord]:
    """``events`` whose key the ledger has not seen, each key once (the first): an import of
    a file already imported, or a line repeated in it, adds nothing. Read by key after the
    items are locked, so no concurrent import adds one of these keys meanwhile; if one did, the
    insert's unique key refuses it and the whole import rolls back."""
    seen = {k for (k,) in by_id(s, AnnotationEvent, [e.event_key for e in events], key="event_key")}
    out: list[EventRecord] = []
    for e in events:
        if e.event_key not in seen:
            seen.add(e.event_key)
            out.append(e)
    return out


def _append_events(
    s: Session, events: Sequence[EventRecord], rounds: dict[str, int | None], import_id: int
) -> None:
    """Append ``events`` (all new) in one ``executemany``."""
    insert_many(
        s,
        AnnotationEvent.__table__,
        {
            "event_key": [e.event_key for e in events],
            "item_id": [e.item_id for e in events],
            "round_id": [rounds.get(e.item_id) for e in events],
            "kind": [e.kind for e in events],
            "label": [e.label for e in events],
            "annotator": [e.annotator for e in events],
            "annotation_ref": [e.ref for e in events],
            "import_id": [import_id] * len(events),
            "event_time": [e.at for e in events],
        },
    )
