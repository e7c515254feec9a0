"""The procrastinate side of a distributed run: deferring its tasks and putting lost ones back in the queue.

One procrastinate job per ``sync_task`` row (task ``crmhub.sync_task``, queue ``crmhub``), with the queueing lock
``sync_task:<id>`` so a task never waits twice in the queue. Deferring happens after the transaction that
created the rows commits; `sweep` (every worker, every few seconds) defers a queued row that has no job (the
process died between the commit and the deferral) and re-queues the job of a task whose worker died (its
procrastinate heartbeat and the task's heartbeat both stale) — procrastinate's stalled-job API, as
`crmhub.jobs.worker.recover_stalled` does for whole jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crmhub.i18n import bilingual
from crmhub.jobs import joblog
from crmhub.jobs.guard import StopToken
from crmhub.store import Store
from crmhub.store.tables import SyncTask

from . import rows

if TYPE_CHECKING:
    import procrastinate

    from crmhub.config import Settings
    from crmhub.plugins import Registry

log = logging.getLogger("crmhub.jobs")

SYNC_TASK = "crmhub.sync_task"
QUEUE = "crmhub"
"""The queue of `crmhub.jobs.worker` (every worker listens on it)."""
ORPHAN_AFTER = timedelta(seconds=10)


def queueing_lock(task_id: int) -> str:
    """At most one waiting procrastinate job per task."""
    return f"sync_task:{task_id}"


async def defer_tasks(app: procrastinate.App, store: Store, task_ids: list[int]) -> list[int]:
    """Queue one job per task (tasks already waiting are skipped); returns the new job ids."""
    from procrastinate.exceptions import AlreadyEnqueued

    jobs = []
    for task_id in task_ids:
        deferrer = app.configure_task(
            SYNC_TASK, queueing_lock=queueing_lock(task_id), allow_unknown=False, task_kwargs={"task_id": task_id}
        )
        try:
            job_id = await deferrer.defer_async()
        except AlreadyEnqueued:
            continue
        await asyncio.to_thread(rows.record_job, store, task_id, job_id)
        jobs.append(job_id)
    return jobs


async def sweep(app: procrastinate.App, store: Store, *, stalled_after: float) -> list[int]:
    """Defer orphaned task rows and re-queue the jobs of dead workers' tasks; returns the task ids touched."""
    touched = await asyncio.to_thread(rows.orphans, store, older_than=ORPHAN_AFTER)
    if touched:
        await defer_tasks(app, store, touched)
    stale = timedelta(seconds=stalled_after)
    for job in await app.job_manager.get_stalled_jobs(task_name=SYNC_TASK, seconds_since_heartbeat=stalled_after):
        task_id = int(str(job.task_kwargs.get("task_id") or 0))
        if await asyncio.to_thread(_task_alive, store, task_id, stale):
            continue  # its worker's loop is slow, but the task still beats: leave it
        try:
            await app.job_manager.retry_job(job)
        except Exception as exc:  # another worker re-queued it first
            log.info("stalled sync task job %s not re-queued (%s)", job.id, exc)
            continue
        joblog.event(
            "sync_task_requeued",
            bilingual(
                f"同步任务 {task_id} 的工作进程已失联，已重新排队",
                f"sync task {task_id}: its worker died; queued again",
            ),
            level=logging.WARNING,
            task=task_id,
            procrastinate_job=job.id,
        )
        touched.append(task_id)
    return touched


def _task_alive(store: Store, task_id: int, stale: timedelta) -> bool:
    from datetime import UTC, datetime

    with store.begin() as s:
        beat = s.scalar(select(SyncTask.heartbeat_at).where(SyncTask.id == task_id, SyncTask.status == "running"))
    return beat is not None and datetime.now(UTC) - beat < stale


def register(
    app: procrastinate.App,
    settings: Settings,
    registry: Registry,
    store: Store,
    *,
    retry: Any,
    retriable: Callable[..., Exception],
    fatal: type[Exception],
    running: set[StopToken],
) -> None:
    """Add the ``crmhub.sync_task`` task to a worker's app (`crmhub.jobs.worker.build_app`); ``running`` is the
    worker's set of stop tokens (SIGTERM asks each to stop)."""
    import procrastinate as pc

    from crmhub.store.locks import holder_id

    from .execute import run_task

    async def crmhub_sync_task(context: pc.JobContext, task_id: int) -> dict[str, Any]:
        token = StopToken()
        running.add(token)
        try:
            outcome = await run_task(
                settings, registry, store, task_id, job_id=context.job.id, worker=holder_id(), token=token
            )
        finally:
            running.discard(token)
        if outcome.next:
            await defer_tasks(app, store, outcome.next)
        if outcome.status == "stopped":
            raise retriable(f"sync task {outcome.label}: {outcome.error}", immediate=True)
        if outcome.status == "retry":
            raise retriable(f"sync task {outcome.label}: {outcome.error}")
        if outcome.status == "failed":
            raise fatal(f"sync task {outcome.label} failed for good: {outcome.error}")
        return outcome.as_dict()

    app.task(name=SYNC_TASK, queue=QUEUE, pass_context=True, retry=retry)(crmhub_sync_task)
