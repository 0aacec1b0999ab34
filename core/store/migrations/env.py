"""Alembic environment for the orbweaver store: run with a connection handed in by Store.migrate."""

from __future__ import annotations

from alembic import context

import core.store.tables  # noqa: F401  (registers every owner's models on Base.metadata)
from core.store.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through core.store.Store.migrate()")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
