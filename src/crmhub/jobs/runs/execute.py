"""The body of one task of a distributed run: claim its row, run its phase on its partition, store its counters,
pass the barrier; or, for the closing ``finish`` task, rebuild the report and run the FINISH phases.

The phase is the very object of `crmhub.sync.phases.CYCLE`: the task only narrows its `RunContext` — the
connectors of its partition, the golden-client ``id_range`` — and hands it the run's report as rebuilt from the
earlier phases' tasks (a deliver task reads whether its connector's ingest came through, as in one process).
Re-running a task is safe for the reason re-running a phase after a crash is: each phase keeps its progress in the
store (cursors, ``needs_*`` flags, outbox states).

The run's locks (``connector:*``, ``engine:merge``) are held by ``run:<id>``, not by a process: the task that runs
refreshes them and the run's heartbeat (`crmhub.store.locks.LockSet.heartbeat`), so `crmhub.sync.recovery` sees a
live run while any task of it runs, and a dead one once nothing did for ``STALE_AFTER``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete

from crmhub.core.report import ConnectorReport, RunReport
from crmhub.events import emit
from crmhub.jobs.guard import StopToken
from crmhub.masking import mask_url
from crmhub.store import Store
from crmhub.store.locks import LockSet
from crmhub.store.secrets import StoreTokenCache
from crmhub.store.tables import RunLock, SyncRun
from crmhub.store.unit import UnitOfWork
from crmhub.sync.engine import MERGE_LOCK, conclude, open_connectors
from crmhub.sync.phase import Counters, NoCounters, NoProgress, Phase, RunContext
from crmhub.sync.phases import CYCLE, FINISH

from . import rows
from .counters import replay, task_record
from .partitions import FINISH as FINISH_TASK

if TYPE_CHECKING:
    from crmhub.config import Settings
    from crmhub.plugins import Registry

log = logging.getLogger("crmhub.jobs")

HEARTBEAT = 10.0
STALE = timedelta(seconds=60)
"""A ``running`` task whose heartbeat is older than this belongs to a dead worker and may be taken over."""
TIMED_OUT = "timed out"


@dataclass(slots=True)
class TaskOutcome:
    """What one execution of a task came to; ``next`` are the task ids the caller must defer."""

    status: str  # done | skipped | retry | failed | stopped
    task_id: int
    label: str = ""
    error: str | None = None
    next: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The procrastinate job's result."""
        return {"status": self.status, "task": self.task_id, "label": self.label, "error": self.error}


def run_holder(run_id: int) -> str:
    """Who holds a distributed run's locks: the run, whichever worker runs its task of the moment."""
    return f"run:{run_id}"


def run_lock_names(connectors: list[str]) -> list[str]:
    """The locks a distributed run holds from its start to its finish task."""
    return [*(f"connector:{n}" for n in connectors), MERGE_LOCK]


def run_locks(store: Store, run_id: int, connectors: list[str]) -> LockSet:
    """The run's locks as held (their rows were taken by `crmhub.jobs.runs.launch` and handed to the run)."""
    locks = LockSet(store, run_lock_names(connectors), run_id=run_id)
    locks.holder = run_holder(run_id)
    locks.held = list(locks.names)
    return locks


def release_run_locks(store: Store, run_id: int) -> None:
    """Drop every lock of the run (its finish task does, once the report is stored)."""
    with store.begin() as s:
        s.execute(delete(RunLock).where(RunLock.holder == run_holder(run_id)))


def _phase(name: str) -> Phase:
    for phase in CYCLE:
        if phase.name == name:
            return phase
    raise LookupError(f"no phase {name!r} in this crmhub's cycle (mixed crmhub versions on the workers?)")


def rebuild(store: Store, run_id: int, *, before_seq: int) -> tuple[SyncRun, RunReport]:
    """The run's report from the counters of its done tasks of the phases before ``before_seq``."""
    with store.begin() as s:
        run = s.get(SyncRun, run_id)
        if run is None:
            raise LookupError(f"sync run {run_id} is gone")
        tasks = [t for t in rows.tasks_of(s, run_id) if t.seq < before_seq and t.status == "done"]
        s.expunge(run)
    report = RunReport(run_id=run.id, trigger=run.trigger, job=run.job, started_at=run.started_at)
    for name in run.connectors or []:
        report.connectors[name] = ConnectorReport()
    for seq, phase in enumerate(rows.PHASES[:before_seq]):
        replay(report, phase, [t.counters or {} for t in tasks if t.seq == seq and t.counters])
    return run, report


