"""One task of a distributed sync run in this process (`crmhub.jobs.runs.execute.run_task`), without
procrastinate: a failing task is a counted try, at ``max_tries`` it fails the run and the finish task stores a
report naming it with its tries; a hanging ingest task is stopped at ``task_timeout``; a stop request puts a
cancel-safe task back in the queue without counting it."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from crmhub.jobs.guard import StopToken
from crmhub.jobs.runs import launch
from crmhub.jobs.runs.execute import run_task
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.tables import RunLock, SyncRun, SyncTask

from .conftest import make_settings


def _task(store: Store, task_id: int) -> SyncTask:
    with store.begin() as s:
        task = s.get(SyncTask, task_id)
        assert task is not None
        s.expunge(task)
        return task


async def test_a_task_failing_every_try_fails_the_run_naming_it(registry: Registry, store: Store, pg_only: str) -> None:
    settings = make_settings(registry, pg_only, {}, good={}, down={"mode": "broken"})
    settings.sync.workers.max_tries = 2
    run_id, (good, down) = launch.start(settings, registry, store, None)
    run: Any = run_task
    assert (await run(settings, registry, store, good, job_id=1, worker="w1")).status == "done"
    first = await run(settings, registry, store, down, job_id=2, worker="w1")
    assert (first.status, first.next) == ("retry", [])
    assert "the test system is down" in (first.error or "")
    assert (_task(store, down).status, _task(store, down).tries) == ("queued", 1)
    second = await run(settings, registry, store, down, job_id=2, worker="w2")
    assert second.status == "failed" and len(second.next) == 1
    assert (await run(settings, registry, store, second.next[0], job_id=3, worker="w2")).status == "done"
    with store.begin() as s:
        row = s.get(SyncRun, run_id)
        assert row is not None
        assert list(s.scalars(select(RunLock))) == []  # the finish task released the run's locks
    assert row.status == "failed" and "ingest/down failed after 2 tries" in (row.error or "")
    tasks = {(t["phase"], t["part"]): (t["status"], t["tries"]) for t in row.report["tasks"]}
    assert tasks == {("ingest", "good"): ("done", 1), ("ingest", "down"): ("failed", 2)}
    assert row.report["connectors"]["good"]["streams"]["accounts"]["read"] == 6  # what the good task did


async def test_a_hanging_ingest_task_times_out_as_a_failed_try(registry: Registry, store: Store, pg_only: str) -> None:
    settings = make_settings(registry, pg_only, {}, slow={"mode": "hang"})
    settings.sync.workers.task_timeout = 0.3
    _, (slow,) = launch.start(settings, registry, store, None)
    outcome = await asyncio.wait_for(
        run_task(settings, registry, store, slow, job_id=1, worker="w", heartbeat=0.05), timeout=30
    )
    assert outcome.status == "retry" and "timed out after 0 s" in (outcome.error or "")
    task = _task(store, slow)
    assert (task.status, task.tries) == ("queued", 1)


async def test_a_stop_request_requeues_a_cancel_safe_task_without_failing_it(
    registry: Registry, store: Store, pg_only: str
) -> None:
    settings = make_settings(registry, pg_only, {}, slow={"mode": "hang"})
    _, (slow,) = launch.start(settings, registry, store, None)
    token = StopToken()
    running = asyncio.ensure_future(
        run_task(settings, registry, store, slow, job_id=1, worker="w", heartbeat=0.05, token=token)
    )
    for _ in range(600):  # the claim, then the pull that hangs after its first page
        if _task(store, slow).status == "running":
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # inside the hanging pull
    token.request("shutdown", "interrupted: the worker is stopping")
    outcome = await asyncio.wait_for(running, timeout=30)
    assert outcome.status == "stopped" and outcome.next == []
    task = _task(store, slow)
    assert task.status == "queued" and task.error == "interrupted: the worker is stopping"
