"""Read-side queries over a distributed run's tasks (``sync_task``): by phase, by worker, and the run's progress.

A sync run with ``executor = "workers"`` is split into tasks — a phase applied to one partition — and each task's
row is its truth (status, tries, the worker that holds it, its counters). Operators read the run from those rows
alone: `crmhub report RUN_ID` and its ``--tasks`` listing, `crmhub jobs list` (progress of a running run) and the
console's run page all use this module, so the three cannot disagree. Errors are masked like every other run
error (`crmhub.masking.mask_text`): a task's error may quote a record.

Progress counts the tasks created so far: a phase whose partitions are only known once the phase before it ended
(e.g. the merge partitions after match) adds its tasks at its barrier, so ``total`` can grow while a run goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmhub.masking import mask_text
from crmhub.store.tables import SyncRun, SyncTask

TASK_STATUSES = ("queued", "running", "done", "failed", "cancelled")
"""Every status a task row can have, in the order screens list them."""


@dataclass(frozen=True, slots=True)
class TaskView:
    """One task as operators see it (error masked; ``duration_s`` runs on to now while the task runs)."""

    id: int
    seq: int
    phase: str
    part: str
    status: str
    tries: int
    worker: str | None
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    duration_s: float | None
    error: str | None
    counters: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "phase": self.phase,
            "part": self.part,
            "status": self.status,
            "tries": self.tries,
            "worker": self.worker,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "heartbeat_at": _iso(self.heartbeat_at),
            "duration_s": self.duration_s,
            "error": self.error,
            "counters": self.counters,
        }


@dataclass(slots=True)
class PhaseView:
    """One phase of a run: its tasks in partition order and their counts by status."""

    seq: int
    phase: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TASK_STATUSES, 0))
    retries: int = 0
    workers: list[str] = field(default_factory=list)
    tasks: list[TaskView] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return self.counts.get("done", 0)

    @property
    def finished(self) -> bool:
        """Every task done (a phase with a failed or cancelled task is not)."""
        return self.total > 0 and self.done == self.total

    def as_json(self, *, tasks: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "phase": self.phase,
            "total": self.total,
            "counts": dict(self.counts),
            "retries": self.retries,
            "workers": list(self.workers),
        }
        if tasks:
            out["tasks"] = [t.as_json() for t in self.tasks]
        return out


@dataclass(slots=True)
class WorkerView:
    """What one worker (``host:pid``) did in a run: its tasks by status and the seconds it spent on them."""

    worker: str
    tasks: int = 0
    done: int = 0
    running: int = 0
    failed: int = 0
    busy_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "tasks": self.tasks,
            "done": self.done,
            "running": self.running,
            "failed": self.failed,
            "busy_s": round(self.busy_s, 3),
        }


@dataclass(frozen=True, slots=True)
class Progress:
    """A run's progress: tasks done of those created, and the phase it is in (the first not finished)."""

    run_id: int
    done: int
    total: int
    phase: str | None
    phase_done: int
    phase_total: int
    running: int
    failed: int

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "total": self.total,
            "phase": self.phase,
            "phase_done": self.phase_done,
            "phase_total": self.phase_total,
            "running": self.running,
            "failed": self.failed,
        }


@dataclass(frozen=True, slots=True)
class RunTasks:
    """A distributed run's tasks: progress, phases in seq order (each with its tasks), workers by name."""

    run_id: int
    progress: Progress
    phases: list[PhaseView]
    workers: list[WorkerView]

    def as_json(self, *, tasks: bool = True) -> dict[str, Any]:
        """``crmhub report --format json``'s ``tasks`` object (the task rows only with ``tasks``)."""
        return {
            "progress": self.progress.as_json(),
            "phases": [p.as_json(tasks=tasks) for p in self.phases],
            "workers": [w.as_json() for w in self.workers],
        }


