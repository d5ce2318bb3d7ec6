"""Alembic environment: migrations run on the connection tisa hands over."""

from alembic import context

from tisa.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("tisa runs migrations through tisa.store.database.upgrade")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
