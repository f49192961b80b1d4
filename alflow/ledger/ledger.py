"""The ledger: the one module that talks to the database.

Every state transition is one transaction guarded by unique constraints and state checks, so a
retried task, a rerun flow or a re-imported file never selects an item twice, exports a batch twice
or counts an annotation twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, create_engine, delete, event, func, make_url, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from alflow import faults, stages
from alflow.errors import LedgerError, LockBusy
from alflow.ledger import migrate
from alflow.ledger.locks import holder_is_dead, new_holder
from alflow.ledger.schema import (
    AnnotationEvent,
    CampaignStop,
    EvalItem,
    Export,
    Import,
    Ingest,
    Item,
    Lock,
    ModelLabel,
    Partition,
    ResolvedLabel,
    Round,
    Selection,
    Training,
    utcnow,
)
from alflow.ledger.timing import time_statements
from alflow.resolution import Policy, Vote, agreement

IN_FLIGHT = ("selected", "exported")
SUPPORTED = {"sqlite": sqlite, "postgresql": postgresql}
_IN_CHUNK = 900  # stays under every backend's bound-parameter limit


def _chunks(seq: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _by_id(session: Session, table: Any, item_ids: Iterable[str], *columns: Any) -> list[tuple]:
    """``(item_id, *columns)`` rows of ``table`` for the known ids, queried in bounded chunks."""
    rows: list[tuple] = []
    for chunk in _chunks(sorted(set(item_ids))):
        query = select(table.item_id, *columns).where(table.item_id.in_(chunk))
        rows.extend(session.execute(query).tuples())
    return rows


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@dataclass(frozen=True)
class EventRecord:
    """One annotation ready for the ledger (already validated against the schema)."""

    event_key: str
    item_id: str
    kind: str
    label: str | None
    annotator: str | None
    ref: str | None = None  # the vendor's annotation id: the newest event per ref counts


class Ledger:
    """Item states, rounds, selections, exports, annotation events and resolved labels."""

    def __init__(self, url: str) -> None:
        self.url = url
        backend = make_url(url).get_backend_name()
        if backend not in SUPPORTED:
            raise LedgerError(
                f"ledger database {backend!r} is not supported: use SQLite or PostgreSQL "
                "(their INSERT ... ON CONFLICT keeps imports idempotent)"
            )
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        time_statements(self.engine)
        with stages.stage("ledger open"):
            migrate.upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error."""
        with self._sessions.begin() as session:
            yield session

    def _insert_ignore(self, table: Any) -> Any:
        return SUPPORTED[self.engine.dialect.name].insert(table).on_conflict_do_nothing()

    # ----------------------------------------------------------------- ingest
    def start_ingest(self, session: Session, source: str, target: str) -> Ingest:
        ingest = Ingest(source=source, target=target)
        session.add(ingest)
        session.flush()
        return ingest

    def content_hashes(self, session: Session, item_ids: Sequence[str], target: str) -> dict:
        """Known ``item_id -> content_hash`` among ``item_ids`` (pool or eval set)."""
        table = Item if target == "pool" else EvalItem
        return dict(_by_id(session, table, item_ids, table.content_hash))

    def add_partition(
        self,
        session: Session,
        *,
        name: str,
        target: str,
        ingest_id: int,
        sha256: str,
        items: pd.DataFrame,
    ) -> None:
        """Register a written partition and its items (``item_id``, ``content_hash``)."""
        session.add(
            Partition(
                name=name, target=target, ingest_id=ingest_id, n_rows=len(items), sha256=sha256
            )
        )
        session.flush()
        table = Item if target == "pool" else EvalItem
        rows = [
            {"item_id": i, "content_hash": h, "partition": name}
            for i, h in zip(items["item_id"], items["content_hash"], strict=True)
        ]
        if rows:
            session.execute(table.__table__.insert(), rows)

    def partitions(self, target: str = "pool") -> list[tuple[str, str]]:
        """Committed partitions as ``(name, sha256)``, in a stable order."""
        with self.transaction() as s:
            rows = s.execute(
                select(Partition.name, Partition.sha256)
                .where(Partition.target == target)
                .order_by(Partition.name)
            )
            return [tuple(r) for r in rows]

    # ------------------------------------------------------------------ items
    def state_counts(self) -> dict[str, int]:
        with self.transaction() as s:
            rows = s.execute(select(Item.state, func.count()).group_by(Item.state))
            return dict(rows.tuples().all())

    def excluded_ids(self) -> list[str]:
        """Items that must not be scored: labeled, skipped or in flight (grows with labels)."""
        with self.transaction() as s:
            rows = s.execute(select(Item.item_id).where(Item.state != "unlabeled"))
            return list(rows.scalars())

    def locations(self, item_ids: Sequence[str], target: str = "pool") -> pd.DataFrame:
        """``item_id -> partition`` for the given items."""
        table = Item if target == "pool" else EvalItem
        with self.transaction() as s:
            rows = _by_id(s, table, item_ids, table.partition)
        return pd.DataFrame(rows, columns=["item_id", "partition"])

    def in_flight_count(self) -> int:
        """Items selected or exported and not labeled yet."""
        with self.transaction() as s:
            query = select(func.count()).select_from(Item).where(Item.state.in_(IN_FLIGHT))
            return s.execute(query).scalar_one()

    def max_ingest_id(self) -> int:
        """The newest pool ingest that registered a partition (0 before any)."""
        with self.transaction() as s:
            query = select(func.max(Partition.ingest_id)).where(Partition.target == "pool")
            return s.execute(query).scalar() or 0

    def partitions_after(self, ingest_id: int, upto: int | None = None) -> list[tuple[str, str]]:
        """Pool partitions registered by ingests ``ingest_id < id <= upto``, as ``(name, sha)``."""
        with self.transaction() as s:
            query = select(Partition.name, Partition.sha256).where(
                Partition.target == "pool", Partition.ingest_id > ingest_id
            )
            if upto is not None:
                query = query.where(Partition.ingest_id <= upto)
            return [tuple(r) for r in s.execute(query.order_by(Partition.name))]

    def imported_sha256s(self) -> set[str]:
        """Content hashes of every labels file imported so far."""
        with self.transaction() as s:
            return set(s.execute(select(Import.sha256)).scalars())

    def eval_ids(self) -> list[str]:
        with self.transaction() as s:
            return list(s.execute(select(EvalItem.item_id)).scalars())

    # ----------------------------------------------------------------- rounds
    def open_round(
        self, *, strategy: str, batch_size: int, seed: int, config_hash: str
    ) -> tuple[Round, bool]:
        """The round to work on: an unfinished one (resumed) or a new one. Returns (round, new)."""
        with self.transaction() as s:
            last = s.execute(select(Round).order_by(Round.id.desc()).limit(1)).scalar()
            if last is not None and last.status in ("open", "selected"):
                return last, False
            r = Round(
                id=(last.id + 1) if last else 1,
                strategy=strategy,
                batch_size=batch_size,
                seed=seed,
                config_hash=config_hash,
            )
            s.add(r)
            return r, True

    def update_round(self, round_id: int, **fields: Any) -> None:
        with self.transaction() as s:
            s.execute(update(Round).where(Round.id == round_id).values(**fields))

    def get_round(self, round_id: int) -> Round:
        with self.transaction() as s:
            r = s.get(Round, round_id)
            if r is None:
                raise LedgerError(f"round {round_id} does not exist")
            return r

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

    # ------------------------------------------------------------- selection
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
            changed = 0
            for chunk in _chunks(ids):
                res = s.execute(
                    update(Item)
                    .where(Item.item_id.in_(chunk), Item.state == "unlabeled")
                    .values(state="selected", round_id=round_id, updated_at=utcnow())
                )
                changed += res.rowcount
            if changed != len(ids):
                raise LedgerError(
                    f"round {round_id}: {len(ids) - changed} of {len(ids)} selected items are "
                    "not unlabeled (already selected, labeled or unknown); nothing was recorded"
                )
            s.execute(
                Selection.__table__.insert(),
                [
                    {
                        "round_id": round_id,
                        "item_id": row["item_id"],
                        "rank": int(row["rank"]),
                        "utility": float(row["utility"]),
                        "components": {c: float(row[c]) for c in components if pd.notna(row[c])},
                        "predicted_label": row["predicted_label"],
                        "predicted_score": None
                        if pd.isna(row["predicted_score"])
                        else float(row["predicted_score"]),
                        "reason": row.get("reason", "strategy"),
                    }
                    for row in batch.to_dict("records")
                ],
            )
            s.execute(update(Round).where(Round.id == round_id).values(status="selected"))
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

    # ---------------------------------------------------------------- export
    def export_of(self, round_id: int) -> Export | None:
        with self.transaction() as s:
            return s.execute(select(Export).where(Export.round_id == round_id)).scalar()

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
            s.execute(
                update(Item)
                .where(Item.round_id == round_id, Item.state == "selected")
                .values(state="exported", updated_at=utcnow())
            )
            s.execute(update(Round).where(Round.id == round_id).values(status="exported"))
            return True

    def exported_batch(self, round_id: int) -> set[str] | None:
        """The item ids handed to a vendor in round ``round_id``; None if it was never exported."""
        with self.transaction() as s:
            if s.execute(select(Export.id).where(Export.round_id == round_id)).scalar() is None:
                return None
            ids = s.execute(select(Selection.item_id).where(Selection.round_id == round_id))
            return set(ids.scalars())

    # ---------------------------------------------------------------- import
    def import_targets(self, item_ids: Iterable[str]) -> dict[str, tuple[str, int | None]]:
        """``item_id -> (state, round_id)`` for the known ids among ``item_ids``."""
        with self.transaction() as s:
            rows = _by_id(s, Item, item_ids, Item.state, Item.round_id)
        return {i: (state, r) for i, state, r in rows}

    def exported_ids(self, item_ids: Iterable[str]) -> set[str]:
        """The items among ``item_ids`` that some exported round handed to a vendor (a late
        label for an item that went back to the pool is still welcome)."""
        out: set[str] = set()
        with self.transaction() as s:
            for chunk in _chunks(sorted(set(item_ids))):
                rows = s.execute(
                    select(Selection.item_id)
                    .join(Export, Export.round_id == Selection.round_id)
                    .where(Selection.item_id.in_(chunk))
                )
                out.update(rows.scalars())
        return out

    def record_import(
        self, *, source: str, sha256: str, events: Sequence[EventRecord], resolver: Policy
    ) -> tuple[int, int]:
        """Append new events, then re-resolve touched items, in one transaction.

        ``resolver`` is the resolution policy (``alflow.resolution.Policy``); a policy that
        ``needs_all_items`` re-resolves every item with label votes. Returns
        ``(events_added, items_resolved)``.
        """
        with self.transaction() as s:
            imp = Import(source=source, sha256=sha256, events_read=len(events), events_added=0)
            s.add(imp)
            s.flush()
            added = 0
            touched: set[str] = set()
            rounds = self._rounds_of(s, [e.item_id for e in events])
            for n, e in enumerate(events):
                if n == len(events) // 2:
                    faults.checkpoint("mid_import")  # half the events written, not committed
                # RETURNING, not rowcount: psycopg reports a row for an insert that was ignored
                res = s.execute(
                    self._insert_ignore(AnnotationEvent.__table__)
                    .values(
                        event_key=e.event_key,
                        item_id=e.item_id,
                        round_id=rounds.get(e.item_id),
                        kind=e.kind,
                        label=e.label,
                        annotator=e.annotator,
                        annotation_ref=e.ref,
                        import_id=imp.id,
                        created_at=utcnow(),
                    )
                    .returning(AnnotationEvent.id)
                )
                if res.first() is not None:
                    added += 1
                    touched.add(e.item_id)
            imp.events_added = added
            self._resolve(s, sorted(touched), resolver)
            return added, len(touched)

    def _rounds_of(self, s: Session, item_ids: Sequence[str]) -> dict[str, int | None]:
        return dict(_by_id(s, Item, item_ids, Item.round_id))

    def _resolve(self, s: Session, item_ids: Sequence[str], policy: Policy) -> None:
        if policy.needs_all_items and item_ids:
            labeled = s.execute(
                select(AnnotationEvent.item_id)
                .where(AnnotationEvent.kind.in_(("label", "ground_truth")))
                .distinct()
            )
            item_ids = sorted(set(item_ids) | set(labeled.scalars()))
        votes: dict[str, list[Vote]] = {}
        for chunk in _chunks(item_ids):
            # lock the items first, so concurrent imports resolve them one after the other
            s.execute(select(Item.item_id).where(Item.item_id.in_(chunk)).with_for_update())
            votes.update(self._current_votes(s, chunk))
        for item_id, r in policy(votes).items():
            s.execute(
                update(Item)
                .where(Item.item_id == item_id)
                .values(state=r.state, updated_at=utcnow())
            )
            existing = s.get(ResolvedLabel, item_id)
            n_events = len(votes[item_id])
            if r.label is None:
                if existing is not None:
                    s.delete(existing)
            elif existing is None:
                s.add(ResolvedLabel(item_id=item_id, label=r.label, n_events=n_events, rule=r.rule))
            else:
                existing.label, existing.n_events, existing.rule = r.label, n_events, r.rule
                existing.resolved_at = utcnow()

    def _current_votes(
        self, s: Session, item_ids: Sequence[str], round_id: int | None = None
    ) -> dict[str, list[Vote]]:
        """Each item's current annotations: a later version of the same vendor annotation
        (same ref) replaces the earlier one."""
        query = (
            select(
                AnnotationEvent.item_id,
                AnnotationEvent.annotation_ref,
                AnnotationEvent.kind,
                AnnotationEvent.label,
                AnnotationEvent.annotator,
            )
            .where(AnnotationEvent.item_id.in_(item_ids))
            .order_by(AnnotationEvent.id)
        )
        if round_id is not None:
            query = query.where(AnnotationEvent.round_id == round_id)
        by_item: dict[str, dict[object, Vote]] = {}
        for n, (item_id, ref, kind, label, annotator) in enumerate(s.execute(query)):
            by_item.setdefault(item_id, {})[ref if ref is not None else n] = Vote(
                kind, label, annotator
            )
        return {i: list(v.values()) for i, v in by_item.items()}

    def round_agreement(self, round_id: int):
        """Inter-annotator agreement over the round's items with 2+ current label votes."""
        with self.transaction() as s:
            ids = s.execute(
                select(AnnotationEvent.item_id)
                .where(AnnotationEvent.round_id == round_id, AnnotationEvent.kind == "label")
                .distinct()
            )
            votes: dict[str, list[Vote]] = {}
            for chunk in _chunks(sorted(ids.scalars())):
                votes.update(self._current_votes(s, chunk, round_id))
        return agreement({i: [v.label for v in vs if v.kind == "label"] for i, vs in votes.items()})

    def adjudication_queue(self) -> list[str]:
        """Items whose annotators disagree beyond the policy: out of training until someone
        adds a ground-truth annotation."""
        with self.transaction() as s:
            rows = s.execute(
                select(Item.item_id).where(Item.state == "needs_relabel").order_by(Item.item_id)
            )
            return list(rows.scalars())

    def event_count(self) -> int:
        with self.transaction() as s:
            return s.execute(select(func.count()).select_from(AnnotationEvent)).scalar_one()

    def import_count(self) -> int:
        with self.transaction() as s:
            return s.execute(select(func.count()).select_from(Import)).scalar_one()

    def resolved_labels(self) -> pd.DataFrame:
        """All resolved labels as ``item_id``, ``label`` (sorted by item id)."""
        with self.transaction() as s:
            rows = s.execute(
                select(ResolvedLabel.item_id, ResolvedLabel.label).order_by(ResolvedLabel.item_id)
            )
            return pd.DataFrame(rows.tuples().all(), columns=["item_id", "label"])

    # ------------------------------------------------------------------ audit
    def round_summary(self) -> pd.DataFrame:
        """One row per round: what chose the batch, what came back, what it trained."""
        with self.transaction() as s:
            rounds = s.execute(select(Round).order_by(Round.id)).scalars().all()
            selected = dict(
                s.execute(select(Selection.round_id, func.count()).group_by(Selection.round_id))
                .tuples()
                .all()
            )
            back = dict(
                s.execute(
                    select(
                        AnnotationEvent.round_id, func.count(func.distinct(AnnotationEvent.item_id))
                    ).group_by(AnnotationEvent.round_id)
                )
                .tuples()
                .all()
            )
            adjudicate = dict(
                s.execute(
                    select(Item.round_id, func.count())
                    .where(Item.state == "needs_relabel")
                    .group_by(Item.round_id)
                )
                .tuples()
                .all()
            )
            trained = {t.round_id: t for t in s.execute(select(Training)).scalars()}
        rows = []
        for r in rounds:
            t = trained.get(r.id)
            agree = self.round_agreement(r.id)
            rows.append(
                {
                    "round": r.id,
                    "status": r.status,
                    "strategy": r.strategy,
                    "selected": selected.get(r.id, 0),
                    "labeled_back": back.get(r.id, 0),
                    "agreement": agree.pairwise,
                    "fleiss_kappa": agree.fleiss_kappa,
                    "needs_adjudication": adjudicate.get(r.id, 0),
                    "scored_with": r.model_version,
                    "trained_version": t.model_version if t else None,
                    "accuracy": t.metrics.get("accuracy") if t else None,
                    "macro_f1": t.metrics.get("macro_f1") if t else None,
                    "promoted": t.promoted if t else None,
                    "config_hash": r.config_hash,
                }
            )
        return pd.DataFrame(rows)

    def item_history(self, item_id: str) -> dict[str, Any] | None:
        """Everything the ledger knows about one item, in order."""
        with self.transaction() as s:
            item = s.get(Item, item_id)
            if item is None:
                return None
            selections = (
                s.execute(
                    select(Selection)
                    .where(Selection.item_id == item_id)
                    .order_by(Selection.round_id)
                )
                .scalars()
                .all()
            )
            exports = {
                e.round_id: e
                for e in s.execute(
                    select(Export).where(Export.round_id.in_([x.round_id for x in selections]))
                ).scalars()
            }
            events = s.execute(
                select(AnnotationEvent, Import.source)
                .join(Import, Import.id == AnnotationEvent.import_id)
                .where(AnnotationEvent.item_id == item_id)
                .order_by(AnnotationEvent.id)
            ).all()
            resolved = s.get(ResolvedLabel, item_id)
            return {
                "item_id": item_id,
                "state": item.state,
                "partition": item.partition,
                "selections": [
                    {
                        "round": x.round_id,
                        "rank": x.rank,
                        "utility": x.utility,
                        "predicted_label": x.predicted_label,
                        **x.components,
                    }
                    for x in selections
                ],
                "exports": [
                    {
                        "round": e.round_id,
                        "vendor": e.vendor,
                        "uri": e.uri,
                        "at": e.created_at.isoformat(),
                    }
                    for e in exports.values()
                ],
                "annotations": [
                    {
                        "kind": e.kind,
                        "label": e.label,
                        "annotator": e.annotator,
                        "ref": e.annotation_ref,
                        "source": src,
                        "at": e.created_at.isoformat(),
                    }
                    for e, src in events
                ],
                "resolved": None
                if resolved is None
                else {"label": resolved.label, "rule": resolved.rule, "events": resolved.n_events},
            }

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

    def annotations(self) -> pd.DataFrame:
        """Every label event as ``item_id``, ``round``, ``annotator``, ``label`` (for agreement)."""
        with self.transaction() as s:
            rows = s.execute(
                select(
                    AnnotationEvent.item_id,
                    AnnotationEvent.round_id,
                    AnnotationEvent.annotator,
                    AnnotationEvent.label,
                )
                .where(AnnotationEvent.kind == "label")
                .order_by(AnnotationEvent.id)
            )
            return pd.DataFrame(
                rows.tuples().all(), columns=["item_id", "round", "annotator", "label"]
            )

    # ------------------------------------------------------------------ locks
    def acquire_lock(self, name: str, wait_seconds: float = 0.0, poll: float = 0.5) -> str:
        """Take the lock ``name`` and return the holder token; a lock held by a dead process on
        this host is taken over. Waits up to ``wait_seconds``, then raises ``LockBusy`` naming
        the holder."""
        import time

        holder = new_holder()
        deadline = time.monotonic() + wait_seconds
        while True:
            with self.transaction() as s:
                taken = s.execute(
                    self._insert_ignore(Lock.__table__).values(
                        name=name, holder=holder, acquired_at=utcnow()
                    )
                ).rowcount
                if taken:
                    return holder
                current = s.get(Lock, name)
                if current is not None and holder_is_dead(current.holder):
                    took_over = s.execute(  # only one of several racing takers wins
                        update(Lock)
                        .where(Lock.name == name, Lock.holder == current.holder)
                        .values(holder=holder, acquired_at=utcnow())
                    ).rowcount
                    if took_over:
                        return holder
            if time.monotonic() >= deadline:
                since = current.acquired_at.isoformat() if current else "?"
                raise LockBusy(
                    f"{name} is held by {current.holder if current else '?'} since {since}: "
                    "another round of this campaign is running; not starting a second one"
                )
            time.sleep(poll)

    def release_lock(self, name: str, holder: str) -> None:
        with self.transaction() as s:
            s.execute(delete(Lock).where(Lock.name == name, Lock.holder == holder))

    @contextmanager
    def lock(self, name: str, wait_seconds: float = 0.0) -> Iterator[str]:
        """Hold the lock ``name`` for the block (see ``acquire_lock``)."""
        holder = self.acquire_lock(name, wait_seconds)
        try:
            yield holder
        finally:
            self.release_lock(name, holder)

    # -------------------------------------------------------- campaign stops
    def record_stop(self, reason: str, round_id: int | None) -> bool:
        """Record why the campaign stopped; False when a stop is already active."""
        with self.transaction() as s:
            if s.execute(select(CampaignStop.id).where(CampaignStop.active)).first():
                return False
            s.add(CampaignStop(reason=reason, round_id=round_id, active=True))
            return True

    def active_stop(self) -> CampaignStop | None:
        with self.transaction() as s:
            query = select(CampaignStop).where(CampaignStop.active).order_by(CampaignStop.id)
            return s.execute(query.limit(1)).scalar()

    def clear_stop(self) -> None:
        with self.transaction() as s:
            s.execute(update(CampaignStop).where(CampaignStop.active).values(active=False))

    # ------------------------------------------------- pseudo- and weak labels
    def record_pseudo_labels(self, round_id: int, frame: pd.DataFrame) -> int:
        """Replace round ``round_id``'s pseudo-labels (``item_id``, ``label``, ``confidence``)."""
        with self.transaction() as s:
            s.execute(
                delete(ModelLabel).where(
                    ModelLabel.kind == "pseudo", ModelLabel.round_id == round_id
                )
            )
            self._insert_model_labels(s, frame, kind="pseudo", round_id=round_id, source=None)
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
            for chunk in _chunks(changed["item_id"].tolist()):
                s.execute(
                    delete(ModelLabel).where(
                        ModelLabel.kind == "weak", ModelLabel.item_id.in_(chunk)
                    )
                )
            self._insert_model_labels(s, changed, kind="weak", round_id=None, source=source)
            return len(changed)

    def _weak_of(self, s: Session, item_ids: Sequence[str]) -> dict[str, tuple[str, float]]:
        out = {}
        for chunk in _chunks(sorted(set(item_ids))):
            rows = s.execute(
                select(ModelLabel.item_id, ModelLabel.label, ModelLabel.confidence).where(
                    ModelLabel.kind == "weak", ModelLabel.item_id.in_(chunk)
                )
            )
            out.update({i: (label, conf) for i, label, conf in rows})
        return out

    @staticmethod
    def _insert_model_labels(
        s: Session, frame: pd.DataFrame, *, kind: str, round_id: int | None, source: str | None
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
                select(func.max(ModelLabel.round_id)).where(ModelLabel.kind == "pseudo")
            ).scalar()
            rows = s.execute(
                select(ModelLabel.item_id, ModelLabel.label)
                .join(Item, Item.item_id == ModelLabel.item_id)
                .where(
                    ModelLabel.kind == "pseudo",
                    ModelLabel.round_id == latest,
                    Item.state == "unlabeled",
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
                    ModelLabel.kind == "weak",
                    Item.state.not_in(("labeled", "needs_relabel")),
                )
                .order_by(ModelLabel.item_id)
            )
            return pd.DataFrame(rows.tuples().all(), columns=["item_id", "label", "confidence"])

    def weak_label_count(self) -> int:
        with self.transaction() as s:
            return s.execute(
                select(func.count()).select_from(ModelLabel).where(ModelLabel.kind == "weak")
            ).scalar_one()

    # -------------------------------------------------------------- training
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
                .where(Round.id == round_id, Round.status.in_(("exported", "trained")))
                .values(status="trained")
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
