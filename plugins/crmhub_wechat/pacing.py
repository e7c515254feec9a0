"""Per-recipient pacing: WeCom silently drops application messages past 30 a minute (and 1,000 an hour) per
member, and a drop looks exactly like a success. Pacing below those limits is the only protection.

The pacer cannot know the instant WeCom counts a message — somewhere between the start of the request and its
answer, later still after a backoff. So each message holds a *slot* from before the request until the answer
arrives, and counts against the window until one full period after that answer. Whatever WeCom's instant was, it
lies inside that span, so WeCom can never see more messages in any window than the pacer allowed. A message to
several members takes a slot in every member's window at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from crmhub.contract import SendLog

log = logging.getLogger("crmhub.plugins.wechat_work")


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``calls`` messages to one recipient in any ``period`` seconds."""

    calls: int
    period: float


class _Entry:
    __slots__ = ("end", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.end: float | None = None


class RecipientPacer:
    """Sliding windows per recipient key for one or more `Limit`s (e.g. 25/min and 900/h)."""

    def __init__(self, limits: Iterable[Limit], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = tuple(limits)
        if not self.limits or any(lim.calls < 1 or lim.period <= 0 for lim in self.limits):
            raise ValueError("every pacing limit needs calls >= 1 and period > 0")
        self._horizon = max(lim.period for lim in self.limits)
        self._sent: dict[str, deque[_Entry]] = {}
        self._clock = clock
        self._released = asyncio.Condition()
        self.waited = 0.0

    def _delay(self, key: str, now: float) -> float | None:
        """Seconds until ``key`` has room (0 = now; ``None`` = when an in-flight message finishes)."""
        entries = self._sent.get(key)
        if not entries:
            return 0.0
        while entries and entries[0].end is not None and now - entries[0].end >= self._horizon:
            entries.popleft()
        if not entries:
            del self._sent[key]
            return 0.0
        worst: float | None = 0.0
        for lim in self.limits:
            live = [e for e in entries if e.end is None or now - e.end < lim.period]
            if len(live) < lim.calls:
                continue
            finished = sorted(e.end + lim.period - now for e in live if e.end is not None)
            excess = len(live) - lim.calls  # this many must expire before one more fits
            wait = finished[excess] if excess < len(finished) else None
            worst = None if wait is None or worst is None else max(worst, wait)
        return worst

    @asynccontextmanager
    async def slot(self, keys: Iterable[str]) -> AsyncIterator[float]:
        """Hold one message slot for every key while the request is in flight; yields the seconds waited."""
        wanted = sorted({k.lower() for k in keys})
        started = self._clock()
        while True:
            now = self._clock()
            delays = [self._delay(k, now) for k in wanted]
            if all(d is not None and d <= 0 for d in delays):
                break
            timeout = None if any(d is None for d in delays) else max(d for d in delays if d is not None) + 0.001
            async with self._released:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), timeout)
        entry = _Entry(self._clock())
        for key in wanted:
            self._sent.setdefault(key, deque()).append(entry)
        waited = entry.start - started
        self.waited += waited
        try:
            yield waited
        finally:
            entry.end = self._clock()
            async with self._released:
                self._released.notify_all()

    def seed(self, key: str, spans: Iterable[tuple[float, float]]) -> None:
        """Count messages another process sent to ``key`` — (start, end) in this pacer's clock — as if this pacer had
        sent them, so a restarted process continues the window instead of starting it empty. The caller passes
        each message once."""
        key = key.lower()
        entries = list(self._sent.get(key, ()))
        for start, end in spans:
            entry = _Entry(start)
            entry.end = end
            entries.append(entry)
        if entries:
            self._sent[key] = deque(sorted(entries, key=lambda e: e.start))

    def sent_within(self, key: str, seconds: float) -> int:
        """Messages to ``key`` in flight or finished within the last ``seconds`` (for tests and reports)."""
        now = self._clock()
        return sum(1 for e in self._sent.get(key.lower(), ()) if e.end is None or now - e.end < seconds)


class PersistentPacing:
    """Carries pacing across processes through the core's `SendLog` (the store), for any `RecipientPacer`.

    WeCom counts messages per rolling window whoever sends them — 20/min per group robot (45009 above it), 30/min
    per member (the excess dropped *silently*). A pacer that starts empty in every new process let a restarted
    ``notify run`` or sync send a whole window again. So every call is recorded before the request leaves (a call
    of a process killed mid-request still counts) and again with its answer, and before a call the pacer is given
    the calls other processes made within the window. Only one deliverer runs at a time (the core's delivery
    lock), so the calls read are finished or orphaned, never racing this process; they are re-read at most once a
    second. A call whose answer was never recorded counts until ``timeout`` after its start: its request cannot have
    reached WeCom later. Without a send log (tests, `crmhub connectors check`) this does nothing.
    """

    REFRESH = 1.0

    def __init__(
        self,
        log: SendLog | None,
        channel: str,
        *,
        horizon: float,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.channel = channel
        self.horizon = horizon
        self.timeout = timeout
        self._clock = clock
        self._known: dict[tuple[str, float], float] = {}
        self._cache: dict[str, list[tuple[float, float | None]]] = {}
        self._cached_at: float | None = None

    def seed(self, pacer: RecipientPacer, keys: Iterable[str]) -> None:
        """Give ``pacer`` the calls to ``keys`` that other processes made within the window."""
        if self.log is None:
            return
        now = self._clock()
        if self._cached_at is None or now - self._cached_at >= self.REFRESH:
            try:
                self._cache = self.log.recent(self.channel, self.horizon)
            except Exception as exc:  # the store is unusable: pace from this process's memory, and say so
                log.warning(
                    "channel %s: cannot read recent sends (%s); pacing from this process only", self.channel, exc
                )
                return
            self._cached_at = now
        wall = time.time()
        for key in {k.lower() for k in keys}:
            fresh = [(s, e) for s, e in self._cache.get(key, ()) if (key, s) not in self._known]
            for s, _ in fresh:
                self._known[(key, s)] = wall
            pacer.seed(
                key, [(now - (wall - s), now - (wall - (e if e is not None else s + self.timeout))) for s, e in fresh]
            )
        for stale in [k for k, seen in self._known.items() if wall - seen > 2 * self.horizon]:
            del self._known[stale]

    def started(self, keys: Iterable[str], message_key: str) -> float:
        """Record a call to ``keys`` about to be made; returns its start (epoch seconds)."""
        now = time.time()
        wanted = sorted({k.lower() for k in keys})
        for key in wanted:
            self._known[(key, now)] = now
        self._record(wanted, message_key, now, None)
        return now

    def ended(self, keys: Iterable[str], message_key: str, started: float) -> None:
        """Record that the call started at ``started`` was answered."""
        self._record(sorted({k.lower() for k in keys}), message_key, started, time.time())

    def _record(self, keys: list[str], message_key: str, started: float, ended: float | None) -> None:
        if self.log is None:
            return
        try:
            self.log.record(self.channel, keys, message_key, started, ended)
        except Exception as exc:
            log.warning("channel %s: cannot record a send for pacing (%s)", self.channel, exc)
