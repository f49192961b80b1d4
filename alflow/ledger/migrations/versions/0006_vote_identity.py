"""vote identity: the vendor's time of each annotation event (supersession), retractions

Revision ID: 0006_vote_identity
Revises: 0007_state_checks
Create Date: 2026-12-01 21:40:00

Retractions are events of kind ``retract``: the kind's CHECK constraint gains it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_vote_identity"
down_revision = "0007_state_checks"
branch_labels = None
depends_on = None

CHECK = "ck_annotation_events_kind"


def _kinds(*kinds: str) -> str:
    return "kind IN ({})".format(", ".join(f"'{k}'" for k in kinds))


def upgrade() -> None:
    with op.batch_alter_table("annotation_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_time", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(CHECK, type_="check")
        batch_op.create_check_constraint(CHECK, _kinds("label", "ground_truth", "skip", "retract"))


def downgrade() -> None:
    with op.batch_alter_table("annotation_events", schema=None) as batch_op:
        batch_op.drop_constraint(CHECK, type_="check")
        batch_op.create_check_constraint(CHECK, _kinds("label", "ground_truth", "skip"))
        batch_op.drop_column("event_time")
