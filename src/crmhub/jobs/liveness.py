"""Who is alive: a heartbeat thread for every lock a job runner holds, and recovery from runners that died.

The engine refreshes a connector lock after each committed page, and treats a lock as abandoned after ten
minutes without one — long enough that a merge never loses its lock, too long to leave a crashed worker's
connector blocked. Job runners (the scheduler, workers, ``crmhub jobs run``) therefore run a `Keeper`: a plain
thread that refreshes every ``run_lock`` row of this process every `KEEP_EVERY` seconds, whatever the event loop
or the GIL-bound merge is doing. A runner always holds ``job:<name>`` while it runs a job, so "the holder recorded
in ``job_state.details.running`` has no lock refreshed within `STALE`" means the process is gone, and
`reap_dead_runners` may release its locks and mark its unfinished sync run ``interrupted`` at once instead of
ten minutes later. Processes that run no keeper (a manual ``crmhub sync``) are never reaped here.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from crmhub.jobs import state
from crmhub.store import Store
from crmhub.store.locks import holder_id
from crmhub.store.tables import RunLock, SyncRun
from crmhub.sync.recovery import mark_interrupted

log = logging.getLogger("crmhub.jobs")

KEEP_EVERY = 10.0
STALE = timedelta(seconds=60)
SCHEDULER_LOCK = "scheduler:embedded"
NAME_LIMIT = 64


def job_lock(name: str) -> str:
    """The lock a runner holds while it runs job ``name`` (one run of a job at a time, anywhere)."""
    return f"job:{name}"[:NAME_LIMIT]


def worker_lock(holder: str) -> str:
    """The liveness lock of one worker process."""
    return f"worker:{holder}"[:NAME_LIMIT]


class Keeper:
    """Refreshes the heartbeat of every lock held by this process, from a daemon thread, while it is entered.

    Reference-counted per store URL: nested users (a worker running a job) share one thread.
    """

    _lock = threading.Lock()
    _running: dict[str, tuple[Keeper, int]] = {}  # noqa: RUF012 - process-wide registry, guarded by _lock

    def __init__(self, store: Store, every: float = KEEP_EVERY) -> None:
        self.store = store
        self.every = every
        self.holder = holder_id()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="crmhub-lock-keeper", daemon=True)

    @classmethod
    def enter(cls, store: Store, every: float = KEEP_EVERY) -> Keeper:
        """Start (or share) the keeper of ``store``."""
        key = store.engine.url.render_as_string(hide_password=False)
        with cls._lock:
            keeper, users = cls._running.get(key, (None, 0))
            if keeper is None:
                keeper = cls(store, every)
                keeper._thread.start()
            cls._running[key] = (keeper, users + 1)
            return keeper

    def exit(self) -> None:
        """Stop sharing; the last user stops the thread."""
        key = self.store.engine.url.render_as_string(hide_password=False)
        with Keeper._lock:
            keeper, users = Keeper._running.get(key, (self, 1))
            if users > 1:
                Keeper._running[key] = (keeper, users - 1)
                return
            Keeper._running.pop(key, None)
        self._stop.set()
        self._thread.join(timeout=5)

    def beat(self) -> None:
        """Refresh now."""
        with self.store.begin() as s:
            s.execute(update(RunLock).where(RunLock.holder == self.holder).values(heartbeat_at=datetime.now(UTC)))

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.beat()
            except Exception as exc:  # the database may be briefly away; the next beat tries again
                log.warning("lock heartbeat failed: %s", exc)


def holder_alive(store: Store, holder: str, *, stale: timedelta = STALE, now: datetime | None = None) -> bool:
    """True when ``holder`` has any lock refreshed within ``stale`` (a runner always holds its job lock)."""
    cutoff = (now or datetime.now(UTC)) - stale
    with store.begin() as s:
        fresh = (
            s.scalar(
                select(func.count())
                .select_from(RunLock)
                .where(RunLock.holder == holder, RunLock.heartbeat_at >= cutoff)
            )
            or 0
        )
    return fresh > 0


def lock_alive(store: Store, name: str, *, stale: timedelta = STALE) -> bool:
    """True when lock ``name`` is held and was refreshed within ``stale``."""
    with store.begin() as s:
        row = s.get(RunLock, name)
        return row is not None and row.heartbeat_at >= datetime.now(UTC) - stale


def live_workers(store: Store, *, stale: timedelta = STALE) -> list[RunLock]:
    """Worker processes whose liveness lock is fresh."""
    cutoff = datetime.now(UTC) - stale
    with store.begin() as s:
        return list(s.scalars(select(RunLock).where(RunLock.name.like("worker:%"), RunLock.heartbeat_at >= cutoff)))


def release_holder(store: Store, holder: str) -> list[str]:
    """Delete every lock of a dead ``holder``; returns their names."""
    with store.begin() as s:
        names = list(s.scalars(select(RunLock.name).where(RunLock.holder == holder)))
        s.execute(delete(RunLock).where(RunLock.holder == holder))
    return names


def release_own(store: Store, keep: set[str]) -> list[str]:
    """Delete this process's locks except ``keep`` (what a cancelled job may have left behind)."""
    me = holder_id()
    with store.begin() as s:
        names = [n for n in s.scalars(select(RunLock.name).where(RunLock.holder == me)) if n not in keep]
        if names:
            s.execute(delete(RunLock).where(RunLock.holder == me, RunLock.name.in_(names)))
    return names


def interrupt_runs(store: Store, job: str, since: datetime | None, reason: str) -> list[int]:
    """Mark the job's sync runs still ``running`` (started at or after ``since``) as interrupted, with ``reason``."""
    with store.begin() as s:
        q = select(SyncRun).where(SyncRun.job == job, SyncRun.status == "running")
        if since is not None:
            q = q.where(SyncRun.started_at >= since - timedelta(seconds=5))
        ids = []
        now = datetime.now(UTC)
        for row in s.scalars(q.with_for_update()):
            mark_interrupted(s, row, reason, now=now)
            ids.append(row.id)
    return ids


@dataclass(slots=True)
class Reaped:
    """One dead runner cleaned up."""

    job: str
    holder: str
    locks: list[str]
    runs: list[int]

    def as_dict(self) -> dict[str, Any]:
        """For a log line."""
        return {"job": self.job, "holder": self.holder, "locks": self.locks, "runs": self.runs}


def reap_dead_runners(store: Store, *, stale: timedelta = STALE, only: str | None = None) -> list[Reaped]:
    """Clean up after runners recorded in ``job_state`` whose locks went stale: release, interrupt, clear."""
    me = holder_id()
    reaped = []
    for name, view in state.load(store, [only] if only else None).items():
        running = view.running or {}
        holder = running.get("holder")
        if not holder or holder == me or holder_alive(store, holder, stale=stale):
            continue
        since = datetime.fromisoformat(running["started_at"]) if running.get("started_at") else None
        reason = (
            f"interrupted: the runner {holder} stopped responding (no lock heartbeat for {stale.seconds}s); "
            "committed pages are kept and the next run resumes"
        )
        locks = release_holder(store, holder)
        runs = interrupt_runs(store, name, since, reason)
        if state.clear_running(store, name, holder) or locks or runs:
            item = Reaped(name, holder, locks, runs)
            log.warning("reaped a dead job runner", extra={"fields": {"event": "job_recovered", **item.as_dict()}})
            reaped.append(item)
    return reaped
