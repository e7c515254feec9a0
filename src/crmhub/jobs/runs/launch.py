"""`crmhub sync --on-workers`: start a distributed run, then wait for its report or return its id at once.

The caller takes the run's locks (``connector:*`` of the selected connectors and ``engine:merge``) as any sync
does, writes the run row (``executor = "workers"``), hands the locks to the run (holder ``run:<id>``) and creates
the first phase's tasks in the same transaction, then defers them. From there on the run belongs to the workers:
the caller may go (``--detach``) or be interrupted without stopping it; `crmhub report RUN_ID` shows it once done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from crmhub.config import Settings
from crmhub.core.report import RunReport
from crmhub.errors import InputError
from crmhub.i18n import bilingual
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.locks import LockSet
from crmhub.store.tables import RunLock, SyncRun, SyncTask
from crmhub.sync.engine import SyncEngine, new_run
from crmhub.sync.recovery import recover_dead_runs

from . import rows
from .execute import run_holder, run_lock_names
from .queue import defer_tasks


def needs_postgres(store: Store) -> None:
    """A distributed run keeps its tasks and barriers in PostgreSQL: anything else is a clear error."""
    if store.dialect != "postgresql":
        raise InputError(
            bilingual(
                f"在工作进程上运行同步需要 PostgreSQL 存储；当前存储是 {store.dialect}",
                f"a sync on workers needs a PostgreSQL store; [store].url is {store.dialect}",
            ),
            hint=bilingual(
                '设置 [store] url = "postgresql+psycopg://用户@主机:5432/库"，或去掉 --on-workers / '
                '[sync] executor = "workers"，在本进程中同步',
                'set [store] url = "postgresql+psycopg://user@host:5432/db", or drop --on-workers / '
                '[sync] executor = "workers" to sync in this process',
            ),
        )


def start(
    settings: Settings,
    registry: Registry,
    store: Store,
    only: list[str] | None,
    *,
    trigger: str = "manual",
    job: str | None = None,
    lock_wait: float = 0.0,
) -> tuple[int, list[int]]:
    """Create the run and its first tasks; returns the run id and the task ids to defer."""
    engine = SyncEngine(settings, registry, store)
    names = engine.selected(only)
    engine.check_streams(names)
    recover_dead_runs(store)
    locks = LockSet(store, run_lock_names(names))
    locks.acquire(wait=lock_wait)
    try:
        now = datetime.now(UTC)
        with store.begin() as s:
            run = new_run(names, trigger=trigger, job=job, started=now, executor="workers")
            s.add(run)
            s.flush()
            run.holder = run_holder(run.id)
            s.execute(
                update(RunLock)
                .where(RunLock.name.in_(locks.held), RunLock.holder == locks.holder)
                .values(holder=run.holder, run_id=run.id, heartbeat_at=now)
            )
            first = rows.open_phase(s, run, 0, settings.sync.workers.partitions)
            run_id = run.id
    except BaseException:
        locks.release()
        raise
    locks.held = []  # they belong to the run now
    return run_id, first


async def launch(
    settings: Settings,
    registry: Registry,
    store: Store,
    only: list[str] | None,
    *,
    lock_wait: float = 0.0,
    trigger: str = "manual",
) -> int:
    """Start a distributed run and queue its first tasks; returns the run id."""
    from crmhub.jobs.worker import build_app, ensure_schema, procrastinate_schema, require_postgres

    needs_postgres(store)
    require_postgres(store)
    schema = procrastinate_schema(settings.store.url)
    await asyncio.to_thread(ensure_schema, settings.store.url, schema)
    run_id, first = await asyncio.to_thread(
        start, settings, registry, store, only, trigger=trigger, lock_wait=lock_wait
    )
    app = build_app(settings, registry, store, schema=schema)
    async with app.open_async():
        await defer_tasks(app, store, first)
    return run_id


UNCLAIMED_AFTER = 30.0
"""Seconds after which a caller still waiting on a run no worker has picked up is told why it may be waiting."""


async def wait(
    store: Store,
    run_id: int,
    *,
    poll: float = 0.5,
    unclaimed_after: float = UNCLAIMED_AFTER,
    on_unclaimed: Callable[[], None] | None = None,
) -> RunReport:
    """Wait until the run's finish task stored its report; returns it. If no task of the run has started after
    ``unclaimed_after`` seconds, ``on_unclaimed`` is called once (no `crmhub worker` runs on this store?) — the
    run stays queued for the workers, so the caller keeps waiting."""
    started = time.monotonic()
    told = on_unclaimed is None
    while True:
        report = await asyncio.to_thread(_stored_report, store, run_id)
        if report is not None:
            return report
        if not told and time.monotonic() - started >= unclaimed_after:
            if not await asyncio.to_thread(_any_task_started, store, run_id):
                assert on_unclaimed is not None
                on_unclaimed()
            told = True
        await asyncio.sleep(poll)


def _any_task_started(store: Store, run_id: int) -> bool:
    with store.begin() as s:
        return bool(
            s.scalar(
                select(func.count())
                .select_from(SyncTask)
                .where(SyncTask.run_id == run_id, SyncTask.started_at.is_not(None))
            )
        )


def _stored_report(store: Store, run_id: int) -> RunReport | None:
    with store.begin() as s:
        run = s.get(SyncRun, run_id)
        if run is None:
            raise InputError(f"no run {run_id}")
        if run.status == "running" or not run.report:
            return None
        return RunReport.model_validate(run.report)


async def cancel(settings: Settings, registry: Registry, store: Store, run_id: int, who: str) -> None:
    """Cancel a running distributed run (queued tasks skipped; the finish task stores it ``interrupted``)."""
    from crmhub.jobs.worker import build_app, procrastinate_schema

    needs_postgres(store)
    finish = await asyncio.to_thread(rows.cancel, store, run_id, who)
    if finish is None:
        raise InputError(
            bilingual(
                f"运行 {run_id} 不是正在工作进程上执行的同步，无法取消",
                f"run {run_id} is not a sync running on workers; nothing to cancel",
            ),
            hint=bilingual("用 `crmhub report RUN_ID` 查看它的状态", "see its status with `crmhub report RUN_ID`"),
        )
    app = build_app(settings, registry, store, schema=procrastinate_schema(settings.store.url))
    async with app.open_async():
        await defer_tasks(app, store, finish)
