"""`crmhub sync --on-workers`: one sync run split into procrastinate tasks run by `crmhub worker` processes on
PostgreSQL (`crmhub.jobs.runs`) ends where a single-process run of the same world ends — golden records,
lineage, risk assessments and write-back plans equal record by record."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crmhub.cli import main
from crmhub.core.exit_codes import ExitCode
from crmhub.store import Store
from crmhub.store.tables import RunLock, SyncRun, SyncTask

from .distributed import distributed_config, engine_results
from .sandbox import real_registry, sandboxes, wait_for
from .test_worker_process import start_workers, stop_workers


def test_on_workers_needs_postgres(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On SQLite the option is refused with a bilingual message naming what to do, before anything runs."""
    registry = real_registry()
    with sandboxes(registry) as sb:
        cfg = distributed_config(tmp_path / "c.toml", sb, f"sqlite:///{tmp_path / 's.db'}")
        codes = [main(["--lang", lang, "sync", "--on-workers", "-c", str(cfg)]) for lang in ("en", "zh")]
    err = capsys.readouterr().err
    assert codes == [ExitCode.USAGE, ExitCode.USAGE]
    assert "needs a PostgreSQL store" in err and "需要 PostgreSQL 存储" in err
    sqlite = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    try:
        with sqlite.begin() as s:
            assert list(s.scalars(select(SyncRun))) == []  # nothing ran
    finally:
        sqlite.dispose()


@pytest.fixture
def second_schema() -> Iterator[str]:
    """One more fresh PostgreSQL schema (the single-process run's), dropped afterwards."""
    from tests.conftest import PG_URL, fresh_pg_schema

    if not PG_URL:
        pytest.skip("needs CRMHUB_TEST_DATABASE_URL")
    with fresh_pg_schema() as url:
        yield url


