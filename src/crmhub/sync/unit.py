"""Transactions for one sync run: one commit per page normally; one rolled-back transaction in a dry run.

A dry run executes the very same code path, but every "commit" is a savepoint inside one outer transaction
that is rolled back at the end — so ``--dry-run`` shows the real plan and writes nothing anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Transaction
from sqlalchemy.orm import Session

from crmhub.store import Store


class UnitOfWork:
    """Hands out transactional sessions for a run."""

    def __init__(self, store: Store, *, dry_run: bool = False) -> None:
        self.store = store
        self.dry_run = dry_run
        self._connection: Connection | None = None
        self._outer: Transaction | None = None
        if dry_run:
            self._connection = store.engine.connect()
            self._connection.info["crmhub_deferred"] = True
            self._outer = self._connection.begin()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits (or, in a dry run, is kept in the outer transaction) on success."""
        if self._connection is None:
            with self.store.begin() as session:
                yield session
            return
        with Session(bind=self._connection, join_transaction_mode="create_savepoint",
                     expire_on_commit=False, autoflush=False) as session, session.begin():
            yield session

    def close(self) -> None:
        """End the run: roll back everything in a dry run."""
        if self._outer is not None and self._connection is not None:
            self._outer.rollback()
            self._connection.info.pop("crmhub_deferred", None)
            self._connection.close()
            self._outer = None
            self._connection = None
