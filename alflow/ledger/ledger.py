"""The ledger: the one package that talks to the database.

Every state transition is one transaction guarded by unique constraints and state checks, so a
retried task, a rerun flow or a re-imported file never selects an item twice, exports a batch twice
or counts an annotation twice. Each concern lives in its own module; ``Ledger`` composes them.
"""

from __future__ import annotations

from alflow.ledger.audit import AuditLedger
from alflow.ledger.items import ItemsLedger
from alflow.ledger.locks import LocksLedger
from alflow.ledger.model_labels import ModelLabelsLedger
from alflow.ledger.rounds import RoundsLedger
from alflow.ledger.stops import StopsLedger
from alflow.ledger.training import TrainingLedger


class Ledger(
    ItemsLedger,
    RoundsLedger,
    AuditLedger,
    TrainingLedger,
    ModelLabelsLedger,
    LocksLedger,
    StopsLedger,
):
    """Item states, rounds, selections, exports, annotation events, labels, locks and stops."""