@pytest.mark.slow
def test_two_workers_equal_one_process(tmp_path: Path, store: Store, pg_only: str, second_schema: str) -> None:
    """The same world (a fresh copy of the simulators each time) synced by one process into one schema and by
    two `crmhub worker` processes into another: the engine's results are equal, record by record."""
    registry = real_registry()
    with sandboxes(registry, latency_ms=5.0) as sb:
        cfg = distributed_config(tmp_path / "one.toml", sb, second_schema)
        assert main(["sync", "-c", str(cfg)]) == 0
    single = Store.open(second_schema)
    try:
        expected = engine_results(single)
        with single.begin() as s:
            expected_report = s.scalars(select(SyncRun.report)).one()
    finally:
        single.dispose()

    with sandboxes(registry, latency_ms=5.0) as sb:
        cfg = distributed_config(tmp_path / "two.toml", sb, pg_only)
        procs = start_workers(cfg, tmp_path, store)
        try:
            assert main(["sync", "--on-workers", "-c", str(cfg)]) == 0
        finally:
            stop_workers(procs)
    got = engine_results(store)
    assert got["golden"] and got["lineage"] and got["risk"] and got["plans"]
    for part in ("golden", "lineage", "risk", "plans"):
        assert got[part].keys() == expected[part].keys(), part
        for key in got[part]:
            assert got[part][key] == expected[part][key], (part, key, _diff(got[part][key], expected[part][key]))
    with store.begin() as s:
        run = s.scalars(select(SyncRun)).one()
        tasks = list(s.scalars(select(SyncTask).where(SyncTask.run_id == run.id)))
        assert list(s.scalars(select(RunLock).where(RunLock.holder == f"run:{run.id}"))) == []
    assert (run.executor, run.status) == ("workers", "succeeded")
    assert {t.status for t in tasks} == {"done"}
    assert len({t.worker for t in tasks}) == 2  # both workers took tasks
    assert run.report["totals"] == expected_report["totals"]  # the same report (its counts)
    for name, rep in expected_report["connectors"].items():
        mine = run.report["connectors"][name]
        assert mine["status"] == rep["status"] and mine["written_back"] == rep["written_back"], name
        # which system's records were "merged" into a client another created depends on the order the
        # connectors' pages committed (as between two single-process runs); the rest of each stream's counts not
        mine_counts, counts = _unmerged(mine["streams"]), _unmerged(rep["streams"])
        assert mine_counts == counts, (name, _diff(mine_counts, counts))
    merge_parts = [t.part for t in tasks if t.phase == "merge"]
    assert len(merge_parts) == 3 and all(p.startswith("gc:") for p in merge_parts)
    assert [t.part for t in tasks if t.phase == "ingest"] and run.report["tasks"]


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON-like values differ (the assertion message of a failed comparison)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) for d in _diff(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and sorted(map(repr, a)) == sorted(map(repr, b)):
        return [f"{path}: same items, other order"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


@pytest.mark.slow
def test_detach_then_cancel(tmp_path: Path, store: Store, pg_only: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--detach`` prints the run id and returns with the tasks queued; ``--cancel`` skips them and a worker
    stores the report ``interrupted`` (exit code of `crmhub report` aside: the run's status says it), the run's
    locks released; cancelling it again is a clear error."""
    registry = real_registry()
    with sandboxes(registry, latency_ms=5.0) as sb:
        cfg = distributed_config(tmp_path / "c.toml", sb, pg_only)
        assert main(["--lang", "en", "sync", "--on-workers", "--detach", "-c", str(cfg)]) == 0
        out, err = capsys.readouterr()
        run_id = int(out.strip())
        assert f"crmhub report {run_id}" in err
        with store.begin() as s:
            queued = {t.phase: t.status for t in s.scalars(select(SyncTask).where(SyncTask.run_id == run_id))}
            held = {lock.holder for lock in s.scalars(select(RunLock))}
        assert queued == {"ingest": "queued"} and held == {f"run:{run_id}"}
        assert main(["--lang", "en", "sync", "--cancel", str(run_id), "-c", str(cfg)]) == 0
        assert main(["--lang", "en", "sync", "--cancel", str(run_id), "-c", str(cfg)]) == ExitCode.USAGE
        assert "nothing to cancel" in capsys.readouterr().err
        procs = start_workers(cfg, tmp_path, store, n=1)
        try:
            wait_for(lambda: _status(store, run_id) != "running", 60, "the cancelled run's report")
        finally:
            stop_workers(procs)
    with store.begin() as s:
        run = s.get(SyncRun, run_id)
        tasks = {(t.phase, t.part): t.status for t in s.scalars(select(SyncTask).where(SyncTask.run_id == run_id))}
        assert list(s.scalars(select(RunLock).where(RunLock.holder == f"run:{run_id}"))) == []
    assert run is not None and run.status == "interrupted" and "cancelled by" in (run.error or "")
    assert tasks[("finish", "finish")] == "done"
    assert {v for k, v in tasks.items() if k[0] == "ingest"} == {"cancelled"}
    assert run.report["status"] == "interrupted"


def _status(store: Store, run_id: int) -> str:
    with store.begin() as s:
        run = s.get(SyncRun, run_id)
        return run.status if run is not None else "-"


@pytest.mark.slow
def test_sigterm_stops_an_ingest_task_at_once_and_another_worker_finishes_it(
    tmp_path: Path, store: Store, pg_only: str
) -> None:
    """SIGTERM to a worker in the middle of an ingest task (cancel-safe): the task goes back to the queue at
    once, the worker exits 0 well within its grace, and the other worker finishes the run."""
    registry = real_registry()
    with sandboxes(registry, latency_ms=60.0) as sb:
        cfg = distributed_config(tmp_path / "c.toml", sb, pg_only)
        procs = start_workers(cfg, tmp_path, store)
        try:
            assert main(["sync", "--on-workers", "--detach", "-c", str(cfg)]) == 0

            def ingesting() -> SyncTask | None:
                with store.begin() as s:
                    return s.scalars(
                        select(SyncTask).where(SyncTask.phase == "ingest", SyncTask.status == "running")
                    ).first()

            task = wait_for(ingesting, 60, "an ingest task to run")
            (victim,) = [p for p in procs if (task.worker or "").endswith(f":{p.pid}")]
            victim.send_signal(signal.SIGTERM)
            assert victim.wait(15) == 0
            wait_for(lambda: _status(store, task.run_id) != "running", 120, "the run to finish", every=0.5)
        finally:
            stop_workers(procs)
    with store.begin() as s:
        stopped = s.get(SyncTask, task.id)
        assert stopped is not None and stopped.status == "done" and stopped.tries == 2
        assert stopped.worker != task.worker
    assert _status(store, task.run_id) == "succeeded"


def _unmerged(streams: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: {k: v for k, v in counts.items() if k != "merged"} for name, counts in streams.items()}
