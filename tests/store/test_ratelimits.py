"""Rate budgets in the store: several holders (as several processes) share one window and one concurrency cap.

Each "process" here is a thread with its own event loop and its own `Store` on the same database, so the database
really sees concurrent takers; the same checks on in-process budgets fail, which shows the checks can fail.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text

from crmhub.contract import RateLimits
from crmhub.errors import StoreError
from crmhub.http import LocalRateLimits
from crmhub.store import Store
from crmhub.store.ratelimits import KEY_LENGTH, StoreRateLimits, stored_key


def _in_threads(makers: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run each coroutine factory in its own thread and event loop, all at once; their results in order."""
    results: list[Any] = [None] * len(makers)
    errors: list[BaseException] = []
    start = threading.Barrier(len(makers))

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = asyncio.run(makers[i]())  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(makers))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    if errors:
        raise errors[0]
    return results


def _most_in_any_window(starts: list[float], period: float) -> int:
    """The largest number of ``starts`` inside any half-open interval of ``period`` seconds."""
    starts = sorted(starts)
    best, lo = 0, 0
    for hi, t in enumerate(starts):
        while t - starts[lo] >= period:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _window_starts(limits: list[RateLimits], key: str, calls: int, period: float, each: int) -> list[float]:
    """``each`` acquires per holder, all holders at once; the times the acquires returned."""

    def maker(lim: RateLimits) -> Callable[[], Awaitable[list[float]]]:
        async def go() -> list[float]:
            win = lim.window(key, calls, period)
            out = []
            for _ in range(each):
                await win.acquire()
                out.append(time.monotonic())
            return out

        return go

    return [t for part in _in_threads([maker(lim) for lim in limits]) for t in part]


@pytest.fixture
def other_store(store_url: str, store: Store) -> Any:
    """A second `Store` on the same database, as a second crmhub process would open it."""
    second = Store.open(store_url)
    yield second
    second.dispose()


def test_two_holders_never_jointly_exceed_a_window(store: Store, other_store: Store) -> None:
    """Three holders taking 8 starts each from a 5-per-0.4 s window: never more than 5 in any 0.4 s (less a margin
    for the time between the stamp and the return); in-process windows let 15 through in the same test."""
    calls, period = 5, 0.4
    shared = [StoreRateLimits(store), StoreRateLimits(other_store), StoreRateLimits(store)]
    starts = _window_starts(list(shared), "fx|t1|/cgi/crm/v2/data/query", calls, period, 8)
    for lim in shared:
        lim.close()
    assert len(starts) == 24
    assert _most_in_any_window(starts, period * 0.85) <= calls
    assert max(starts) - min(starts) >= 4 * period * 0.95  # 24 starts at 5 per window span at least 4 periods

    alone = _window_starts([LocalRateLimits() for _ in range(3)], "k", calls, period, 8)
    assert _most_in_any_window(alone, period * 0.85) >= 3 * calls


def test_keys_do_not_share(store: Store) -> None:
    """Two tenants (two keys) each get the whole window at once."""
    limits = StoreRateLimits(store)

    async def go() -> float:
        t0 = time.monotonic()
        for key in ("fx|tenant-a|/p", "fx|tenant-b|/p"):
            for _ in range(3):
                await limits.window(key, 3, 5.0).acquire()
        return time.monotonic() - t0

    assert asyncio.run(go()) < 2.0
    assert limits.window("fx|tenant-a|/p", 3, 5.0) is limits.window("fx|tenant-a|/p", 3, 5.0)
    limits.close()


def test_a_full_window_waits_for_its_oldest_start(store: Store) -> None:
    """The fourth start of a 3-per-0.5 s window comes about 0.5 s after the first, and the wait is counted."""
    limits = StoreRateLimits(store)

    async def go() -> tuple[float, float]:
        win = limits.window("w", 3, 0.5)
        t0 = time.monotonic()
        for _ in range(4):
            await win.acquire()
        return time.monotonic() - t0, win.waited

    elapsed, waited = asyncio.run(go())
    assert 0.45 <= elapsed < 1.5 and waited > 0.3
    limits.close()


def _peak_in_flight(limits: list[RateLimits], key: str, limit: int, tasks: int, hold: float) -> int:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def maker(lim: RateLimits) -> Callable[[], Awaitable[None]]:
        async def one() -> None:
            async with lim.concurrency(key, limit).slot():
                with lock:
                    state["now"] += 1
                    state["peak"] = max(state["peak"], state["now"])
                await asyncio.sleep(hold)
                with lock:
                    state["now"] -= 1

        async def go() -> None:
            await asyncio.gather(*(one() for _ in range(tasks)))

        return go

    _in_threads([maker(lim) for lim in limits])
    return state["peak"]


