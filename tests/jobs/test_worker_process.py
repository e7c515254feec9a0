"""`crmhub worker` processes on PostgreSQL against the real simulators: two workers never run one connector at
once (procrastinate's lock for identical connector sets, crmhub's run locks with retry for overlapping ones), and
a worker killed with SIGKILL in the middle of a sync is detected by the other, whose retry ends in exactly the
state of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crmhub.cli import main
from crmhub.jobs import state
from crmhub.store import Store
from crmhub.store.tables import LedgerTransaction, RunLock, SyncRun

from .sandbox import JOB, count, crmhub, real_registry, sandboxes, settle, summary, wait_for, write_config

pytestmark = pytest.mark.slow


def start_workers(
    cfg: Path, cwd: Path, store: Store, n: int = 2, expect: int | None = None
) -> list[subprocess.Popen[str]]:
    """Start ``n`` workers; wait until ``expect`` (default ``n``) workers have a fresh liveness lock."""
    procs = [crmhub("worker", "-c", str(cfg), "--stalled-after", "5", "--grace", "20", cwd=cwd) for _ in range(n)]
    pids = {p.pid for p in procs}

    def registered() -> bool:
        cutoff = datetime.now(UTC) - timedelta(seconds=5)
        with store.begin() as s:
            rows = list(s.scalars(select(RunLock).where(RunLock.name.like("worker:%"), RunLock.heartbeat_at >= cutoff)))
            mine = [r for r in rows if int(r.name.rpartition(":")[2]) in pids]
            return len(mine) == n and (expect is None or len(rows) >= expect)

    try:
        wait_for(registered, 60, f"{n} workers to start")
    except AssertionError:
        for p in procs:
            p.kill()
        raise AssertionError("\n".join(p.communicate()[1] for p in procs)) from None
    return procs


def stop_workers(procs: list[subprocess.Popen[str]]) -> list[list[dict[str, Any]]]:
    """SIGTERM each live worker; every one must exit cleanly. Returns each one's log lines."""
    logs = []
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        code, out, err = settle(p)
        assert code in (0, -signal.SIGKILL), err
        logs.append([json.loads(line) for line in out.splitlines() if line.startswith("{")])
    return logs


def finished(store: Store, *jobs: str) -> bool:
    views = state.load(store, list(jobs))
    return all(j in views and views[j].last_status == "succeeded" for j in jobs)


def test_two_workers_never_share_a_connector(tmp_path: Path, store: Store, pg_only: str) -> None:
    """A full sync and a ledger-only sync queued together on two idle workers: they overlap on the ledger, so
    one waits (crmhub's run lock, retried with backoff) and their ledger runs never overlap in time."""
    registry = real_registry()
    with sandboxes(registry, latency_ms=10.0) as sb:
        cfg = write_config(
            tmp_path / "c.toml",
            sb,
            pg_only,
            {"everything": {"cron": "0 2 * * *"}, "ledger_only": {"cron": "0 3 * * *", "connectors": ["ledger"]}},
        )
        procs = start_workers(cfg, tmp_path, store)
        try:
            assert main(["jobs", "run", "everything", "--defer", "-c", str(cfg)]) == 0
            assert main(["jobs", "run", "ledger_only", "--defer", "-c", str(cfg)]) == 0
            wait_for(lambda: finished(store, "everything", "ledger_only"), 90, "both jobs", every=0.2)
        finally:
            logs = stop_workers(procs)
    with store.begin() as s:
        runs = sorted(s.scalars(select(SyncRun).where(SyncRun.job.is_not(None))), key=lambda r: r.started_at)
    assert sorted((r.job, r.status) for r in runs) == [("everything", "succeeded"), ("ledger_only", "succeeded")]
    assert runs[0].finished_at is not None and runs[0].finished_at <= runs[1].started_at
    history = [e for j in ("everything", "ledger_only") for e in state.load(store)[j].history]
    waited = [e for e in history if e["status"] == "locked"]
    assert waited and "connector:ledger" in waited[0]["error"]
    ran_on = {line["executor"] for log in logs for line in log if line["event"] == "job_finished"}
    assert len(ran_on) == 2  # both workers worked


