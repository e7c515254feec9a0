"""The task rows of a distributed sync (`crmhub.jobs.runs`): the barrier opens a phase once its predecessor is
done, a claim is exclusive, failures are retried up to ``max_tries`` and then fail the run naming the task, a
cancel skips what is queued; and a phase's counters survive their JSON form."""

from __future__ import annotations

import asyncio
import inspect
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crmhub.core.report import ConnectorReport, RunReport
from crmhub.jobs.runs import counters, launch, rows
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.store.tables import AuditLog, RunLock, SyncRun, SyncTask
from crmhub.sync.deliverer import TargetDrain
from crmhub.sync.ingest_phase import IngestCounters
from crmhub.sync.interactions import LinkOutcome
from crmhub.sync.outbox import DeliveryStats
from crmhub.sync.phases import CYCLE, DeliverCounters, LinkCounters, MatchCounters, MergeCounters, PlanCounters

from .conftest import make_settings

STALE = timedelta(seconds=60)


def test_every_phase_of_the_cycle_returns_counters_with_a_json_form() -> None:
    """A phase added to the cycle with counters of a new class must teach `counters.encode` their JSON form."""
    for phase in CYCLE:
        method = type(phase).work if phase.runs_in == "thread" else type(phase).run
        assert str(inspect.signature(method).return_annotation) in counters.KNOWN, phase.name


def test_counters_survive_json_and_replay_like_apply() -> None:
    phases: list[tuple[str, Any]] = [
        ("ingest", IngestCounters(records_read=5, data_quality=1)),
        ("match", MatchCounters({("a", "clients"): 3}, review_items=2)),
        ("merge", MergeCounters(created=3, updated=1, conflicts=1)),
        ("link", LinkCounters(LinkOutcome(linked=2, pending=1))),
        ("plan", PlanCounters(planned=4)),
        ("deliver", DeliverCounters([TargetDrain("a", DeliveryStats(confirmed=4), left=1)])),
    ]
    direct = RunReport(run_id=1, started_at=datetime.now(UTC))
    replayed = direct.model_copy(deep=True)
    for report in (direct, replayed):
        report.connectors["a"] = ConnectorReport(streams={"clients": {"read": 5}})
    for phase, c in phases:
        c.apply(direct)
        record = counters.task_record(c, replayed, [], 0.5, 0.25)
        counters.replay(replayed, phase, [record])
    assert replayed.totals == direct.totals
    assert replayed.connectors == direct.connectors
    assert replayed.totals.written_back == 4 and replayed.connectors["a"].streams["clients"]["merged"] == 3
    assert replayed.phases["merge"] == 0.5


def _start(registry: Registry, store: Store, url: str, partitions: int = 2) -> tuple[int, list[int]]:
    settings = make_settings(registry, url, {}, a={}, b={})
    settings.sync.workers.partitions = partitions
    return launch.start(settings, registry, store, None)


def _finish(store: Store, task_id: int, job: int) -> list[int]:
    assert rows.claim(store, task_id, job_id=job, worker="w", stale=STALE) is not None
    record = counters.task_record(IngestCounters(), RunReport(run_id=1, started_at=datetime.now(UTC)), [], 0, 0)
    return rows.complete(store, task_id, record, partitions=2)


def test_barrier_opens_the_next_phase_once(registry: Registry, store: Store, pg_only: str) -> None:
    run_id, first = _start(registry, store, pg_only)
    with store.begin() as s:
        tasks = rows.tasks_of(s, run_id)
        run = s.get(SyncRun, run_id)
        held = {lock.name: lock.holder for lock in s.scalars(select(RunLock))}
        assert run is not None and (run.executor, run.holder) == ("workers", f"run:{run_id}")
    assert [(t.phase, t.part) for t in tasks] == [("ingest", "a"), ("ingest", "b")]
    assert held == {n: f"run:{run_id}" for n in ("connector:a", "connector:b", "engine:merge")}
    a, b = first
    claimed = rows.claim(store, a, job_id=1, worker="w1", stale=STALE)
    assert claimed is not None and claimed.tries == 1
    assert rows.claim(store, a, job_id=2, worker="w2", stale=STALE) is None  # a duplicate job: the row is taken
    assert rows.claim(store, a, job_id=1, worker="w3", stale=STALE) is not None  # its own retry takes it over
    assert _finish(store, b, 3) == []  # a is still running: no barrier yet
    record = counters.task_record(IngestCounters(), RunReport(run_id=1, started_at=datetime.now(UTC)), [], 0, 0)
    (match,) = rows.complete(store, a, record, partitions=2)
    # a replayed finish creates no second row; it hands back the queued one (deferring it again is a no-op)
    assert rows.complete(store, a, record, partitions=2) == [match]
    with store.begin() as s:
        assert [t.phase for t in rows.tasks_of(s, run_id)].count("match") == 1
        assert s.get(SyncTask, a).tries == 2  # type: ignore[union-attr]
    assert len(_finish(store, match, 4)) == 1  # no golden client flagged: merge is one task over every id


def test_a_task_failing_max_tries_fails_the_run_naming_it(registry: Registry, store: Store, pg_only: str) -> None:
    run_id, (a, b) = _start(registry, store, pg_only)
    for _attempt in (1, 2):
        assert rows.claim(store, a, job_id=1, worker="w", stale=STALE) is not None
        assert rows.failed(store, a, "RuntimeError: boom", max_tries=3) == (False, [])
    assert rows.claim(store, a, job_id=1, worker="w", stale=STALE) is not None
    final, (finish,) = rows.failed(store, a, "RuntimeError: boom", max_tries=3)
    assert final
    with store.begin() as s:
        by_id = {t.id: t for t in rows.tasks_of(s, run_id)}
    assert (by_id[a].status, by_id[a].tries) == ("failed", 3)
    assert by_id[b].status == "cancelled"
    assert by_id[finish].spec["outcome"] == "failed" and "ingest/a failed after 3 tries" in by_id[finish].spec["reason"]
    assert rows.claim(store, b, job_id=9, worker="w", stale=STALE) is None


