"""state checks: each state column holds only its enum's values (alflow.ledger.states)

Revision ID: 0007_state_checks
Revises: 0005
Create Date: 2026-12-01 21:50:00
"""

from alembic import op

revision = "0007_state_checks"
down_revision = "0005"
branch_labels = None
depends_on = None

# the values as of this revision (a later change to an enum needs its own migration)
CHECKS = {
    "items": (
        "ck_items_state",
        "state",
        ("unlabeled", "selected", "exported", "labeled", "skipped", "needs_relabel"),
    ),
    "rounds": ("ck_rounds_status", "status", ("open", "selected", "exported", "trained")),
    "selections": ("ck_selections_reason", "reason", ("strategy", "stream", "control")),
    "annotation_events": ("ck_annotation_events_kind", "kind", ("label", "ground_truth", "skip")),
    "model_labels": ("ck_model_labels_kind", "kind", ("pseudo", "weak")),
}


def upgrade() -> None:
    for table, (name, column, values) in CHECKS.items():
        allowed = ", ".join(f"'{v}'" for v in values)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(name, f"{column} IN ({allowed})")


def downgrade() -> None:
    for table, (name, _column, _values) in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(name, type_="check")