def _iso(value: datetime | None) -> str | None:
    return _utc(value).isoformat() if value is not None else None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _seconds(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    if start is None:
        return None
    return round(max(0.0, (_utc(end or now) - _utc(start)).total_seconds()), 3)


def _counters(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {str(k): mask_text(v) if isinstance(v, str) else v for k, v in value.items()}


def is_distributed(session: Session, run_id: int) -> bool:
    """Whether run ``run_id`` was split over workers (``sync_run.executor = 'workers'``)."""
    return session.scalar(select(SyncRun.executor).where(SyncRun.id == run_id)) == "workers"


def load_tasks(session: Session, run_id: int, now: datetime | None = None) -> RunTasks:
    """Run ``run_id``'s tasks by phase (seq, then phase name; partitions in id order), its workers and progress.

    A run has tens to a few thousand tasks (one per partition and phase); they are read in one query, without
    their ``spec``."""
    now = now or datetime.now(UTC)
    rows = session.execute(
        select(
            SyncTask.id,
            SyncTask.seq,
            SyncTask.phase,
            SyncTask.part,
            SyncTask.status,
            SyncTask.tries,
            SyncTask.worker,
            SyncTask.started_at,
            SyncTask.finished_at,
            SyncTask.heartbeat_at,
            SyncTask.error,
            SyncTask.counters,
        )
        .where(SyncTask.run_id == run_id)
        .order_by(SyncTask.seq, SyncTask.phase, SyncTask.id)
    ).all()
    phases: dict[tuple[int, str], PhaseView] = {}
    workers: dict[str, WorkerView] = {}
    for r in rows:
        end = r.finished_at if r.status != "running" else None
        task = TaskView(
            id=r.id,
            seq=r.seq,
            phase=r.phase,
            part=r.part,
            status=r.status,
            tries=r.tries,
            worker=r.worker,
            started_at=r.started_at,
            finished_at=r.finished_at,
            heartbeat_at=r.heartbeat_at,
            duration_s=_seconds(r.started_at, end, now) if r.status != "queued" else None,
            error=mask_text(r.error) if r.error else None,
            counters=_counters(r.counters),
        )
        view = phases.setdefault((r.seq, r.phase), PhaseView(r.seq, r.phase))
        view.tasks.append(task)
        view.counts[task.status] = view.counts.get(task.status, 0) + 1
        view.retries += max(task.tries - 1, 0)
        if task.worker:
            if task.worker not in view.workers:
                view.workers.append(task.worker)
            w = workers.setdefault(task.worker, WorkerView(task.worker))
            w.tasks += 1
            w.done += task.status == "done"
            w.running += task.status == "running"
            w.failed += task.status == "failed"
            w.busy_s += task.duration_s or 0.0
    ordered = list(phases.values())
    for view in ordered:
        view.workers.sort()
    counts = [(v.seq, v.phase, s, n) for v in ordered for s, n in v.counts.items() if n]
    return RunTasks(run_id, _progress(run_id, counts), ordered, sorted(workers.values(), key=lambda w: w.worker))


def _progress(run_id: int, counts: Iterable[tuple[int, str, str, int]]) -> Progress:
    """Progress from (seq, phase, status, n) rows: the current phase is the first (by seq) not all done — the last
    phase once every task is done."""
    per_phase: dict[tuple[int, str], dict[str, int]] = {}
    for seq, name, status, n in counts:
        per_phase.setdefault((seq, name), {})[status] = int(n)
    ordered = sorted(per_phase.items())
    done = sum(c.get("done", 0) for _, c in ordered)
    total = sum(sum(c.values()) for _, c in ordered)
    current = next(((key, c) for key, c in ordered if c.get("done", 0) < sum(c.values())), None)
    if current is None and ordered:
        current = ordered[-1]
    phase: str | None = current[0][1] if current else None
    phase_counts: dict[str, int] = current[1] if current else {}
    return Progress(
        run_id=run_id,
        done=done,
        total=total,
        phase=phase,
        phase_done=phase_counts.get("done", 0),
        phase_total=sum(phase_counts.values()),
        running=sum(c.get("running", 0) for _, c in ordered),
        failed=sum(c.get("failed", 0) for _, c in ordered),
    )


def progress(session: Session, run_ids: Iterable[int]) -> dict[int, Progress]:
    """The progress of each given run that has tasks (counted in SQL: one grouped query for all of them)."""
    ids = list(run_ids)
    if not ids:
        return {}
    per_run: dict[int, list[tuple[int, str, str, int]]] = {}
    for run_id, seq, phase, status, n in session.execute(
        select(SyncTask.run_id, SyncTask.seq, SyncTask.phase, SyncTask.status, func.count())
        .where(SyncTask.run_id.in_(ids))
        .group_by(SyncTask.run_id, SyncTask.seq, SyncTask.phase, SyncTask.status)
    ):
        per_run.setdefault(run_id, []).append((seq, phase, status, n))
    return {run_id: _progress(run_id, counts) for run_id, counts in per_run.items()}


@dataclass(frozen=True, slots=True)
class RunningRun:
    """A distributed run still going: which job started it (None for a manual ``crmhub sync``) and its progress."""

    run_id: int
    job: str | None
    started_at: datetime
    progress: Progress


def progress_by_job(runs: Iterable[RunningRun]) -> dict[str, dict[str, Any]]:
    """Each job's running distributed run as JSON (``run_id`` and its `Progress`), the newest should two be going:
    the ``progress`` of a job in `crmhub jobs list --json` and on the console's dashboard."""
    return {r.job: {"run_id": r.run_id, **r.progress.as_json()} for r in sorted(runs, key=lambda r: r.run_id) if r.job}


def running_runs(session: Session) -> list[RunningRun]:
    """Every distributed sync run still ``running``, oldest first, with its progress (`crmhub jobs list`)."""
    runs = session.execute(
        select(SyncRun.id, SyncRun.job, SyncRun.started_at)
        .where(SyncRun.status == "running", SyncRun.executor == "workers")
        .order_by(SyncRun.id)
    ).all()
    found = progress(session, [r.id for r in runs])
    return [
        RunningRun(r.id, r.job, r.started_at, found.get(r.id) or Progress(r.id, 0, 0, None, 0, 0, 0, 0)) for r in runs
    ]
