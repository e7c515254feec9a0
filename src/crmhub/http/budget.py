"""Proactive pacing: a concurrency cap, a sliding call window and a daily credit budget.

Connectors pace themselves below the documented limits instead of discovering them through 429s:
``async with budget.slot(): response = await client.get(...)``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

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


class RateBudget:
    """Concurrency cap + optional sliding windows + optional daily credits, for one outside API."""

    def __init__(
        self, *, concurrency: int = 5, window: SlidingWindow | None = None, daily_credits: int | None = None
    ) -> None:
        self._semaphore = asyncio.Semaphore(max(1, concurrency))
        self.concurrency = max(1, concurrency)
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
        async with self._semaphore:
            if self.window is not None:
                await self.window.acquire()
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1
