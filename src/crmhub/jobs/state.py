"""``job_state`` rows: the last tick each job claimed, how its runs ended, and who is running it now.

``last_tick`` is a claim, not a log: a tick is claimed by one conditional UPDATE (``last_tick < tick``), so two
schedulers that somehow share a store still run a tick once, and after downtime the gap between ``last_tick``
and now is exactly the set of missed ticks (``catch_up``). ``details`` holds ``running`` (holder, start, tick,
trigger, executor — cleared at the end; a dead holder's entry is what recovery looks at) and ``history``, the
last `HISTORY` outcomes that ``crmhub jobs list`` shows, whatever the command (non-sync jobs have no sync_run).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update

from crmhub.jobs.schedule import Schedule
from crmhub.store import Store
from crmhub.store.tables import JobState

HISTORY = 20


@dataclass(slots=True)
class JobView:
    """A detached copy of one job's row."""

    name: str
    last_tick: datetime | None = None
    last_run_id: int | None = None
    last_status: str | None = None
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    running: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    last_error: str | None = None


def _view(row: JobState) -> JobView:
    details = dict(row.details or {})
    return JobView(
        row.name,
        row.last_tick,
        row.last_run_id,
        row.last_status,
        row.last_started_at,
        row.last_finished_at,
        details.get("running"),
        list(details.get("history") or []),
        details.get("last_error"),
    )


def _insert_missing(store: Store, names: Iterable[str]) -> None:
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    rows = [{"name": n, "details": {}} for n in wanted]
    with store.begin() as s:
        if store.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            s.execute(pg_insert(JobState).values(rows).on_conflict_do_nothing(index_elements=["name"]))
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            s.execute(sqlite_insert(JobState).values(rows).on_conflict_do_nothing(index_elements=["name"]))


def ensure(store: Store, names: Iterable[str]) -> None:
    """Create the rows of these jobs when missing (concurrent callers are fine)."""
    _insert_missing(store, names)


def load(store: Store, names: Iterable[str] | None = None) -> dict[str, JobView]:
    """Rows by job name (all, or just ``names``)."""
    with store.begin() as s:
        q = select(JobState)
        if names is not None:
            q = q.where(JobState.name.in_(list(names)))
        return {r.name: _view(r) for r in s.scalars(q)}


def claim_tick(store: Store, name: str, tick: datetime) -> bool:
    """Move ``last_tick`` forward to ``tick``; True when this caller did it (the tick is theirs to run or skip)."""
    _insert_missing(store, [name])
    with store.begin() as s:
        result = s.execute(
            update(JobState)
            .where(JobState.name == name, or_(JobState.last_tick.is_(None), JobState.last_tick < tick))
            .values(last_tick=tick)
        )
        return bool(getattr(result, "rowcount", 0))


def record_start(store: Store, name: str, running: dict[str, Any], *, tick: datetime | None = None) -> None:
    """Note that ``running["holder"]`` started the job now (and, from a worker, that ``tick`` is taken)."""
    _insert_missing(store, [name])
    with store.begin() as s:
        row = s.get(JobState, name, with_for_update=True)
        assert row is not None
        row.last_status = "running"
        row.last_started_at = datetime.now(UTC)
        row.last_finished_at = None
        if tick is not None and (row.last_tick is None or row.last_tick < tick):
            row.last_tick = tick
        row.details = {**(row.details or {}), "running": running}


def record_finish(store: Store, name: str, entry: dict[str, Any], *, holder: str | None = None) -> None:
    """Store one outcome (status, run id, times, error …) as the last result and at the head of the history.

    ``running`` is cleared unless someone else (``holder`` differs) has started the job since.
    """
    _insert_missing(store, [name])
    with store.begin() as s:
        row = s.get(JobState, name, with_for_update=True)
        assert row is not None
        details = dict(row.details or {})
        running = details.get("running")
        if running is None or holder is None or running.get("holder") == holder:
            details["running"] = None
        details["history"] = [entry, *list(details.get("history") or [])][:HISTORY]
        details["last_error"] = entry.get("error")
        row.details = details
        row.last_status = str(entry.get("status"))
        row.last_run_id = entry.get("run_id")
        row.last_finished_at = datetime.now(UTC)
        if entry.get("started_at"):
            row.last_started_at = datetime.fromisoformat(str(entry["started_at"]))


def clear_running(store: Store, name: str, holder: str) -> bool:
    """Drop the ``running`` entry of ``holder`` (a dead runner); True when there was one."""
    with store.begin() as s:
        row = s.get(JobState, name, with_for_update=True)
        if row is None:
            return False
        details = dict(row.details or {})
        running = details.get("running")
        if not running or running.get("holder") != holder:
            return False
        details["running"] = None
        row.details = details
        if row.last_status == "running":
            row.last_status = "interrupted"
            row.last_finished_at = datetime.now(UTC)
        return True


def overview(settings: Any, store: Store, now: datetime | None = None, *, recent: int = 5) -> list[dict[str, Any]]:
    """What ``crmhub jobs list`` shows for each configured job: schedule, next run (in the job's time zone), the
    last result and the most recent outcomes."""
    now = now or datetime.now(UTC)
    views = load(store, list(settings.jobs))
    out = []
    for name, job in settings.jobs.items():
        schedule = Schedule.of(job)
        view = views.get(name) or JobView(name)
        out.append(
            {
                "job": name,
                "command": job.command,
                "cron": job.cron,
                "timezone": job.timezone,
                "enabled": job.enabled,
                "connectors": job.connectors,
                "timeout": str(job.timeout),
                "catch_up": job.catch_up,
                "next_run": schedule.local(schedule.next_after(now)).isoformat() if job.enabled else None,
                "last_tick": schedule.local(view.last_tick).isoformat() if view.last_tick else None,
                "last": {
                    "status": view.last_status,
                    "run_id": view.last_run_id,
                    "started_at": schedule.local(view.last_started_at).isoformat() if view.last_started_at else None,
                    "finished_at": schedule.local(view.last_finished_at).isoformat() if view.last_finished_at else None,
                    "error": view.last_error,
                },
                "running": view.running,
                "runs": len(view.history),
                "recent": view.history[:recent],
            }
        )
    return out
