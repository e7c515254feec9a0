"""The store: SQLAlchemy tables, Alembic migrations, and the `Store` that opens them."""

from crmhub.store.db import DEFAULT_URL, Store, create_store_engine

__all__ = ["DEFAULT_URL", "Store", "create_store_engine"]
