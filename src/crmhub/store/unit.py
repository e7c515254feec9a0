"""Transactions for one sync run: one commit per page normally; nothing kept in a dry run.

A dry run executes the very same code path against a scratch copy of the store, so ``--dry-run`` shows the real
plan and writes nothing anywhere:

- on PostgreSQL every "commit" is a savepoint inside one outer transaction that is rolled back at the end (MVCC:
  other writers are not blocked);
- on SQLite, which has one writer at a time, a long outer transaction would block every other writer (a
  scheduled sync, the token cache) for the whole dry run — so the run works on a temporary copy of the database
  (SQLite's online backup), which is thrown away afterwards.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Transaction
from sqlalchemy.orm import Session

from crmhub.store.db import Store


def _sqlite_copy(store: Store) -> tuple[Store, Path]:
    """A consistent copy of an SQLite store in a temporary file (online backup: safe while others write)."""
    tmp = Path(tempfile.mkdtemp(prefix="crmhub-dry-run-")) / "dry-run.db"
    source = store.engine.raw_connection()
    try:
        dest = sqlite3.connect(tmp)
        try:
            source.driver_connection.backup(dest)  # type: ignore[union-attr]
        finally:
            dest.close()
    finally:
        source.close()
    return Store.open(f"sqlite:///{tmp}", migrate=False), tmp


class UnitOfWork:
    """Hands out transactional sessions for a run."""

    def __init__(self, store: Store, *, dry_run: bool = False) -> None:
        self.dry_run = dry_run
        self._connection: Connection | None = None
        self._outer: Transaction | None = None
        self._scratch: Path | None = None
        self.store = store
        if dry_run and store.dialect == "sqlite":
            self.store, self._scratch = _sqlite_copy(store)
        elif dry_run:
            self._connection = store.engine.connect()
            self._connection.info["crmhub_deferred"] = True
            self._outer = self._connection.begin()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits (or, in a dry run on PostgreSQL, stays in the outer transaction)."""
        if self._connection is None:
            with self.store.begin() as session:
                yield session
            return
        with (
            Session(
                bind=self._connection, join_transaction_mode="create_savepoint", expire_on_commit=False, autoflush=False
            ) as session,
            session.begin(),
        ):
            yield session

    def close(self) -> None:
        """End the run: roll back (PostgreSQL) or delete the scratch copy (SQLite) in a dry run."""
        if self._outer is not None and self._connection is not None:
            self._outer.rollback()
            self._connection.info.pop("crmhub_deferred", None)
            self._connection.close()
            self._outer = None
            self._connection = None
        if self._scratch is not None:
            self.store.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self._scratch}{suffix}").unlink(missing_ok=True)
            self._scratch.parent.rmdir()
            self._scratch = None