async def run_task(
    settings: Settings,
    registry: Registry,
    store: Store,
    task_id: int,
    *,
    job_id: int | None,
    worker: str,
    heartbeat: float = HEARTBEAT,
    stale: timedelta = STALE,
    token: StopToken | None = None,
) -> TaskOutcome:
    """Run task ``task_id`` once (see the module docstring). A cancel-safe phase (ingest, deliver) stops at once
    when ``token`` asks (the worker is stopping: the task is queued again, ``stopped``) or the run was cancelled;
    the others finish their partition first."""
    claimed = await asyncio.to_thread(rows.claim, store, task_id, job_id=job_id, worker=worker, stale=stale)
    if claimed is None:
        return TaskOutcome("skipped", task_id)
    label = f"{claimed.phase}/{claimed.part}"
    run, report = await asyncio.to_thread(rebuild, store, claimed.run_id, before_seq=rows.PHASES.index(claimed.phase))
    locks = run_locks(store, run.id, list(run.connectors or []))
    if claimed.phase == FINISH_TASK:
        work: asyncio.Future[dict[str, Any]] = asyncio.ensure_future(
            _finish(settings, registry, store, claimed, report, locks)
        )
        stoppable = False
    else:
        work = asyncio.ensure_future(_run_phase(settings, registry, store, claimed, report, locks))
        stoppable = _phase(claimed.phase).cancel_safe
    why: list[str] = []
    timeout = settings.sync.workers.task_timeout

    def stop(reason: str) -> None:
        if stoppable and not why:
            why.append(reason)
            work.cancel()
        elif not stoppable and reason.startswith(TIMED_OUT) and not why:
            why.append("")  # warned once: a thread phase cannot be stopped half-way, it runs to its end
            log.warning("sync task %s runs longer than %.0f s and cannot be stopped half-way", label, timeout)

    loop = asyncio.get_running_loop()
    unsubscribe = (
        token.subscribe(lambda r: loop.call_soon_threadsafe(stop, r.text)) if token is not None else (lambda: None)
    )
    beat = asyncio.create_task(_beat(store, locks, task_id, heartbeat, stop, timeout))
    try:
        try:
            record = await work
        except asyncio.CancelledError:
            if not why or not why[0]:  # the job itself is cancelled: queued again, its procrastinate job too
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(_requeue, store, task_id, "interrupted: the worker stopped")
                raise
            if not why[0].startswith(TIMED_OUT):
                await asyncio.to_thread(_requeue, store, task_id, why[0])
                return TaskOutcome("stopped", task_id, label, why[0])
            raise TaskTimeout(why[0]) from None
    except Exception as exc:
        error = mask_url(f"{type(exc).__name__}: {exc}")
        log.warning("sync task %s of run %s failed (try %d): %s", label, claimed.run_id, claimed.tries, error)
        final, nxt = await asyncio.to_thread(
            rows.failed, store, task_id, error, max_tries=settings.sync.workers.max_tries
        )
        return TaskOutcome("failed" if final else "retry", task_id, label, error, nxt)
    finally:
        unsubscribe()
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
    nxt = await asyncio.to_thread(rows.complete, store, task_id, record, partitions=settings.sync.workers.partitions)
    return TaskOutcome("done", task_id, label, None, nxt)


def _requeue(store: Store, task_id: int, reason: str) -> None:
    """Back to ``queued`` whatever its tries (a stop is no failure of the task); a cancelled run's task is then
    marked cancelled by the next claim."""
    rows.failed(store, task_id, reason, max_tries=1 << 30)


