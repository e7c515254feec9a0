"""Run locks in the database: never two writers on one connector's cursor, on SQLite and PostgreSQL alike.

A lock is a row in ``run_lock`` inserted under a primary key; a second holder's insert fails. A lock whose
holder process is gone (same host, pid not running) or whose heartbeat is older than ``stale_after`` belongs to
a crashed process and is taken over. Holders refresh the heartbeat after every committed page.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from crmhub.errors import LockedError
from crmhub.i18n import bilingual
from crmhub.store.db import Store
from crmhub.store.tables import RunLock, SyncRun

STALE_AFTER = timedelta(minutes=10)


def holder_id() -> str:
    """This process: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_dead(holder: str) -> bool:
    """True when ``holder`` is a process on this host that no longer exists (killed, crashed).

    Locks of processes on other hosts are only taken over once their heartbeat is stale.
    """
    host, _, pid_text = holder.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LockSet:
    """Locks on several names held by one run."""

    def __init__(
        self, store: Store, names: Iterable[str], *, run_id: int | None = None, stale_after: timedelta = STALE_AFTER
    ) -> None:
        self.store = store
        self.names = sorted(set(names))
        self.run_id = run_id
        self.holder = holder_id()
        self.stale_after = stale_after
        self.held: list[str] = []

    def try_acquire(self) -> str | None:
        """Take every lock or none; return the name of a lock held by someone else (None when all taken)."""
        for name in self.names:
            blocked = self._take(name)
            if blocked is not None:
                self.release()
                return blocked
            self.held.append(name)
        return None

    def _take(self, name: str) -> str | None:
        now = datetime.now(UTC)
        try:
            with self.store.begin() as s:
                existing = s.get(RunLock, name, with_for_update=True)
                if existing is not None:
                    alive = not holder_is_dead(existing.holder)
                    if alive and now - existing.heartbeat_at < self.stale_after and existing.holder != self.holder:
                        return f"{name} (held by {existing.holder} since {existing.acquired_at:%Y-%m-%d %H:%M:%S}Z)"
                    s.delete(existing)
                    s.flush()
                s.add(RunLock(name=name, holder=self.holder, run_id=self.run_id, acquired_at=now, heartbeat_at=now))
        except IntegrityError:
            return f"{name} (just taken by another process)"
        return None

    def acquire(self, *, wait: float = 0.0, poll: float = 1.0) -> None:
        """Acquire all, waiting up to ``wait`` seconds; raise `LockedError` naming the holder otherwise."""
        deadline = time.monotonic() + wait
        while True:
            blocked = self.try_acquire()
            if blocked is None:
                return
            if time.monotonic() >= deadline:
                raise LockedError(
                    bilingual(
                        f"另一个同步正在运行，连接器已被锁定：{blocked}",
                        f"another sync is running on this connector: {blocked}",
                    ),
                    hint=bilingual(
                        "等待其结束后重试，或加 --wait 秒数排队等待",
                        "wait for it to finish, or pass --wait SECONDS to queue behind it",
                    ),
                )
            time.sleep(poll)

    async def acquire_async(self, *, wait: float = 0.0, poll: float = 1.0) -> None:
        """`acquire` without blocking the event loop."""
        deadline = time.monotonic() + wait
        while True:
            blocked = await asyncio.to_thread(self.try_acquire)
            if blocked is None:
                return
            if time.monotonic() >= deadline:
                self.acquire(wait=0)
            await asyncio.sleep(poll)

    def heartbeat(self) -> None:
        """Refresh the heartbeat of every held lock, and of the run they are held for (see `crmhub.sync.recovery`)."""
        if not self.held:
            return
        now = datetime.now(UTC)
        with self.store.begin() as s:
            s.execute(
                update(RunLock)
                .where(RunLock.name.in_(self.held), RunLock.holder == self.holder)
                .values(heartbeat_at=now)
            )
            if self.run_id is not None:
                s.execute(update(SyncRun).where(SyncRun.id == self.run_id).values(heartbeat_at=now))

    def release(self) -> None:
        """Release every held lock."""
        if not self.held:
            return
        with self.store.begin() as s:
            s.execute(delete(RunLock).where(RunLock.name.in_(self.held), RunLock.holder == self.holder))
        self.held = []

    def __enter__(self) -> LockSet:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def held_locks(store: Store) -> list[RunLock]:
    """Every lock currently in the table (for `crmhub jobs list` and diagnostics)."""
    with store.begin() as s:
        return list(s.scalars(select(RunLock).order_by(RunLock.name)))