def test_cancel_skips_queued_tasks(registry: Registry, store: Store, pg_only: str) -> None:
    run_id, (a, b) = _start(registry, store, pg_only)
    assert rows.claim(store, a, job_id=1, worker="w", stale=STALE) is not None
    (finish,) = rows.cancel(store, run_id, "alice") or [None]
    assert rows.cancel(store, run_id, "alice") is None  # once
    assert rows.claim(store, b, job_id=2, worker="w", stale=STALE) is None
    with store.begin() as s:
        statuses = {t.id: t.status for t in rows.tasks_of(s, run_id)}
        spec = s.get(SyncTask, finish).spec  # type: ignore[union-attr]
    assert statuses[b] == "cancelled" and statuses[finish] == "queued"
    assert spec == {"outcome": "cancelled", "reason": "cancelled by alice"}
    with store.begin() as s:
        entries = [(e.actor, e.action, e.entity_id) for e in s.scalars(select(AuditLog))]
    assert entries == [("alice", "sync.cancel", str(run_id))]  # once: the refused second cancel adds none


@pytest.mark.parametrize("flagged", [0, 1, 7, 100])
def test_id_ranges_cover_every_id(store: Store, pg_only: str, flagged: int) -> None:
    from crmhub.jobs.runs.partitions import id_ranges
    from crmhub.store.tables import GoldenClient

    now = datetime.now(UTC)
    with store.begin() as s:
        s.add_all(
            GoldenClient(name=f"c{i}", needs_merge=i < flagged, created_at=now, updated_at=now) for i in range(120)
        )
    with store.begin() as s:
        ranges = id_ranges(s, GoldenClient.needs_merge, 4)
        ids = list(s.scalars(select(GoldenClient.id).where(GoldenClient.needs_merge.is_(True))))
    assert ranges[0][0] == 0 and ranges[-1][1] is None
    assert all(hi is not None and hi + 1 == nxt for (_, hi), (nxt, _) in itertools.pairwise(ranges))
    assert len(ranges) == (1 if flagged <= 1 else min(4, flagged))
    if len(ranges) > 1:
        per = [sum(1 for i in ids if lo <= i and (hi is None or i <= hi)) for lo, hi in ranges]
        assert max(per) - min(per) <= 1


def test_a_connectors_api_calls_add_up_over_its_tasks() -> None:
    report = RunReport(run_id=1, started_at=datetime.now(UTC), connectors={"a": ConnectorReport()})
    ingest = report.model_copy(deep=True)
    ingest.connectors["a"].api = {"api_calls": 3, "retries": 1}
    ingest.connectors["a"].streams = {"clients": {"read": 3}}
    counters.replay(report, "ingest", [counters.task_record(IngestCounters(), ingest, ["a"], 0, 0)])
    deliver = report.model_copy(deep=True)
    deliver.connectors["a"].api = {"api_calls": 2, "retries": 0}
    drains = DeliverCounters([TargetDrain("a", DeliveryStats(confirmed=2))])
    counters.replay(report, "deliver", [counters.task_record(drains, deliver, ["a"], 0, 0)])
    assert report.connectors["a"].api == {"api_calls": 5, "retries": 1}
    assert report.connectors["a"].streams == {"clients": {"read": 3}} and report.connectors["a"].written_back == 2


async def test_a_caller_waiting_on_a_run_no_worker_picked_up_is_told_once(
    registry: Registry, store: Store, pg_only: str
) -> None:
    """With no `crmhub worker` running, `crmhub sync --on-workers` would wait in silence: it says why, once."""
    run_id, (a, _b) = _start(registry, store, pg_only)
    told: list[int] = []

    def unclaimed() -> None:
        told.append(run_id)
        # a worker turns up: it claims a task, and the run ends (its report stored)
        assert rows.claim(store, a, job_id=1, worker="w", stale=STALE) is not None
        with store.begin() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            run.status = "succeeded"
            run.report = RunReport(run_id=run_id, status="succeeded", started_at=datetime.now(UTC)).model_dump(
                mode="json"
            )

    report = await launch.wait(store, run_id, poll=0.01, unclaimed_after=0.05, on_unclaimed=unclaimed)
    assert told == [run_id] and report.status == "succeeded"


async def test_a_run_a_worker_picked_up_is_waited_on_in_silence(registry: Registry, store: Store, pg_only: str) -> None:
    run_id, (a, _b) = _start(registry, store, pg_only)
    assert rows.claim(store, a, job_id=1, worker="w", stale=STALE) is not None
    told: list[int] = []

    async def end_later() -> None:
        await asyncio.sleep(0.3)
        with store.begin() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            run.status = "succeeded"
            run.report = RunReport(run_id=run_id, status="succeeded", started_at=datetime.now(UTC)).model_dump(
                mode="json"
            )

    ender = asyncio.create_task(end_later())
    report = await launch.wait(store, run_id, poll=0.01, unclaimed_after=0.05, on_unclaimed=lambda: told.append(1))
    await ender
    assert told == [] and report.status == "succeeded"