async def _beat(
    store: Store, locks: LockSet, task_id: int, every: float, stop: Callable[[str], None], timeout: float
) -> None:
    """Keep the task, the run and its locks alive; stop a cancel-safe phase of a run that was cancelled, or one
    that ran past ``timeout`` seconds (0: no limit)."""
    started = time.monotonic()
    while True:
        try:
            await asyncio.to_thread(locks.heartbeat)
            if await asyncio.to_thread(rows.heartbeat, store, task_id):
                stop("interrupted: the run was cancelled")
        except Exception:
            log.exception("sync task heartbeat failed")
        if timeout and time.monotonic() - started > timeout:
            stop(f"{TIMED_OUT} after {timeout:.0f} s ([sync.workers] task_timeout)")
        await asyncio.sleep(every)


class TaskTimeout(Exception):
    """A cancel-safe task ran past ``[sync.workers] task_timeout``: a failed try, retried with backoff."""


def _context(
    settings: Settings, registry: Registry, store: Store, report: RunReport, locks: LockSet, uow: UnitOfWork
) -> RunContext:
    from crmhub.risk.runner import make_risk_phase

    def fire(events: Any) -> None:
        emit(registry.hook, events, report.run_id)

    return RunContext(
        settings,
        registry,
        store,
        report,
        uow,
        {},
        locks,
        NoProgress(),
        emit=fire,
        risk_step=make_risk_phase(settings, registry),
    )


async def _run_phase(
    settings: Settings,
    registry: Registry,
    store: Store,
    claimed: rows.Claimed,
    report: RunReport,
    locks: LockSet,
) -> dict[str, Any]:
    phase = _phase(claimed.phase)
    uow = UnitOfWork(store)
    ctx = _context(settings, registry, store, report, locks, uow)
    span = claimed.spec.get("id_range")
    if span:
        ctx.id_range = (int(span[0]), None if span[1] is None else int(span[1]))
    wall, cpu = time.monotonic(), time.process_time()
    try:
        async with AsyncExitStack() as stack:
            # as in one process; the tasks pace through the store's shared budget (ten tasks keep one limit)
            ctx.connectors.update(
                await open_connectors(
                    stack, settings, registry, store, claimed.spec.get("connectors") or [], StoreTokenCache(store)
                )
            )
            counters: Counters = await phase.run(ctx) if phase.enabled(ctx) else NoCounters()
            for name in claimed.spec.get("owns") or []:  # this task's own calls (the replay adds them up)
                if name in ctx.connectors and name in report.connectors:
                    report.connectors[name].api = ctx.connectors[name].context.metrics.as_dict()
    finally:
        uow.close()
    return task_record(
        counters, report, claimed.spec.get("owns") or [], time.monotonic() - wall, time.process_time() - cpu
    )


async def _finish(
    settings: Settings,
    registry: Registry,
    store: Store,
    claimed: rows.Claimed,
    report: RunReport,
    locks: LockSet,
) -> dict[str, Any]:
    """Store the report and notify, exactly as a single-process run ends (`crmhub.sync.engine`)."""
    outcome, reason = claimed.spec.get("outcome"), claimed.spec.get("reason")
    if outcome == "failed":
        report.status, report.error = "failed", reason
    elif outcome == "cancelled":
        report.status, report.error = "interrupted", reason
    await asyncio.to_thread(_add_tasks, store, report)
    conclude(report)
    uow = UnitOfWork(store)
    ctx = _context(settings, registry, store, report, locks, uow)
    if settings.notify.enabled and settings.channels:
        from crmhub.notify.service import Notifier

        ctx.after_run = Notifier(settings, registry, store).after_run
    try:
        for phase in FINISH:
            if (outcome == "cancelled" and not phase.after_interrupt) or not phase.enabled(ctx):
                continue
            await phase.run(ctx)
    finally:
        uow.close()
    await asyncio.to_thread(release_run_locks, store, claimed.run_id)
    return {}


def _add_tasks(store: Store, report: RunReport) -> None:
    """The report's list of the run's tasks: phase, part, status, tries, worker."""
    assert report.run_id is not None
    with store.begin() as s:
        report.tasks = [
            {"phase": t.phase, "part": t.part, "status": t.status, "tries": t.tries, "worker": t.worker}
            for t in rows.tasks_of(s, report.run_id)
            if t.phase != FINISH_TASK
        ]
