"""Alembic environment: migrations run on the connection crmhub hands over (never from alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from crmhub.store.tables import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = context.config.attributes["engine"]
    with engine.begin() as conn:
        _run(conn)
