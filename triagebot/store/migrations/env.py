"""Alembic's entry point: migrations run on the connection ``triagebot.store.migrate`` passes
in, inside its transaction and under its schema lock (never from an ``alembic.ini``)."""

from __future__ import annotations

from alembic import context

from triagebot.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying tables
)
with context.begin_transaction():
    context.run_migrations()