def test_killed_worker_is_recovered_without_loss(
    tmp_path: Path, store: Store, pg_only: str, baseline: dict[str, Any]
) -> None:
    """SIGKILL the worker running a sync mid-ingest: the other worker sees it dead (no heartbeats), releases its
    locks, marks its run interrupted and runs the job again; the end state equals an uninterrupted run."""
    registry = real_registry()
    with sandboxes(registry, latency_ms=25.0) as sb:
        cfg = write_config(tmp_path / "c.toml", sb, pg_only, JOB)
        procs = start_workers(cfg, tmp_path, store)
        try:
            assert main(["jobs", "run", "nightly", "--defer", "-c", str(cfg)]) == 0
            wait_for(lambda: count(store, LedgerTransaction) > 0, 60, "the first ledger pages")
            with store.begin() as s:
                holder = s.get(RunLock, "job:nightly")
                assert holder is not None
            (victim,) = [p for p in procs if holder.holder.endswith(f":{p.pid}")]
            victim.kill()
            victim.wait()
            partial = count(store, LedgerTransaction)
            wait_for(lambda: finished(store, "nightly"), 90, "the job to be retried", every=0.2)
        finally:
            logs = stop_workers(procs)
    assert 0 < partial < baseline["transactions"]
    assert summary(store) == baseline
    with store.begin() as s:
        runs = list(s.scalars(select(SyncRun).where(SyncRun.job == "nightly").order_by(SyncRun.id)))
        assert list(s.scalars(select(RunLock))) == []
    assert [r.status for r in runs] == ["interrupted", "succeeded"]
    assert "stopped responding" in (runs[0].error or "")
    survivor = [line for log in logs for line in log]
    assert any(line["event"] == "job_requeued" and line["job"] == "nightly" for line in survivor)


def test_sigterm_requeues_the_running_job(tmp_path: Path, store: Store, pg_only: str, baseline: dict[str, Any]) -> None:
    """SIGTERM the worker running a sync: it stops between pages and exits cleanly; the job goes back to the
    queue at once and the other worker finishes it, ending where an uninterrupted run ends."""
    registry = real_registry()
    with sandboxes(registry, latency_ms=25.0) as sb:
        cfg = write_config(tmp_path / "c.toml", sb, pg_only, JOB)
        procs = start_workers(cfg, tmp_path, store)
        try:
            assert main(["jobs", "run", "nightly", "--defer", "-c", str(cfg)]) == 0
            wait_for(lambda: count(store, LedgerTransaction) > 0, 60, "the first ledger pages")
            with store.begin() as s:
                holder = s.get(RunLock, "job:nightly")
                assert holder is not None
            (victim,) = [p for p in procs if holder.holder.endswith(f":{p.pid}")]
            victim.send_signal(signal.SIGTERM)
            assert victim.wait(30) == 0
            wait_for(lambda: finished(store, "nightly"), 60, "the other worker to finish the job", every=0.2)
        finally:
            logs = stop_workers(procs)
    assert summary(store) == baseline
    with store.begin() as s:
        runs = list(s.scalars(select(SyncRun).where(SyncRun.job == "nightly").order_by(SyncRun.id)))
    assert [r.status for r in runs] == ["interrupted", "succeeded"]
    assert "the worker is stopping (SIGTERM)" in (runs[0].error or "")
    (stopped,) = [log for p, log in zip(procs, logs, strict=True) if p is victim]
    events = [(line["event"], line.get("status")) for line in stopped if line["logger"] == "crmhub.jobs"]
    assert ("job_finished", "interrupted") in events and events[-1] == ("worker_stopped", None)
