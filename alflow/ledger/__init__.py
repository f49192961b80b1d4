"""The ledger (SQLAlchemy 2): SQLite in the workspace by default, PostgreSQL by URL."""

from alflow.ledger.ledger import Ledger
from alflow.ledger.records import EventRecord, ExportRecord, RoundRecord, StopRecord
from alflow.ledger.states import (
    IN_FLIGHT,
    EventKind,
    ItemState,
    ModelLabelKind,
    RoundStatus,
    SelectionReason,
)

__all__ = [
    "IN_FLIGHT",
    "EventKind",
    "EventRecord",
    "ExportRecord",
    "ItemState",
    "Ledger",
    "ModelLabelKind",
    "RoundRecord",
    "RoundStatus",
    "SelectionReason",
    "StopRecord",
]
