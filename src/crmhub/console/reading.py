"""Long reads for console pages without holding the store's write lock.

`Req.db` opens a normal transaction, which on SQLite starts with ``BEGIN IMMEDIATE`` (the write lock, so writers
queue instead of failing on a lock upgrade). A page that only reads for a noticeable time — a breakdown over the
whole book, an export, a walk of the audit chain — would keep every other writer (syncs, other operators) waiting
that long; `read_session` opens a deferred transaction instead (a consistent snapshot on SQLite's WAL, an ordinary
read on PostgreSQL). Never write in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from crmhub.store import Store
from crmhub.store.db import VAR_DIR_INFO

_DEFERRED = "crmhub_deferred"
"""`crmhub.store.db._sqlite_begin` reads this connection flag: a plain (deferred) BEGIN."""


@contextmanager
def read_session(store: Store) -> Iterator[Session]:
    """A read-only session in one deferred transaction (rolled back at the end: it never writes)."""
    with store.engine.connect() as connection:
        connection.info[_DEFERRED] = True
        try:
            with Session(
                bind=connection, expire_on_commit=False, autoflush=False, info={VAR_DIR_INFO: store.var_dir}
            ) as session:
                session.begin()
                try:
                    yield session
                finally:
                    session.rollback()
        finally:
            connection.info.pop(_DEFERRED, None)
