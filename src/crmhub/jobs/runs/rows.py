"""The ``sync_task`` rows of a distributed run: claiming a task, finishing it, and the barrier between phases.

Every change that decides what runs next happens in one transaction holding a row lock on the run's
``sync_run`` row, so two tasks finishing at once cannot both (or neither) open the next phase: the task that
leaves its phase with no unfinished task creates the next phase's rows (unique per run, phase and part; inserted
with ON CONFLICT DO NOTHING, so a replayed barrier creates nothing twice). The caller defers the returned tasks
after the commit; a task row left ``queued`` without a procrastinate job (a crash between the two) is deferred
again by any worker's sweep (`orphans`).

A task is ``queued`` → ``running`` (claimed by one worker; ``tries`` + 1) → ``done``, or back to ``queued`` after
a failure (procrastinate retries it with backoff), or ``failed`` after ``[sync.workers] max_tries``, or
``cancelled``. The run ends with one ``finish`` task (report, notify), created once — after the last phase, after
a task failed for good, or on cancel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from crmhub.store import Store
from crmhub.store.tables import SyncRun, SyncTask
from crmhub.sync.audit import append
from crmhub.sync.phases import CYCLE

from .partitions import FINISH, Part, parts

PHASES: tuple[str, ...] = (*(p.name for p in CYCLE), FINISH)
"""The order of a distributed run: the cycle's phases, then the closing task. ``sync_task.seq`` indexes it."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """A task this worker now runs."""

    id: int
    run_id: int
    phase: str
    part: str
    spec: dict[str, Any]
    tries: int


def create(session: Session, run: SyncRun, seq: int, todo: list[Part]) -> list[int]:
    """Insert the tasks of phase ``PHASES[seq]`` (existing ones are kept); returns the ids still queued."""
    now = datetime.now(UTC)
    phase = PHASES[seq]
    for part in todo:
        session.execute(
            insert(SyncTask)
            .values(
                run_id=run.id,
                seq=seq,
                phase=phase,
                part=part.label,
                spec=part.spec,
                status="queued",
                tries=0,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["run_id", "phase", "part"])
        )
    return list(
        session.scalars(
            select(SyncTask.id)
            .where(SyncTask.run_id == run.id, SyncTask.phase == phase, SyncTask.status == "queued")
            .order_by(SyncTask.id)
        )
    )


def open_phase(session: Session, run: SyncRun, seq: int, partitions: int) -> list[int]:
    """Create the tasks of ``PHASES[seq]`` for ``run``."""
    return create(session, run, seq, parts(session, PHASES[seq], list(run.connectors or []), partitions))


def finish_task(session: Session, run: SyncRun, outcome: str, reason: str | None = None) -> list[int]:
    """Create the run's closing task (once: a second call finds it and creates nothing)."""
    return create(session, run, PHASES.index(FINISH), [Part(FINISH, {"outcome": outcome, "reason": reason})])


def _ending(session: Session, run_id: int) -> bool:
    return bool(
        session.scalar(
            select(func.count()).select_from(SyncTask).where(SyncTask.run_id == run_id, SyncTask.phase == FINISH)
        )
    )


def claim(store: Store, task_id: int, *, job_id: int | None, worker: str, stale: timedelta) -> Claimed | None:
    """Take task ``task_id`` for this worker; None when there is nothing to run (done, cancelled, the run is
    over, or another live worker runs it — a duplicate job). A ``running`` task is taken over when it is this
    job's own earlier attempt (its worker died) or its heartbeat is older than ``stale``."""
    now = datetime.now(UTC)
    with store.begin() as s:
        task = s.get(SyncTask, task_id, with_for_update=True)
        if task is None:
            return None
        run = s.get(SyncRun, task.run_id)
        over = run is None or run.status != "running"  # finished, or closed by recovery (`crmhub.sync.recovery`)
        if over or (task.phase != FINISH and _ending(s, task.run_id)):
            if task.status in ("queued", "running"):
                task.status, task.finished_at = "cancelled", now
            return None
        if task.status == "running":
            beat = task.heartbeat_at or task.started_at or now
            if not (job_id is not None and task.job_id == job_id) and now - beat < stale:
                return None
        elif task.status != "queued":
            return None
        task.status, task.worker, task.started_at, task.heartbeat_at = "running", worker, now, now
        task.tries += 1
        task.error = None
        if job_id is not None:
            task.job_id = job_id
        return Claimed(task.id, task.run_id, task.phase, task.part, dict(task.spec or {}), task.tries)


