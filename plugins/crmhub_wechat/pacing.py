"""Per-recipient pacing: WeCom silently drops application messages past 30 a minute (and 1,000 an hour) per
member, and a drop looks exactly like a success. Pacing below those limits is the only protection.

A message to several members must fit every member's window, and is recorded in all of them at the same instant
(the instant it is actually sent), so no member's window under-counts.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``calls`` messages to one recipient in any ``period`` seconds."""

    calls: int
    period: float


class RecipientPacer:
    """Sliding windows per recipient key, for one or more `Limit`s (e.g. 25/min and 900/h)."""

    def __init__(self, limits: Iterable[Limit], *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.limits = tuple(limits)
        if not self.limits or any(lim.calls < 1 or lim.period <= 0 for lim in self.limits):
            raise ValueError("every pacing limit needs calls >= 1 and period > 0")
        self._horizon = max(lim.period for lim in self.limits)
        self._sent: dict[str, deque[float]] = {}
        self._clock = clock
        self._sleep = sleep
        self.waited = 0.0

    def _delay(self, key: str, now: float) -> float:
        starts = self._sent.get(key)
        if not starts:
            return 0.0
        while starts and now - starts[0] >= self._horizon:
            starts.popleft()
        if not starts:
            del self._sent[key]
            return 0.0
        delay = 0.0
        for lim in self.limits:
            recent = [t for t in starts if now - t < lim.period] if lim.period < self._horizon else list(starts)
            if len(recent) >= lim.calls:
                delay = max(delay, lim.period - (now - recent[-lim.calls]))
        return delay

    async def acquire(self, keys: Iterable[str]) -> float:
        """Wait until one more message fits every key's windows, record it for all keys; return seconds waited.

        No lock is needed: the check and the record happen without an ``await`` in between.
        """
        wanted = sorted({k.lower() for k in keys})
        waited = 0.0
        while True:
            now = self._clock()
            delay = max((self._delay(k, now) for k in wanted), default=0.0)
            if delay <= 0:
                for key in wanted:
                    self._sent.setdefault(key, deque()).append(now)
                self.waited += waited
                return waited
            delay += 0.001
            waited += delay
            await self._sleep(delay)

    def sent_within(self, key: str, seconds: float) -> int:
        """How many messages to ``key`` were recorded in the last ``seconds`` (for tests and reports)."""
        now = self._clock()
        return sum(1 for t in self._sent.get(key.lower(), ()) if now - t < seconds)
