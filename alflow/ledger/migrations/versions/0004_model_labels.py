"""model labels: pseudo-labels and weak labels in one table, told apart by kind

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 01:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_labels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.String(length=256), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.item_id"]),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "round_id", "item_id", name="uq_model_label"),
    )
    op.create_index("ix_model_labels_kind_item", "model_labels", ["kind", "item_id"])
    op.execute(
        "INSERT INTO model_labels (kind, round_id, item_id, label, confidence) "
        "SELECT 'pseudo', round_id, item_id, label, confidence FROM pseudo_labels"
    )
    op.drop_table("pseudo_labels")


def downgrade() -> None:
    op.create_table(
        "pseudo_labels",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(length=256), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.item_id"]),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"]),
        sa.PrimaryKeyConstraint("round_id", "item_id"),
    )
    op.execute(
        "INSERT INTO pseudo_labels (round_id, item_id, label, confidence) "
        "SELECT round_id, item_id, label, confidence FROM model_labels WHERE kind = 'pseudo'"
    )
    op.drop_index("ix_model_labels_kind_item", table_name="model_labels")
    op.drop_table("model_labels")
