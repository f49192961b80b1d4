"""Campaign stops: why a campaign stopped, until a resume clears it."""

from __future__ import annotations

from sqlalchemy import select, update

from alflow.ledger.records import StopRecord, record
from alflow.ledger.schema import CampaignStop
from alflow.ledger.store import LedgerStore


class StopsLedger(LedgerStore):
    """The campaign's active stop, if any."""

    def record_stop(self, reason: str, round_id: int | None) -> bool:
        """Record why the campaign stopped; False when a stop is already active."""
        with self.transaction() as s:
            if s.execute(select(CampaignStop.id).where(CampaignStop.active)).first():
                return False
            s.add(CampaignStop(reason=reason, round_id=round_id, active=True))
            return True

    def active_stop(self) -> StopRecord | None:
        with self.transaction() as s:
            query = select(CampaignStop).where(CampaignStop.active).order_by(CampaignStop.id)
            row = s.execute(query.limit(1)).scalar()
            return None if row is None else record(StopRecord, row)

    def clear_stop(self) -> None:
        with self.transaction() as s:
            s.execute(update(CampaignStop).where(CampaignStop.active).values(active=False))
