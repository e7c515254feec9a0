"""procrastinate workers on PostgreSQL, in-process with a fake clock: however many workers defer a schedule,
each tick runs exactly once; a job that finds its connector locked by someone else is retried with backoff."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crmhub.jobs import state
from crmhub.jobs import worker as jobs_worker
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.tables import RunLock, SyncRun

from .conftest import FakeClock, make_settings

START = datetime(2026, 1, 5, 0, 0, 30, tzinfo=UTC)


async def queue_empty(app: Any, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        row = await app.connector.execute_query_one_async(
            "SELECT count(*) AS n FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        )
        if row["n"] == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the queue did not drain")


def start_workers(app: Any, n: int) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(
            app.run_worker_async(
                queues=[jobs_worker.QUEUE],
                concurrency=1,
                name=f"w{i}",
                install_signal_handlers=False,
                fetch_job_polling_interval=0.05,
                abort_job_polling_interval=0.5,
            )
        )
        for i in range(n)
    ]


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize(("workers", "minutes"), [(2, 3), (3, 60)])
async def test_each_tick_runs_once_whatever_the_workers(
    store: Store, pg_only: str, registry: Registry, workers: int, minutes: int
) -> None:
    """N workers each defer every tick of a `* * * * *` job over a simulated stretch: one job per tick, one sync
    run per tick, every tick in order."""
    settings = make_settings(
        registry, pg_only, {"minutely": {"cron": "* * * * *", "timezone": "UTC"}}, crm={"records": 2}
    )
    schema = jobs_worker.procrastinate_schema(pg_only)
    assert jobs_worker.ensure_schema(pg_only, schema) is True
    assert jobs_worker.ensure_schema(pg_only, schema) is False  # idempotent
    app = jobs_worker.build_app(settings, registry, store)
    async with app.open_async():
        deferrers = [jobs_worker.Deferrer(app, settings, clock=FakeClock(START)) for _ in range(workers)]
        assert [await d.start(START) for d in deferrers] == [[]] * workers  # first start: from the next tick
        running = start_workers(app, workers)
        deferred = []
        try:
            for m in range(1, minutes + 1):
                for d in deferrers:
                    deferred += await d.tick(START + timedelta(minutes=m))
                await queue_empty(app)
        finally:
            await stop(running)
        jobs = await app.connector.execute_query_all_async("SELECT status, args FROM procrastinate_jobs ORDER BY id")
    ticks = [START.replace(second=0) + timedelta(minutes=m) for m in range(1, minutes + 1)]
    assert len(deferred) == workers * minutes
    assert sorted(d.tick for d in deferred if d.job_id is not None) == ticks
    assert [j["status"] for j in jobs] == ["succeeded"] * minutes
    assert [datetime.fromtimestamp(j["args"]["timestamp"], UTC) for j in jobs] == ticks
    with store.begin() as s:
        runs = list(s.scalars(select(SyncRun).where(SyncRun.job == "minutely")))
    assert len(runs) == minutes and {(r.trigger, r.status) for r in runs} == {("scheduler", "succeeded")}
    row = state.overview(settings, store)[0]
    assert row["runs"] == min(minutes, state.HISTORY) and state.load(store)["minutely"].last_tick == ticks[-1]


async def test_locked_connector_is_retried_then_runs(
    store: Store, pg_only: str, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manual sync (another process) holds the connector: the queued job backs off and retries, and runs once
    the lock is free; its history shows who held it. A fatal failure (the system is down) is not retried."""
    monkeypatch.setattr(jobs_worker, "RETRY_BASE", 0.1)
    settings = make_settings(
        registry,
        pg_only,
        {
            "crm_sync": {"cron": "0 2 * * *", "connectors": ["crm"]},
            "down_sync": {"cron": "0 2 * * *", "connectors": ["down"]},
        },
        crm={"records": 2},
        down={"mode": "broken"},
    )
    jobs_worker.ensure_schema(pg_only, jobs_worker.procrastinate_schema(pg_only))
    now = datetime.now(UTC)
    with store.begin() as s:
        s.add(RunLock(name="connector:crm", holder="ops-laptop:777", acquired_at=now, heartbeat_at=now))
    app = jobs_worker.build_app(settings, registry, store)
    async with app.open_async():
        job_id = await jobs_worker.defer(
            app, settings, "crm_sync", timestamp=int(now.timestamp()), trigger="manual", periodic=False
        )
        assert job_id is not None
        assert (
            await jobs_worker.defer(
                app, settings, "crm_sync", timestamp=int(now.timestamp()) + 1, trigger="manual", periodic=False
            )
            is None
        )  # one waiting run per job
        down_id = await jobs_worker.defer(
            app, settings, "down_sync", timestamp=int(now.timestamp()), trigger="manual", periodic=False
        )
        running = start_workers(app, 1)
        try:

            async def attempts() -> int:
                row = await app.connector.execute_query_one_async(
                    "SELECT attempts FROM procrastinate_jobs WHERE id = %(id)s", id=job_id
                )
                return int(row["attempts"])

            for _ in range(300):
                if await attempts() >= 2:
                    break
                await asyncio.sleep(0.02)
            assert await attempts() >= 2
            with store.begin() as s:
                s.delete(s.get(RunLock, "connector:crm"))
            await queue_empty(app)
        finally:
            await stop(running)
        status = await app.connector.execute_query_one_async(
            "SELECT status FROM procrastinate_jobs WHERE id = %(id)s", id=job_id
        )
        down = await app.connector.execute_query_one_async(
            "SELECT status, attempts FROM procrastinate_jobs WHERE id = %(id)s", id=down_id
        )
    assert status["status"] == "succeeded"
    assert (down["status"], down["attempts"]) == ("failed", 1)  # ran once, never retried
    assert "the test system is down" in (state.load(store)["down_sync"].last_error or "")
    history = state.load(store)["crm_sync"].history
    assert history[0]["status"] == "succeeded" and history[0]["run_id"]
    assert history[-1]["status"] == "locked" and "ops-laptop:777" in history[-1]["error"]