def heartbeat(store: Store, task_id: int) -> bool:
    """The task is alive (the run's heartbeat is refreshed by its locks, `crmhub.store.locks.LockSet`); True when
    its run is ending (cancelled, failed, closed) and the task's work is no longer wanted."""
    with store.begin() as s:
        s.execute(update(SyncTask).where(SyncTask.id == task_id).values(heartbeat_at=datetime.now(UTC)))
        task = s.get(SyncTask, task_id)
        if task is None or task.phase == FINISH:
            return False
        run = s.get(SyncRun, task.run_id)
        return run is None or run.status != "running" or _ending(s, task.run_id)


def complete(store: Store, task_id: int, record: dict[str, Any], *, partitions: int) -> list[int]:
    """Mark the task done with its counters; when it was its phase's last, open the next phase (or the finish).
    Returns the task ids to defer."""
    now = datetime.now(UTC)
    with store.begin() as s:
        task = s.get(SyncTask, task_id)
        assert task is not None
        run = s.get(SyncRun, task.run_id, with_for_update=True)  # the barrier: one finisher at a time per run
        s.refresh(task)
        task.status, task.finished_at, task.counters, task.heartbeat_at = "done", now, record, now
        s.flush()
        if task.phase == FINISH or run is None or run.status != "running" or _ending(s, run.id):
            return []
        left = s.scalar(
            select(func.count())
            .select_from(SyncTask)
            .where(SyncTask.run_id == run.id, SyncTask.seq == task.seq, SyncTask.status != "done")
        )
        if left:
            return []
        nxt = task.seq + 1
        if PHASES[nxt] == FINISH:
            return finish_task(s, run, "done")
        return open_phase(s, run, nxt, partitions)


def failed(store: Store, task_id: int, error: str, *, max_tries: int) -> tuple[bool, list[int]]:
    """Record a failed try. Below ``max_tries`` the task goes back to ``queued`` (procrastinate retries it with
    backoff): ``(False, [])``. At the limit it is ``failed``, the run's queued tasks are cancelled and the
    finish task is created: ``(True, [its id])``."""
    now = datetime.now(UTC)
    with store.begin() as s:
        task = s.get(SyncTask, task_id)
        assert task is not None
        run = s.get(SyncRun, task.run_id, with_for_update=True)
        s.refresh(task)
        task.error, task.heartbeat_at = error[:4000], now
        if task.tries < max_tries and task.phase != FINISH:
            task.status = "queued"
            return False, []
        task.status, task.finished_at = "failed", now
        if run is None or task.phase == FINISH:
            return True, []
        _cancel_queued(s, run.id, now)
        reason = f"task {task.phase}/{task.part} failed after {task.tries} tries: {error}"
        return True, finish_task(s, run, "failed", reason[:2000])


def _cancel_queued(session: Session, run_id: int, now: datetime) -> None:
    session.execute(
        update(SyncTask)
        .where(SyncTask.run_id == run_id, SyncTask.status == "queued", SyncTask.phase != FINISH)
        .values(status="cancelled", finished_at=now)
    )


def cancel(store: Store, run_id: int, who: str) -> list[int] | None:
    """Cancel a running distributed run: its queued tasks are skipped, running ones end their phase and start no
    other, the finish task stores the report (``interrupted``). None when the run is not a running one."""
    now = datetime.now(UTC)
    with store.begin() as s:
        run = s.get(SyncRun, run_id, with_for_update=True)
        if run is None or run.status != "running" or run.executor != "workers" or _ending(s, run_id):
            return None
        _cancel_queued(s, run_id, now)
        # who stopped a sync is a change operators must be able to explain: one audit entry, in the same transaction
        append(s, actor=who, action="sync.cancel", entity="sync_run", entity_id=run_id, details={}, run_id=run_id)
        return finish_task(s, run, "cancelled", f"cancelled by {who}")


def record_job(store: Store, task_id: int, job_id: int) -> None:
    """The procrastinate job that runs the task (set after deferring; a sweep re-defers tasks without one)."""
    with store.begin() as s:
        s.execute(update(SyncTask).where(SyncTask.id == task_id, SyncTask.job_id.is_(None)).values(job_id=job_id))


def orphans(store: Store, *, older_than: timedelta) -> list[int]:
    """Queued tasks of running runs that no procrastinate job was recorded for (their deferral was lost)."""
    cutoff = datetime.now(UTC) - older_than
    with store.begin() as s:
        return list(
            s.scalars(
                select(SyncTask.id)
                .join(SyncRun, SyncRun.id == SyncTask.run_id)
                .where(
                    SyncTask.status == "queued",
                    SyncTask.job_id.is_(None),
                    SyncTask.created_at < cutoff,
                    SyncRun.status == "running",
                )
                .order_by(SyncTask.id)
            )
        )


def tasks_of(session: Session, run_id: int) -> list[SyncTask]:
    """Every task of a run in cycle order."""
    return list(
        session.scalars(select(SyncTask).where(SyncTask.run_id == run_id).order_by(SyncTask.seq, SyncTask.part))
    )
