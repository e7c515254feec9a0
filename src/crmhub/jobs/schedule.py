"""Cron ticks in a job's time zone, as aware UTC instants — the one place both executors compute them.

A *tick* is the instant a cron expression names ("0 2 * * *" in Asia/Shanghai → 18:00 UTC the day before). The
embedded scheduler and the procrastinate deferrer both ask this module which ticks fell in a window, so a job
fires at the same instants whichever executor runs it; procrastinate's own periodic deferrer knows no time zones,
which is why crmhub defers its periodic jobs itself (through procrastinate's once-per-tick periodic table).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from crmhub.jobs.settings import JobSettings

LATE_OK = timedelta(minutes=10)
"""A tick at most this late when an executor starts still runs (a restart just after 02:00 must not drop the
nightly sync); older missed ticks follow the job's ``catch_up``."""


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("schedule times must be timezone-aware")
    return t


@dataclass(frozen=True, slots=True)
class Schedule:
    """A cron expression evaluated in one time zone."""

    cron: str
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    @classmethod
    def of(cls, job: JobSettings) -> Schedule:
        """The schedule of a configured job."""
        return cls(job.cron, job.zone)

    def next_after(self, t: datetime) -> datetime:
        """The first tick strictly after ``t`` (UTC).

        Daylight saving, as cron does it: a wall-clock time skipped in spring runs at the first valid instant
        after it; one repeated in autumn runs once (the second occurrence, ``fold=1``, is not a tick).
        """
        it = croniter(self.cron, _aware(t).astimezone(self.zone))
        while True:
            nxt: datetime = it.get_next(datetime).astimezone(UTC)
            if not self._repeated(nxt):
                return nxt

    def latest_at_or_before(self, t: datetime) -> datetime:
        """The last tick at or before ``t`` (UTC). Ticks fall on whole minutes, so ``t``'s fraction is ignored."""
        local = _aware(t).astimezone(self.zone).replace(microsecond=0) + timedelta(seconds=1)
        it = croniter(self.cron, local)
        while True:
            prev: datetime = it.get_prev(datetime).astimezone(UTC)
            if not self._repeated(prev):
                return prev

    def _repeated(self, t: datetime) -> bool:
        """``t`` (UTC) is the second occurrence of its wall-clock time (the hour repeated in autumn)."""
        return bool(t.astimezone(self.zone).fold)

    def ticks_between(self, after: datetime, until: datetime, *, limit: int = 10_000) -> Iterator[datetime]:
        """Ticks with ``after < tick <= until``, oldest first (at most ``limit``)."""
        tick = self.next_after(after)
        for _ in range(limit):
            if tick > until:
                return
            yield tick
            tick = self.next_after(tick)

    def local(self, t: datetime) -> datetime:
        """``t`` in the schedule's time zone (for ``jobs list``)."""
        return _aware(t).astimezone(self.zone)
