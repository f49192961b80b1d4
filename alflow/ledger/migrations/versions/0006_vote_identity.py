"""vote identity: the vendor's time of each annotation event (supersession), retractions

Revision ID: 0006_vote_identity
Revises: 0005
Create Date: 2026-12-01 21:40:00

Retractions are events of kind ``retract`` (``kind`` is a String(16): no schema change).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_vote_identity"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("annotation_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("annotation_events", schema=None) as batch_op:
        batch_op.drop_column("event_time")
