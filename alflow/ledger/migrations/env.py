"""Alembic environment: runs on the connection alflow hands it (never reads alembic.ini)."""

from alembic import context

from alflow.ledger.schema import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
