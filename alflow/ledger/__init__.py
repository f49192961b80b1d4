"""The ledger (SQLAlchemy 2): SQLite in the workspace by default, PostgreSQL by URL."""

from alflow.ledger.ledger import IN_FLIGHT, EventRecord, Ledger

__all__ = ["IN_FLIGHT", "EventRecord", "Ledger"]
