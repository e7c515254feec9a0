"""The embedded scheduler with a fake clock: ticks fire once each, missed ticks follow ``catch_up``, a hanging
job is stopped at its timeout and a failing one does not stop the others — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import crmhub.plugins
from crmhub.cli import jobs_cmds, main
from crmhub.errors import LockedError
from crmhub.jobs import state
from crmhub.jobs.scheduler import EmbeddedScheduler
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.tables import RunLock, SourceRecord, SyncRun

from .conftest import FakeClock, make_settings

START = datetime(2026, 1, 5, 0, 0, 30, tzinfo=UTC)


def runs(store: Store, job: str) -> list[SyncRun]:
    with store.begin() as s:
        return list(s.scalars(select(SyncRun).where(SyncRun.job == job).order_by(SyncRun.id)))


async def test_every_minute_one_run_per_tick_and_listed(
    store: Store,
    store_url: str,
    registry: Registry,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Three minutes of a `* * * * *` job: exactly three scheduled runs, each stored with its report and shown by
    `crmhub jobs list`; the first start does not run the tick before it."""
    settings = make_settings(
        registry, store_url, {"minutely": {"cron": "* * * * *", "timezone": "UTC"}}, crm={"records": 4}
    )
    clock = FakeClock(START)
    sched = EmbeddedScheduler(settings, registry, store, clock=clock)
    assert await sched.run(until=START + timedelta(minutes=3)) == 0
    assert [o.tick for o in sched.outcomes] == [START.replace(second=0) + timedelta(minutes=m) for m in (1, 2, 3)]
    stored = runs(store, "minutely")
    assert [(r.trigger, r.status) for r in stored] == [("scheduler", "succeeded")] * 3
    assert stored[0].report["totals"]["clients_created"] == 4 and stored[1].report["totals"]["clients_created"] == 0
    assert all(s <= 60 for s in clock.slept)
    view = state.load(store)["minutely"]
    assert view.last_tick == START.replace(second=0) + timedelta(minutes=3) and view.running is None

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[store]\nurl = "{store_url}"\n[jobs.minutely]\ncron = "* * * * *"\ntimezone = "UTC"\n', encoding="utf-8"
    )
    monkeypatch.setattr(crmhub.plugins, "load", lambda: registry)
    assert main(["jobs", "list", "-c", str(cfg), "--json"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["runs"] == 3 and [r["run_id"] for r in row["recent"]] == [r.id for r in reversed(stored)]
    assert row["last"]["status"] == "succeeded" and row["next_run"].endswith("+00:00")
    monkeypatch.setattr(jobs_cmds.console, "width", 200)
    assert main(["--lang", "en", "jobs", "list", "-c", str(cfg)]) == 0
    table = capsys.readouterr().out
    assert "minutely" in table and "succeeded" in table and f"{stored[-1].id}" in table


@pytest.mark.parametrize(
    ("catch_up", "late_minutes", "ran"), [("once", 30, True), ("skip", 30, False), ("skip", 2, True)]
)
async def test_missed_ticks_follow_catch_up(
    store: Store, store_url: str, registry: Registry, catch_up: str, late_minutes: int, ran: bool
) -> None:
    """Hours of downtime: `once` runs the latest missed tick, `skip` records it as skipped — unless it is only
    minutes late (a restart just after the tick still runs it)."""
    settings = make_settings(
        registry, store_url, {"hourly": {"cron": "0 * * * *", "catch_up": catch_up, "timezone": "UTC"}}, crm={}
    )
    latest = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert state.claim_tick(store, "hourly", latest - timedelta(hours=3))
    boot = latest + timedelta(minutes=late_minutes)
    sched = EmbeddedScheduler(settings, registry, store, clock=FakeClock(boot))
    await sched.run(until=boot)
    assert [o.tick for o in sched.outcomes] == ([latest] if ran else [])
    assert state.load(store)["hourly"].last_tick == latest
    assert len(runs(store, "hourly")) == (1 if ran else 0)


async def test_hanging_job_is_stopped_and_others_go_on(store: Store, store_url: str, registry: Registry) -> None:
    """A pull that hangs is stopped at the job's timeout (its committed page kept, the next run resuming after it);
    a connector that cannot open fails its job; the healthy job runs on every tick regardless."""
    settings = make_settings(
        registry,
        store_url,
        {
            "hang": {"cron": "* * * * *", "timezone": "UTC", "connectors": ["slow"], "timeout": "1s"},
            "broken": {"cron": "* * * * *", "timezone": "UTC", "connectors": ["down"]},
            "fine": {"cron": "* * * * *", "timezone": "UTC", "connectors": ["ok"]},
        },
        slow={"mode": "hang"},
        down={"mode": "broken"},
        ok={"records": 2},
    )
    sched = EmbeddedScheduler(settings, registry, store, clock=FakeClock(START))
    await sched.run(until=START + timedelta(minutes=2))
    by_job: dict[str, list[str]] = {}
    for o in sched.outcomes:
        by_job.setdefault(o.job, []).append(o.status)
    assert by_job == {"hang": ["failed", "failed"], "broken": ["failed", "failed"], "fine": ["succeeded"] * 2}
    hang = runs(store, "hang")
    assert [r.status for r in hang] == ["failed", "failed"] and "timeout" in (hang[0].error or "")
    assert "the test system is down" in (runs(store, "broken")[0].error or "")
    with store.begin() as s:
        kept = sorted(s.scalars(select(SourceRecord.source_id).where(SourceRecord.connector == "slow")))
        assert kept == ["slow-0", "slow-1", "slow-2", "slow-3"]  # page 1 on the first run, page 2 on the second
        assert (s.scalar(select(func.count()).select_from(RunLock)) or 0) == 0
    timed_out = [o for o in sched.outcomes if o.job == "hang"]
    assert all(1.0 <= o.duration_s < 10 for o in timed_out)


async def test_one_scheduler_per_store(store: Store, store_url: str, registry: Registry) -> None:
    """A second scheduler on the same store refuses to start and names the first."""
    settings = make_settings(registry, store_url, {"j": {"cron": "0 2 * * *"}}, crm={})
    now = datetime.now(UTC)
    with store.begin() as s:
        s.add(RunLock(name="scheduler:embedded", holder="ops-host:4242", acquired_at=now, heartbeat_at=now))
    with pytest.raises(LockedError, match="ops-host:4242"):
        await EmbeddedScheduler(settings, registry, store, clock=FakeClock(START)).run(until=START)


async def test_stop_waits_for_the_safe_point_then_forces(store: Store, store_url: str, registry: Registry) -> None:
    """A stop asks the running job to stop; a job that cannot (stuck in a step that may not be interrupted) makes
    the scheduler exit after its grace, marking the job's unfinished run interrupted first."""
    settings = make_settings(registry, store_url, {"stuck": {"cron": "* * * * *", "timezone": "UTC"}}, crm={})
    forced: list[int] = []
    asked: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()

    class Exited(BaseException):
        """Stands for the process exit that `on_force` would be (a BaseException, like SystemExit)."""

    async def stuck_runner(*_args: Any, token: Any, **_kwargs: Any) -> Any:
        token.subscribe(lambda reason: asked.append(reason.text))
        started.set()
        now = datetime.now(UTC)
        with store.begin() as s:
            s.add(
                SyncRun(
                    job="stuck",
                    trigger="scheduler",
                    status="running",
                    connectors=[],
                    report={},
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        await release.wait()  # ignores the stop request, like a long merge
        raise Exited

    def on_force(code: int) -> None:
        forced.append(code)
        release.set()

    sched = EmbeddedScheduler(
        settings, registry, store, clock=FakeClock(START), grace=0.2, runner=stuck_runner, on_force=on_force
    )
    task = asyncio.create_task(sched.run(until=START + timedelta(minutes=1)))
    await started.wait()
    sched.stop("SIGTERM")
    with pytest.raises(Exited):
        await task
    assert forced == [1] and asked and "scheduler is stopping (SIGTERM)" in asked[0]
    (run,) = runs(store, "stuck")
    assert run.status == "interrupted" and "exited without waiting (grace of 0.2s expired)" in (run.error or "")
