"""`crmhub.sync.run_tasks`: a distributed run's tasks by phase and worker, and its progress — on SQLite and
PostgreSQL, over the rows of tests/sync/task_rows.py."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.sync.task_rows import PHONE_ERROR, TASKS, W1, W2, add_distributed_run

from crmhub.store import Store
from crmhub.store.tables import SyncRun
from crmhub.sync import run_tasks


def test_tasks_grouped_by_phase_in_seq_order_with_counts(store: Store) -> None:
    now = datetime.now(UTC)
    with store.begin() as s:
        run_id = add_distributed_run(s, now=now)
        view = run_tasks.load_tasks(s, run_id, now=now)
    assert [(p.seq, p.phase, p.total) for p in view.phases] == [
        (1, "ingest", 3),
        (2, "match", 4),
        (3, "link", 1),
        (4, "merge", 4),
        (5, "deliver", 2),
    ]
    merge = view.phases[3]
    assert [t.part for t in merge.tasks] == [t[2] for t in TASKS if t[1] == "merge"]  # partition (insert) order
    assert merge.counts == {"queued": 1, "running": 1, "done": 1, "failed": 1, "cancelled": 0}
    assert merge.retries == 2 and merge.workers == [W1, W2] and not merge.finished
    assert view.phases[0].retries == 1 and view.phases[0].finished
    assert view.phases[4].workers == [] and view.phases[4].done == 0


def test_task_durations_errors_masked_and_counters(store: Store) -> None:
    now = datetime.now(UTC)
    with store.begin() as s:
        run_id = add_distributed_run(s, now=now)
        view = run_tasks.load_tasks(s, run_id, now=now)
    tasks = {t.part: t for p in view.phases for t in p.tasks if p.phase == "merge"}
    assert tasks["gc:1-5000"].duration_s == 10.0 and tasks["gc:1-5000"].counters == {"read": 450}
    assert tasks["gc:5001-10000"].duration_s == 30.0  # running: elapsed so far
    assert tasks["gc:15001-20000"].duration_s is None and tasks["gc:15001-20000"].worker is None
    failed = tasks["gc:10001-15000"]
    assert failed.tries == 3 and failed.error is not None
    assert "13812345678" not in failed.error and "li.wei" not in failed.error and "138****5678" in failed.error
    assert failed.error != PHONE_ERROR
    doc = view.as_json()
    assert doc["phases"][3]["tasks"][2]["error"] == failed.error
    assert "tasks" not in view.as_json(tasks=False)["phases"][0]


def test_progress_and_worker_totals(store: Store) -> None:
    now = datetime.now(UTC)
    with store.begin() as s:
        run_id = add_distributed_run(s, now=now)
        view = run_tasks.load_tasks(s, run_id, now=now)
        by_sql = run_tasks.progress(s, [run_id, run_id + 1000])
    p = view.progress
    assert (p.done, p.total, p.phase, p.phase_done, p.phase_total, p.running, p.failed) == (9, 14, "merge", 1, 4, 1, 1)
    assert p.percent == 64
    assert by_sql == {run_id: p}  # the grouped SQL count says the same; a run without tasks is absent
    workers = {w.worker: w for w in view.workers}
    assert list(workers) == [W1, W2]
    assert (workers[W1].tasks, workers[W1].done, workers[W1].failed, workers[W1].running) == (6, 5, 1, 0)
    assert (workers[W2].tasks, workers[W2].done, workers[W2].running) == (5, 4, 1)
    assert workers[W1].busy_s == 60.0 and workers[W2].busy_s == 70.0  # 6 tasks of 10 s; 4 × 10 s + 30 s running


def test_a_finished_run_is_in_its_last_phase_and_running_runs_lists_only_going_distributed_runs(store: Store) -> None:
    with store.begin() as s:
        going = add_distributed_run(s)
        manual = add_distributed_run(s, job=None)
        ended = add_distributed_run(s, status="succeeded")
        from sqlalchemy import update

        from crmhub.store.tables import SyncTask

        s.execute(update(SyncTask).where(SyncTask.run_id == ended).values(status="done"))
        s.add(SyncRun(kind="sync", status="running", connectors=[], report={}, started_at=datetime.now(UTC)))
        s.flush()
        assert not run_tasks.is_distributed(s, going + 3) and run_tasks.is_distributed(s, going)
        listed = run_tasks.running_runs(s)
        done = run_tasks.progress(s, [ended])[ended]
    assert [(r.run_id, r.job) for r in listed] == [(going, "nightly"), (manual, None)]
    assert listed[0].progress.phase == "merge"
    assert (done.done, done.total, done.phase, done.phase_done, done.phase_total) == (14, 14, "deliver", 2, 2)


def test_a_run_without_tasks_yet(store: Store) -> None:
    with store.begin() as s:
        run = SyncRun(kind="sync", status="running", connectors=[], report={}, started_at=datetime.now(UTC))
        run.executor = "workers"
        s.add(run)
        s.flush()
        view = run_tasks.load_tasks(s, run.id)
        listed = run_tasks.running_runs(s)
    assert view.phases == [] and view.workers == []
    assert (view.progress.done, view.progress.total, view.progress.phase) == (0, 0, None)
    assert [r.progress.total for r in listed] == [0]
