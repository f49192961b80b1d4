"""The ledger's engine and its one session style: every unit of work is ``transaction()``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from alflow.errors import LedgerError
from alflow.ledger import migrate
from alflow.ledger.timing import time_statements
from alflow.stages import stage

SUPPORTED = {"sqlite": sqlite, "postgresql": postgresql}
BUSY_SECONDS = "ALFLOW_LEDGER_BUSY_SECONDS"  # how long a command waits for a locked SQLite ledger
_IN_CHUNK = 900  # stays under every backend's bound-parameter limit


def chunks(seq: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    """``seq`` in slices small enough for one ``IN (...)``."""
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def by_id(
    session: Session, table: Any, item_ids: Iterable[str], *columns: Any, for_update: bool = False
) -> list[tuple]:
    """``(item_id, *columns)`` rows of ``table`` for the known ids, queried in bounded chunks
    (``for_update``: rows locked until the transaction ends, where the backend locks rows)."""
    rows: list[tuple] = []
    for chunk in chunks(sorted(set(item_ids))):
        query = select(table.item_id, *columns).where(table.item_id.in_(chunk))
        if for_update:  # in id order, so two transactions lock shared rows in the same order
            query = query.order_by(table.item_id).with_for_update()
        rows.extend(session.execute(query).tuples())
    return rows


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    wait_ms = int(float(os.environ.get(BUSY_SECONDS, "30")) * 1000)
    cursor.execute(f"PRAGMA busy_timeout={wait_ms}")
    cursor.close()


class LedgerStore:
    """The database behind the ledger: engine, migrations, transactions."""

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
        with stage("ledger open"):
            migrate.upgrade(self.engine)
        self._sessions = sessionmaker(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error."""
        with self._sessions.begin() as session:
            yield session

    def _insert_ignore(self, table: Any) -> Any:
        return SUPPORTED[self.engine.dialect.name].insert(table).on_conflict_do_nothing()
