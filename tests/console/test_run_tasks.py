"""The run page of a sync run split over workers, over HTTP: progress bar, the phase table, a table of tasks per
phase with status badges, the workers — masked errors, zh and en, every role that reads runs; a single-process run's
page shows none of it. The run is tests/sync/task_rows.py's (9 of 14 tasks done, in phase merge)."""

from __future__ import annotations

import re

import pytest
from tests.console.conftest import OPERATORS, Console
from tests.sync.task_rows import W1, W2, add_distributed_run


def _section(page: str, marker: str) -> str:
    return page.split(marker, 1)[1].split("</tr>", 1)[0]


@pytest.fixture
def run_id(console: Console) -> int:
    with console.store().begin() as s:
        return add_distributed_run(s)


def test_a_distributed_run_shows_its_tasks_by_phase_and_worker(console: Console, run_id: int) -> None:
    page = console.login("alice", lang="en").get(f"/runs/{run_id}")
    assert page.status_code == 200, page.text[:400]
    text = page.text
    assert 'data-status="running"' in text.split('class="run-head"', 1)[1][:400]
    assert text.index('id="tasks"') < text.index('id="totals"')  # still going: its tasks come first
    assert "split over workers" in _section(text, "<dt>Executor</dt>").split("</dd>")[0]
    assert '<progress id="tasks-bar" max="14" value="9">' in text
    assert "9 of 14 tasks done (64%) — phase merge: 1/4" in text
    merge = _section(text, '<tr data-phase="merge">')
    cells = dict(re.findall(r'data-cell="(\w+)">([^<]*)<', merge))
    assert cells == {"done": "1/4", "running": "1", "failed": "1", "retries": "2", "workers": f"{W1}, {W2}"}
    assert _section(text, '<tr data-phase="deliver">').count("—") == 1  # no worker yet
    phases = re.findall(r'<details class="phase-tasks" id="phase-(\d+)-(\w+)" data-phase="\w+"( open)?>', text)
    assert phases == [
        ("1", "ingest", ""),
        ("2", "match", ""),
        ("3", "link", ""),
        ("4", "merge", " open"),
        ("5", "deliver", " open"),
    ]  # finished phases folded
    failed = _section(text, '<tr data-task="gc:10001-15000"')
    assert 'data-status="failed"' in failed and W1 in failed and 'class="num retried">3<' in failed
    assert "138****5678" in failed and "13812345678" not in text and "li.wei" not in text
    assert 'data-status="queued"' in _section(text, '<tr data-task="gc:15001-20000"')
    workers = _section(text, f'<tr data-worker="{W2}">')
    assert re.findall(r'<td class="num">([^<]*)<', workers)[:4] == ["5", "4", "1", "0"]


def test_tasks_in_chinese(console: Console, run_id: int) -> None:
    text = console.login("alice", lang="zh").get(f"/runs/{run_id}").text
    for word in (
        "任务",
        "已完成 9/14 个任务（64%）— 当前阶段 合并：1/4",
        "阶段",
        "完成/总数",
        "工作进程",
        "分区",
        "尝试次数",
        "排队中",
        "运行中",
        "关联客户接触",
    ):
        assert word in text, word


def test_a_single_process_run_shows_no_tasks(console: Console, run_id: int) -> None:
    text = console.login("alice", lang="en").get("/runs/2").text
    assert 'id="tasks"' not in text and "tasks-bar" not in text and "phase-tasks" not in text
    assert "Executor" not in text


def test_a_finished_distributed_run_shows_its_tasks_after_the_report(console: Console, run_id: int) -> None:
    from sqlalchemy import update

    from crmhub.store.tables import SyncRun, SyncTask

    with console.store().begin() as s:
        s.execute(update(SyncTask).where(SyncTask.run_id == run_id).values(status="done"))
        s.execute(update(SyncRun).where(SyncRun.id == run_id).values(status="succeeded"))
    text = console.login("alice", lang="en").get(f"/runs/{run_id}").text
    assert text.index('id="totals"') < text.index('id="tasks"')
    assert '<progress id="tasks-bar" max="14" value="14">' in text and "phase deliver: 2/2" in text
    assert " open>" not in text.split('id="tasks"', 1)[1]  # every phase finished: all folded


def test_every_role_reads_the_tasks_and_nobody_else(console: Console, run_id: int) -> None:
    for name in OPERATORS:  # admin, operator, approver, aml_officer, viewer: the run pages are the report's
        page = console.login(name).get(f"/runs/{run_id}")
        assert page.status_code == 200 and 'id="tasks"' in page.text, name
    anonymous = console.client().get(f"/runs/{run_id}")
    assert anonymous.status_code in (302, 303) and "/login" in anonymous.headers["location"]


def test_the_dashboard_shows_a_running_jobs_progress(console: Console, run_id: int) -> None:
    from crmhub.jobs import state as job_state
    from crmhub.jobs.settings import JobSettings

    settings = console.app.state.console.settings
    settings.jobs["nightly"] = JobSettings(cron="0 2 * * *", command="sync")
    settings.jobs["weekly"] = JobSettings(cron="0 3 * * 0", command="sync")
    job_state.record_finish(console.store(), "weekly", {"status": "succeeded", "run_id": 2})
    page = console.login("alice", lang="en").get("/").text
    nightly = _section(page, '<tr data-job="nightly">')
    assert f'href="/runs/{run_id}"' in nightly and 'data-progress="9/14"' in nightly
    assert '<progress max="14" value="9">' in nightly and "merge 1/4" in nightly
    weekly = _section(page, '<tr data-job="weekly">')
    assert 'href="/runs/2"' in weekly and "progress" not in weekly
    assert "合并 1/4" in console.login("alice", lang="zh").get("/").text
