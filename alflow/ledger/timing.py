"""Ledger statements booked as the ``ledger reads`` / ``ledger writes`` stages
(``alflow.stages``): one timer per statement, through SQLAlchemy's cursor events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from alflow import stages

READ, WRITE = "ledger reads", "ledger writes"


def _kind(statement: str) -> str:
    head = statement.lstrip()[:6].upper()
    return READ if head.startswith(("SELECT", "PRAGMA", "WITH")) else WRITE


def time_statements(engine: Engine) -> None:
    """Book every statement ``engine`` runs, and every commit, as a ledger stage."""

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        stages.enter(_kind(statement))

    def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        stages.leave(_kind(statement))

    def failed(context: Any) -> None:
        stages.leave(_kind(context.statement or ""))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)
