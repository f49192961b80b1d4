"""annotation refs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 23:19:53.660745
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("annotation_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("annotation_ref", sa.String(length=100), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_annotation_events_annotation_ref"), ["annotation_ref"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("annotation_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotation_events_annotation_ref"))
        batch_op.drop_column("annotation_ref")
