"""Set-based item statements that stay O(batch) at any pool size.

Every statement here finds its rows by primary key only: a condition on ``items.state`` next to
the key lets SQLite's planner pick ``ix_items_state`` instead (it has no statistics by default),
which walks every unlabeled item, 0.75 s per 900 ids on a 1M-item pool. States are read by key
first, checked in Python, and changed by key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from alflow.ledger.schema import Item, utcnow
from alflow.ledger.store import by_id, chunks


def states_of(s: Session, item_ids: Iterable[str]) -> dict[str, str]:
    """``item_id -> state`` of the known ids, read by key (locked for update on PostgreSQL)."""
    return dict(by_id(s, Item, item_ids, Item.state, for_update=True))


def set_items(s: Session, item_ids: Sequence[str], **values: Any) -> int:
    """Set ``values`` (and ``updated_at``) on the items, by key; returns rows changed."""
    changed = 0
    for chunk in chunks(list(item_ids)):
        res = s.execute(
            update(Item).where(Item.item_id.in_(chunk)).values(**values, updated_at=utcnow())
        )
        changed += res.rowcount
    return changed
