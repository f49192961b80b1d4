"""operations: selection reasons, round ingest watermarks, locks and campaign stops

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 01:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("selections", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reason", sa.String(length=16), nullable=False, server_default="strategy")
        )
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ingest_watermark", sa.Integer(), nullable=True))
    op.create_table(
        "locks",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=256), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "campaign_stops",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("campaign_stops")
    op.drop_table("locks")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_column("ingest_watermark")
    with op.batch_alter_table("selections", schema=None) as batch_op:
        batch_op.drop_column("reason")