def test_two_holders_share_a_concurrency_cap(store: Store, other_store: Store) -> None:
    """Two holders with 4 calls each under a cap of 3: never more than 3 in flight together (in-process caps: 6)."""
    shared = [StoreRateLimits(store, poll=0.005), StoreRateLimits(other_store, poll=0.005)]
    assert _peak_in_flight(list(shared), "zoho|org|all", 3, 4, 0.08) == 3
    for lim in shared:
        lim.close()
    assert _peak_in_flight([LocalRateLimits(), LocalRateLimits()], "zoho|org|all", 3, 4, 0.08) == 6


def test_a_dead_holders_slot_frees_when_its_lease_runs_out(store: Store) -> None:
    """A process killed while holding every slot (its leases taken, never given back) blocks the cap only until the
    leases run out; a live holder renews its lease, so a long call keeps its slot past the lease time."""
    dead = StoreRateLimits(store, lease=0.4)
    for _ in range(2):  # what a SIGKILLed holder leaves behind: taken leases, no release, no renewal
        assert dead._backend.claim_lease("cap", 2, "gone-host:1:x", 0.4) is not None
    assert dead._backend.claim_lease("cap", 2, "me", 0.4) is None
    live = StoreRateLimits(store, lease=0.3, poll=0.01)

    async def go() -> tuple[float, bool]:
        t0 = time.monotonic()
        cap = live.concurrency("cap", 2)
        async with cap.slot():
            waited = time.monotonic() - t0
            await asyncio.sleep(0.5)  # longer than the lease: renewed meanwhile
            taken = await asyncio.to_thread(dead._backend.claim_lease, "cap", 2, "other", 0.3)
            # one slot was still the dead holder's and has run out, so "other" gets it; ours was renewed
            again = await asyncio.to_thread(dead._backend.claim_lease, "cap", 2, "third", 0.3)
        return waited, taken is not None and again is None

    waited, renewed = asyncio.run(go())
    assert 0.3 <= waited < 2.0
    assert renewed
    live.close()
    dead.close()


def test_cancelled_waiters_leave_no_slot_taken(store: Store) -> None:
    """Callers cancelled while waiting for a full cap (a run stopped) give back whatever they got."""
    limits = StoreRateLimits(store, poll=0.005)

    async def go() -> int | None:
        cap = limits.concurrency("c", 1)

        async def hold() -> None:
            async with cap.slot():
                await asyncio.sleep(0.1)

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.02)
        waiters = [asyncio.create_task(hold()) for _ in range(3)]
        await asyncio.sleep(0.03)
        for w in waiters:
            w.cancel()
        await holder
        await asyncio.gather(*waiters, return_exceptions=True)
        await asyncio.sleep(0.05)
        return await asyncio.to_thread(limits._backend.claim_lease, "c", 1, "check", 1.0)

    assert asyncio.run(go()) is not None
    limits.close()


def test_long_keys_are_shortened_stably() -> None:
    """A key longer than the column keeps its head and a hash of the whole (two long keys stay apart)."""
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert len(stored_key(a)) == KEY_LENGTH and stored_key(a) == stored_key(a) != stored_key(b)
    assert stored_key("short") == "short"


def test_an_unusable_store_is_a_clear_error(store_url: str) -> None:
    """Without the tables (a store never migrated) acquiring raises a StoreError saying what to do."""
    bare = Store.open(store_url, migrate=False)
    limits = StoreRateLimits(bare)
    with pytest.raises(StoreError, match=r"shared rate budget.*shared_budget = false"):
        asyncio.run(limits.window("k", 1, 1.0).acquire())
    limits.close()
    bare.dispose()


def test_the_budgets_connection_settings_stay_its_own(store: Store) -> None:
    """On PostgreSQL the budget's connection commits without waiting for the WAL flush; the store's pooled
    connections (golden records, outbox) keep the server's default, before and after the budget closes."""
    limits = StoreRateLimits(store)
    asyncio.run(limits.window("k", 2, 1.0).acquire())
    if store.dialect == "postgresql":
        assert limits._backend._conn is not None
        assert limits._backend._conn.execute(text("SHOW synchronous_commit")).scalar() == "off"
    limits.close()
    if store.dialect == "postgresql":
        for _ in range(3):
            with store.engine.connect() as conn:
                assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"


def test_a_dropped_connection_is_replaced(store: Store) -> None:
    """The database closing the budget's kept connection (a restart, an idle timeout) costs nothing: the next
    acquire reconnects once and goes on."""
    limits = StoreRateLimits(store)

    async def twice() -> None:
        win = limits.window("k", 5, 1.0)
        await win.acquire()
        if store.dialect == "postgresql":
            conn = limits._backend._conn
            assert conn is not None
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            with store.engine.begin() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await win.acquire()

    asyncio.run(twice())
    limits.close()
