"""Proactive pacing: a concurrency cap, a sliding call window and a daily credit budget.

Connectors pace themselves below the documented limits instead of discovering them through 429s:
``async with budget.slot(): response = await client.get(...)``. The windows and caps here live in one process
(`LocalRateLimits`); when several crmhub processes call one tenant, the core hands plugins a store-backed
`crmhub.contract.RateLimits` instead (`crmhub.store.ratelimits`), and a plugin written against the protocol paces
the same way with either.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from crmhub.contract import CallWindow, ConcurrencyCap
from crmhub.errors import QuotaExhaustedError


class SlidingWindow:
    """At most ``calls`` starts in any ``period`` seconds (e.g. Fenxiang's 100 per 20 s per path)."""

    def __init__(
        self,
        calls: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if calls < 1 or period <= 0:
            raise ValueError("a sliding window needs calls >= 1 and period > 0")
        self.calls = calls
        self.period = period
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._clock = clock
        self._sleep = sleep
        self.waited = 0.0

    async def acquire(self) -> None:
        """Wait until one more call fits in the window, then record it."""
        async with self._lock:
            while True:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.period:
                    self._starts.popleft()
                if len(self._starts) < self.calls:
                    self._starts.append(now)
                    return
                delay = self.period - (now - self._starts[0]) + 0.001
                self.waited += delay
                await self._sleep(delay)


class LocalCap:
    """`crmhub.contract.ConcurrencyCap` in one process: an asyncio semaphore."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a concurrency cap needs limit >= 1")
        self.limit = limit
        self._semaphore = asyncio.Semaphore(limit)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the ``limit`` slots."""
        async with self._semaphore:
            yield


class LocalRateLimits:
    """`crmhub.contract.RateLimits` in one process: what a plugin uses when its context brings none.

    Budgets are per instance and per key, so the connectors that share one instance share a tenant's budget; a
    process with its own instance (or none) paces alone — right for one process, too generous for several (then the
    core passes the store's implementation).
    """

    def __init__(self) -> None:
        self._windows: dict[str, SlidingWindow] = {}
        self._caps: dict[str, LocalCap] = {}

    def window(self, key: str, calls: int, period: float) -> CallWindow:
        """The window ``key``, created on first use."""
        win = self._windows.get(key)
        if win is None:
            win = self._windows[key] = SlidingWindow(calls, period)
        return win

    def concurrency(self, key: str, limit: int) -> ConcurrencyCap:
        """The cap ``key``, created on first use."""
        cap = self._caps.get(key)
        if cap is None:
            cap = self._caps[key] = LocalCap(limit)
        return cap


class RateBudget:
    """Concurrency cap + optional sliding windows + optional daily credits, for one outside API.

    ``cap`` replaces the in-process concurrency cap with a shared one (`crmhub.contract.RateLimits.concurrency`);
    the in-flight counters stay this instance's own.
    """

    def __init__(
        self,
        *,
        concurrency: int = 5,
        window: SlidingWindow | None = None,
        daily_credits: int | None = None,
        cap: ConcurrencyCap | None = None,
    ) -> None:
        self.cap: ConcurrencyCap = cap if cap is not None else LocalCap(max(1, concurrency))
        self.concurrency = self.cap.limit
        self.window = window
        self.daily_credits = daily_credits
        self.credits_remaining: int | None = daily_credits
        self.in_flight = 0
        self.peak_in_flight = 0

    def note_remaining(self, remaining: int | None) -> None:
        """Record the service's own count of credits left (e.g. Zoho ``X-API-CREDITS-REMAINING``)."""
        if remaining is not None:
            self.credits_remaining = remaining

    def spend(self, credits: int = 1) -> None:
        """Take credits from the local count; raise `QuotaExhaustedError` when none are left."""
        if self.credits_remaining is None:
            return
        if self.credits_remaining < credits:
            raise QuotaExhaustedError(
                "the daily API credit budget is spent",
                hint="the run stops with its cursor saved; it resumes when credits are available again",
            )
        self.credits_remaining -= credits

    @asynccontextmanager
    async def slot(self, credits: int = 1) -> AsyncIterator[None]:
        """Hold one concurrency slot (and a window start and credits) for one call."""
        self.spend(credits)
        async with self.cap.slot():
            if self.window is not None:
                await self.window.acquire()
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1
