"""Rate budgets in the store, shared by every crmhub process that opens it (`crmhub.contract.RateLimits`).

Why: an outside service counts a tenant's calls together, whichever process makes them — ten workers of a split
sync, or a `crmhub deliver` beside a `crmhub sync`, each pacing itself to Fenxiang's 100 calls / 20 s per path
would together send ten times that. Here the budget is rows in the store:

* a **sliding window** of ``calls`` per ``period`` is ``calls`` rows (``rate_window_slot``) per key, each holding the
  start of the call that last took it. A call may start when some slot's start is ``period`` old; it stamps that
  slot with now. However many processes share the key, at most ``calls`` starts fall in any ``period``.
* a **concurrency cap** of ``limit`` is ``limit`` rows (``rate_lease``) per key; a call holds one (holder, expiry)
  while it runs and renews it every third of the lease. A process killed mid-call holds its slot only until the
  lease runs out (`LEASE_SECONDS`), never for good.

On PostgreSQL one acquire is **one statement** in autocommit on a connection this object keeps: the free row is
picked ``FOR UPDATE SKIP LOCKED`` (concurrent takers take different rows; PostgreSQL re-checks the row's newest
version, so a slot another process just took is never taken twice) and stamped with the database's clock (hosts'
clocks may differ; the database has one). On SQLite the same rows are read and stamped inside ``BEGIN IMMEDIATE``
(the database's write lock, shared by the processes of one host). Each process also queues its own callers first
(one database poller per window, ``limit`` per cap), so waiting does not hammer the store. The database work runs in
a thread: a busy SQLite never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from crmhub.contract import CallWindow, ConcurrencyCap
from crmhub.errors import StoreError
from crmhub.store.db import Store

log = logging.getLogger("crmhub.store.ratelimits")

LEASE_SECONDS = 30.0
"""How long a concurrency slot stays taken without renewal: the longest a killed process blocks one slot."""

KEY_LENGTH = 200
"""Longest key kept as given (the column's width); longer ones keep their head and a hash of the whole."""

T = TypeVar("T")

_PG_NOW = "extract(epoch FROM clock_timestamp())::float8"

_PG_CLAIM_START = text(f"""
WITH t AS (SELECT {_PG_NOW} AS now),
free AS (
    SELECT s.slot FROM rate_window_slot s, t
    WHERE s.key = :key AND s.slot < :calls AND s.started_at <= t.now - :period
    ORDER BY s.started_at LIMIT 1
    FOR UPDATE OF s SKIP LOCKED
),
claimed AS (
    UPDATE rate_window_slot s SET started_at = t.now FROM t
    WHERE s.key = :key AND s.slot = (SELECT slot FROM free)
    RETURNING s.slot
)
SELECT c.slot, t.now,
       CASE WHEN c.slot IS NULL THEN
           (SELECT min(started_at) FROM rate_window_slot WHERE key = :key AND slot < :calls) END AS oldest,
       CASE WHEN c.slot IS NULL THEN
           (SELECT count(*) FROM rate_window_slot WHERE key = :key AND slot < :calls) END AS slots
FROM t LEFT JOIN claimed c ON true
""")

_PG_CLAIM_LEASE = text(f"""
WITH t AS (SELECT {_PG_NOW} AS now),
free AS (
    SELECT l.slot FROM rate_lease l, t
    WHERE l.key = :key AND l.slot < :limit AND (l.holder IS NULL OR l.expires_at <= t.now)
    ORDER BY l.slot LIMIT 1
    FOR UPDATE OF l SKIP LOCKED
),
claimed AS (
    UPDATE rate_lease l SET holder = :holder, expires_at = t.now + :ttl FROM t
    WHERE l.key = :key AND l.slot = (SELECT slot FROM free)
    RETURNING l.slot
)
SELECT c.slot,
       CASE WHEN c.slot IS NULL THEN
           (SELECT count(*) FROM rate_lease WHERE key = :key AND slot < :limit) END AS slots
FROM (SELECT 1) one LEFT JOIN claimed c ON true
""")

_PG_RENEW = text(
    f"UPDATE rate_lease SET expires_at = {_PG_NOW} + :ttl WHERE key = :key AND slot = :slot AND holder = :holder"
)
_RELEASE = text(
    "UPDATE rate_lease SET holder = NULL, expires_at = 0 WHERE key = :key AND slot = :slot AND holder = :holder"
)
_PG_ADD_SLOTS = text(
    "INSERT INTO rate_window_slot (key, slot, started_at) SELECT :key, g, 0 FROM generate_series(0, :n - 1) g "
    "ON CONFLICT DO NOTHING"
)
_PG_ADD_LEASES = text(
    "INSERT INTO rate_lease (key, slot, holder, expires_at) SELECT :key, g, NULL, 0 FROM generate_series(0, :n - 1) g "
    "ON CONFLICT DO NOTHING"
)

_LITE_SLOTS = text("SELECT slot, started_at FROM rate_window_slot WHERE key = :key AND slot < :calls")
_LITE_ADD_SLOT = text("INSERT OR IGNORE INTO rate_window_slot (key, slot, started_at) VALUES (:key, :slot, 0)")
_LITE_STAMP = text("UPDATE rate_window_slot SET started_at = :now WHERE key = :key AND slot = :slot")
_LITE_CLAIM_LEASE = text("""
UPDATE rate_lease SET holder = :holder, expires_at = :now + :ttl
WHERE key = :key AND slot = (
    SELECT slot FROM rate_lease
    WHERE key = :key AND slot < :limit AND (holder IS NULL OR expires_at <= :now)
    ORDER BY slot LIMIT 1
)
RETURNING slot
""")
_LITE_COUNT_LEASES = text("SELECT count(*) FROM rate_lease WHERE key = :key AND slot < :limit")
_LITE_ADD_LEASE = text("INSERT OR IGNORE INTO rate_lease (key, slot, holder, expires_at) VALUES (:key, :slot, NULL, 0)")
_LITE_RENEW = text(
    "UPDATE rate_lease SET expires_at = :now + :ttl WHERE key = :key AND slot = :slot AND holder = :holder"
)


def stored_key(key: str) -> str:
    """``key`` as kept in the store: as given up to `KEY_LENGTH`, else its head and a hash of the whole."""
    if len(key) <= KEY_LENGTH:
        return key
    return f"{key[: KEY_LENGTH - 41]}#{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def _holder() -> str:
    """A name for one lease: this host and process (for an operator reading the table) and a unique tail."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class _Backend:
    """The database side of the budgets; every method is synchronous and runs in a worker thread."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.postgres = store.dialect == "postgresql"
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def _run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` on PostgreSQL's kept autocommit connection (reconnecting once if it broke) or in one
        ``BEGIN IMMEDIATE`` transaction on SQLite; database failures become a `StoreError` saying what to do."""
        try:
            if not self.postgres:
                with self.store.engine.begin() as conn:
                    return work(conn)
            with self._lock:
                for attempt in (1, 2):
                    if self._conn is None:
                        self._conn = self._connect()
                    try:
                        return work(self._conn)
                    except DBAPIError as exc:
                        self._drop()
                        if attempt == 2 or not exc.connection_invalidated:
                            raise
                raise AssertionError("unreachable")  # pragma: no cover
        except DBAPIError as exc:
            raise StoreError(
                f"the shared rate budget could not reach the store ({type(exc.orig).__name__})",
                hint="check that the database named by [store].url is up; [sync] shared_budget = false paces "
                "each process on its own instead",
            ) from None

    def _connect(self) -> Connection:
        """The kept PostgreSQL connection: autocommit (one statement, one round trip) without waiting for the WAL
        flush of each commit — a stamp lost to a database crash lets at most one window's calls through again,
        while a flush per call costs milliseconds on a busy disk. Detached from the store's pool, so that session
        setting never reaches another user of the pool (closing it closes the connection)."""
        conn = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("SET synchronous_commit TO off"))
        conn.detach()
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("closing a broken rate-budget connection failed", exc_info=True)
            self._conn = None

    def close(self) -> None:
        """Return the kept connection."""
        with self._lock:
            self._drop()

    # -- windows ---------------------------------------------------------------------------------------------

    def claim_start(self, key: str, calls: int, period: float) -> float | None:
        """Stamp one free slot of window ``key`` and return None, or the seconds until the oldest slot frees."""
        if self.postgres:

            def pg(conn: Connection) -> float | None:
                for _ in (1, 2):
                    row = conn.execute(_PG_CLAIM_START, {"key": key, "calls": calls, "period": period}).one()
                    if row.slot is not None:
                        return None
                    if row.slots >= calls:
                        return float(row.oldest) + period - float(row.now)
                    conn.execute(_PG_ADD_SLOTS, {"key": key, "n": calls})
                return 0.0

            return self._run(pg)

        def lite(conn: Connection) -> float | None:
            rows = conn.execute(_LITE_SLOTS, {"key": key, "calls": calls}).all()
            if len(rows) < calls:
                have = {r.slot for r in rows}
                missing = [{"key": key, "slot": n} for n in range(calls) if n not in have]
                conn.execute(_LITE_ADD_SLOT, missing)
                rows = conn.execute(_LITE_SLOTS, {"key": key, "calls": calls}).all()
            now = time.time()
            oldest = min(rows, key=lambda r: r.started_at)
            if oldest.started_at <= now - period:
                conn.execute(_LITE_STAMP, {"key": key, "slot": oldest.slot, "now": now})
                return None
            return float(oldest.started_at) + period - now

        return self._run(lite)

    # -- leases ----------------------------------------------------------------------------------------------

    def claim_lease(self, key: str, limit: int, holder: str, ttl: float) -> int | None:
        """Take one free (or expired) slot of cap ``key`` for ``holder``; None when all are held."""
        args = {"key": key, "limit": limit, "holder": holder, "ttl": ttl}
        if self.postgres:

            def pg(conn: Connection) -> int | None:
                for _ in (1, 2):
                    row = conn.execute(_PG_CLAIM_LEASE, args).one()
                    if row.slot is not None or row.slots >= limit:
                        return None if row.slot is None else int(row.slot)
                    conn.execute(_PG_ADD_LEASES, {"key": key, "n": limit})
                return None

            return self._run(pg)

        def lite(conn: Connection) -> int | None:
            if conn.execute(_LITE_COUNT_LEASES, args).scalar_one() < limit:
                conn.execute(_LITE_ADD_LEASE, [{"key": key, "slot": n} for n in range(limit)])
            slot = conn.execute(_LITE_CLAIM_LEASE, {**args, "now": time.time()}).scalar()
            return None if slot is None else int(slot)

        return self._run(lite)

    def renew_lease(self, key: str, slot: int, holder: str, ttl: float) -> bool:
        """Push the lease's expiry out by ``ttl``; False when it ran out and someone else took the slot."""
        args: dict[str, Any] = {"key": key, "slot": slot, "holder": holder, "ttl": ttl}
        if self.postgres:
            return self._run(lambda conn: conn.execute(_PG_RENEW, args).rowcount == 1)
        return self._run(lambda conn: conn.execute(_LITE_RENEW, {**args, "now": time.time()}).rowcount == 1)

    def release_lease(self, key: str, slot: int, holder: str) -> None:
        """Free the slot if ``holder`` still holds it."""
        self._run(lambda conn: conn.execute(_RELEASE, {"key": key, "slot": slot, "holder": holder}))


class StoreWindow:
    """A `crmhub.contract.CallWindow` in the store; this process's callers queue for it one at a time."""

    def __init__(self, backend: _Backend, key: str, calls: int, period: float) -> None:
        if calls < 1 or period <= 0:
            raise ValueError("a sliding window needs calls >= 1 and period > 0")
        self.key = key
        self.calls = calls
        self.period = period
        self.waited = 0.0
        self._backend = backend
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more start fits in the window shared by every process, then record it."""
        async with self._lock:
            while True:
                wait = await asyncio.to_thread(self._backend.claim_start, self.key, self.calls, self.period)
                if wait is None:
                    return
                # a slot another process is taking this instant was skipped: look again shortly
                delay = max(wait, 0.002 + random.random() * 0.008) + 0.001
                self.waited += delay
                await asyncio.sleep(delay)


class StoreCap:
    """A `crmhub.contract.ConcurrencyCap` in the store: leases that expire unless their holder renews them."""

    def __init__(self, backend: _Backend, key: str, limit: int, *, lease: float, poll: float) -> None:
        if limit < 1:
            raise ValueError("a concurrency cap needs limit >= 1")
        self.key = key
        self.limit = limit
        self.lease = lease
        self.poll = poll
        self.waited = 0.0
        self._backend = backend
        self._local = asyncio.Semaphore(limit)
        self._late: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot of the cap shared by every process for the body of ``async with``."""
        async with self._local:
            slot, holder = await self._take()
            renewal = asyncio.create_task(self._renew(slot, holder))
            try:
                yield
            finally:
                renewal.cancel()
                await asyncio.shield(self._release(slot, holder))

    async def _take(self) -> tuple[int, str]:
        holder = _holder()
        delay = self.poll
        while True:
            claim = asyncio.ensure_future(
                asyncio.to_thread(self._backend.claim_lease, self.key, self.limit, holder, self.lease)
            )
            try:
                slot = await asyncio.shield(claim)
            except asyncio.CancelledError:  # the claim may still succeed in its thread: give the slot back then
                claim.add_done_callback(lambda done: self._release_late(done, holder))
                raise
            if slot is not None:
                return slot, holder
            pause = delay * (0.5 + random.random())
            self.waited += pause
            await asyncio.sleep(pause)
            delay = min(delay * 2, 0.5)

    def _release_late(self, done: asyncio.Future[int | None], holder: str) -> None:
        if not done.cancelled() and done.exception() is None and (slot := done.result()) is not None:
            task = asyncio.ensure_future(self._release(slot, holder))
            self._late.add(task)
            task.add_done_callback(self._late.discard)

    async def _release(self, slot: int, holder: str) -> None:
        try:
            await asyncio.to_thread(self._backend.release_lease, self.key, slot, holder)
        except StoreError as exc:  # the lease runs out by itself
            log.warning("could not give back rate-budget slot %s of %s: %s", slot, self.key, exc)

    async def _renew(self, slot: int, holder: str) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                kept = await asyncio.to_thread(self._backend.renew_lease, self.key, slot, holder, self.lease)
            except StoreError as exc:
                log.warning("could not renew rate-budget slot %s of %s: %s", slot, self.key, exc)
                continue
            if not kept:
                log.warning("rate-budget slot %s of %s ran out before its call ended", slot, self.key)
                return


class StoreRateLimits:
    """`crmhub.contract.RateLimits` kept in the store: every process on the same store shares each key's budget.

    ``lease`` is how long a concurrency slot stays taken without renewal (a killed holder blocks it that long);
    ``poll`` the first pause between looks at a full cap (doubling to 0.5 s). `close` returns the connection.
    """

    def __init__(self, store: Store, *, lease: float = LEASE_SECONDS, poll: float = 0.02) -> None:
        self.store = store
        self.lease = lease
        self.poll = poll
        self._backend = _Backend(store)
        self._windows: dict[str, StoreWindow] = {}
        self._caps: dict[str, StoreCap] = {}

    def window(self, key: str, calls: int, period: float) -> CallWindow:
        """The shared window ``key``."""
        win = self._windows.get(key)
        if win is None:
            win = self._windows[key] = StoreWindow(self._backend, stored_key(key), calls, period)
        return win

    def concurrency(self, key: str, limit: int) -> ConcurrencyCap:
        """The shared cap ``key``."""
        cap = self._caps.get(key)
        if cap is None:
            cap = self._caps[key] = StoreCap(self._backend, stored_key(key), limit, lease=self.lease, poll=self.poll)
        return cap

    def close(self) -> None:
        """Return the kept database connection (a later call opens another)."""
        self._backend.close()
