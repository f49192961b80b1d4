"""Ingests, partitions and pool items: what is in the pool and in which state."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alflow.ledger.schema import EvalItem, Import, Ingest, Item, Partition
from alflow.ledger.states import IN_FLIGHT, ItemState
from alflow.ledger.store import LedgerStore, by_id, insert_many


def _items_table(target: str) -> type[Item] | type[EvalItem]:
    return Item if target == "pool" else EvalItem


@dataclass
class IngestWriter:
    """One ingest's open transaction: partitions registered here commit together or not at all."""

    session: Session
    id: int

    def content_hashes(self, item_ids: Sequence[str], target: str) -> dict[str, str]:
        """Known ``item_id -> content_hash`` among ``item_ids`` (pool or eval set)."""
        table = _items_table(target)
        return dict(by_id(self.session, table, item_ids, table.content_hash))

    def add_partition(self, *, name: str, target: str, sha256: str, items: pd.DataFrame) -> None:
        """Register a written partition and its items (``item_id``, ``content_hash``)."""
        self.session.add(
            Partition(name=name, target=target, ingest_id=self.id, n_rows=len(items), sha256=sha256)
        )
        values = {
            "item_id": items["item_id"].tolist(),
            "content_hash": items["content_hash"].tolist(),
            "partition": [name] * len(items),
        }
        # state and updated_at: their column defaults
        insert_many(self.session, _items_table(target).__table__, values)


class ItemsLedger(LedgerStore):
    """Ingests, partitions and item states."""

    @contextmanager
    def ingest(self, source: str, target: str) -> Iterator[IngestWriter]:
        """Record an ingest of ``source``; all it registers commits when the block ends."""
        with self.transaction() as session:
            ingest = Ingest(source=source, target=target)
            session.add(ingest)
            session.flush()
            yield IngestWriter(session, ingest.id)

    def partitions(self, target: str = "pool") -> list[tuple[str, str]]:
        """Committed partitions as ``(name, sha256)``, in a stable order."""
        with self.transaction() as s:
            rows = s.execute(
                select(Partition.name, Partition.sha256)
                .where(Partition.target == target)
                .order_by(Partition.name)
            )
            return [tuple(r) for r in rows]

    def state_counts(self) -> dict[str, int]:
        with self.transaction() as s:
            rows = s.execute(select(Item.state, func.count()).group_by(Item.state))
            return dict(rows.tuples().all())

    def excluded_ids(self) -> list[str]:
        """Items that must not be scored: labeled, skipped or in flight (grows with labels)."""
        with self.transaction() as s:
            others = [st for st in ItemState if st != ItemState.UNLABELED]
            rows = s.execute(select(Item.item_id).where(Item.state.in_(others)))  # by index
            return list(rows.scalars())

    def locations(self, item_ids: Sequence[str], target: str = "pool") -> pd.DataFrame:
        """``item_id -> partition`` for the given items."""
        table = _items_table(target)
        with self.transaction() as s:
            rows = by_id(s, table, item_ids, table.partition)
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
