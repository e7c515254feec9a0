"""`crmhub report RUN_ID` and `crmhub jobs list` for a sync run split over workers: the Tasks section (phase table,
workers), `--tasks` listing every task, progress of a running run, JSON, both languages, masked errors, and the
report command's roles (any registered operator reads; with closed reads nobody else)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.sync.task_rows import W1, W2, add_distributed_run

from crmhub.cli import main
from crmhub.core.report import RunReport
from crmhub.i18n import set_lang
from crmhub.store import Store
from crmhub.store.tables import SyncRun


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from crmhub.cli.common import console, err_console

    monkeypatch.setattr(console, "width", 250)
    monkeypatch.setattr(err_console, "width", 250)
    yield
    set_lang(None)


@pytest.fixture
def world(tmp_path: Path, store_url: str) -> tuple[str, dict[str, int]]:
    """A store with a running distributed run of job ``nightly``, a running manual one, a single-process run."""
    cfg = tmp_path / "crmhub.toml"
    cfg.write_text(
        f'[store]\nurl = "{store_url}"\n[jobs.nightly]\ncron = "0 2 * * *"\ntimezone = "UTC"\n', encoding="utf-8"
    )
    store = Store.open(store_url, var_dir=tmp_path / "var")
    try:
        with store.begin() as s:
            runs = {"job": add_distributed_run(s), "manual": add_distributed_run(s, job=None)}
            single = SyncRun(kind="sync", status="succeeded", connectors=["zoho"], started_at=datetime.now(UTC))
            s.add(single)
            s.flush()
            single.report = RunReport(run_id=single.id, status="succeeded", started_at=single.started_at).model_dump(
                mode="json"
            )
            runs["single"] = single.id
    finally:
        store.dispose()
    return str(cfg), runs


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_shows_the_tasks_by_phase_and_worker(
    capsys: pytest.CaptureFixture[str], world: tuple[str, dict[str, int]]
) -> None:
    cfg, runs = world
    code, out, _ = _run(capsys, "--lang", "en", "report", str(runs["job"]), "-c", cfg)
    assert code == 0, out
    assert "Tasks: 9 of 14 tasks done (64%) — phase merge: 1/4" in out  # shown while the run still runs
    merge = next(line for line in out.splitlines() if "│ merge" in line)
    cells = [c.strip() for c in merge.split("│")[1:-1]]
    assert cells == ["merge", "1/4", "1", "1", "2", f"{W1}, {W2}"]
    assert f"crmhub report {runs['job']} --tasks" in out
    assert "138****5678" in out and "13812345678" not in out and "li.wei" not in out  # the failed task's error
    assert "gc:15001-20000" not in out  # single tasks only with --tasks

    code, out, _ = _run(capsys, "--lang", "en", "report", str(runs["job"]), "--tasks", "-c", cfg)
    assert code == 0
    row = next(line for line in out.splitlines() if "gc:10001-15000" in line)
    assert [c.strip() for c in row.split("│")[1:5]] == ["gc:10001-15000", "failed", W1, "3"] and "138****5678" in row
    assert "gc:15001-20000" in out and "queued" in out and "13812345678" not in out


def test_report_in_chinese(capsys: pytest.CaptureFixture[str], world: tuple[str, dict[str, int]]) -> None:
    cfg, runs = world
    code, out, _ = _run(capsys, "--lang", "zh", "report", str(runs["job"]), "--tasks", "-c", cfg)
    assert code == 0
    assert "已完成 9/14 个任务（64%）— 当前阶段 合并：1/4" in out
    for word in ("阶段", "完成/总数", "工作进程", "尝试次数", "分区", "排队中", "失败", "运行中"):
        assert word in out, word


def test_report_json_carries_the_tasks(capsys: pytest.CaptureFixture[str], world: tuple[str, dict[str, int]]) -> None:
    cfg, runs = world
    code, out, _ = _run(capsys, "report", str(runs["job"]), "--format", "json", "-c", cfg)
    assert code == 0
    doc = json.loads(out)
    assert doc["tasks"]["progress"] == {
        "done": 9,
        "total": 14,
        "phase": "merge",
        "phase_done": 1,
        "phase_total": 4,
        "running": 1,
        "failed": 1,
    }
    assert [p["phase"] for p in doc["tasks"]["phases"]] == ["ingest", "match", "link", "merge", "deliver"]
    assert "tasks" not in doc["tasks"]["phases"][0] and [w["worker"] for w in doc["tasks"]["workers"]] == [W1, W2]
    code, out, _ = _run(capsys, "report", str(runs["job"]), "--format", "json", "--tasks", "-c", cfg)
    merge = json.loads(out)["tasks"]["phases"][3]
    assert [(t["part"], t["status"], t["tries"]) for t in merge["tasks"]][2] == ("gc:10001-15000", "failed", 3)
    assert "13812345678" not in out


def test_a_single_process_run_has_no_tasks_section(
    capsys: pytest.CaptureFixture[str], world: tuple[str, dict[str, int]]
) -> None:
    cfg, runs = world
    code, out, _ = _run(capsys, "--lang", "en", "report", str(runs["single"]), "-c", cfg)
    assert code == 0 and "Tasks" not in out
    code, out, err = _run(capsys, "--lang", "en", "report", str(runs["single"]), "--tasks", "-c", cfg)
    assert code == 0 and "Tasks" not in out and f"run {runs['single']} was not split over workers" in err
    code, out, _ = _run(capsys, "report", str(runs["single"]), "--format", "json", "-c", cfg)
    assert "tasks" not in json.loads(out)


def test_jobs_list_shows_a_running_distributed_sync(
    capsys: pytest.CaptureFixture[str], world: tuple[str, dict[str, int]]
) -> None:
    cfg, runs = world
    code, out, _ = _run(capsys, "jobs", "list", "--json", "-c", cfg)
    assert code == 0
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["job"] == "nightly"
    assert row["progress"] == {
        "run_id": runs["job"],
        "done": 9,
        "total": 14,
        "phase": "merge",
        "phase_done": 1,
        "phase_total": 4,
        "running": 1,
        "failed": 1,
    }
    code, out, _ = _run(capsys, "--lang", "en", "jobs", "list", "-c", cfg)
    assert code == 0 and "Distributed syncs in progress" in out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 8}
    job_line, manual_line = lines[str(runs["job"])], lines[str(runs["manual"])]
    assert [c.strip() for c in job_line.split("│")[4:9]] == ["merge", "1/4", "9/14", "1", "1"]
    assert "nightly" in job_line and "(manual)" in manual_line
    code, out, _ = _run(capsys, "--lang", "zh", "jobs", "list", "-c", cfg)
    assert "进行中的分布式同步" in out and "合并" in out and "（手动）" in out


def test_report_tasks_keeps_the_report_roles(
    capsys: pytest.CaptureFixture[str],
    world: tuple[str, dict[str, int]],
    tmp_path: Path,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crmhub.security import operators
    from crmhub.security.guard import ENV_USER

    cfg, runs = world
    closed = tmp_path / "closed.toml"  # reads open to anyone by default; closed, only registered operators read
    closed.write_text(Path(cfg).read_text(encoding="utf-8") + "[security]\nopen_reads = false\n", encoding="utf-8")
    cfg = str(closed)
    store = Store.open(store_url, var_dir=tmp_path / "var")
    try:
        with store.begin() as s:
            operators.add(s, "victor", ["viewer"], display_name="Victor", actor="fixture")
    finally:
        store.dispose()
    monkeypatch.setenv(ENV_USER, "victor")
    assert _run(capsys, "report", str(runs["job"]), "--tasks", "-c", cfg)[0] == 0
    assert _run(capsys, "jobs", "list", "-c", cfg)[0] == 0
    monkeypatch.setenv(ENV_USER, "mallory")
    code, _, err = _run(capsys, "--lang", "en", "report", str(runs["job"]), "--tasks", "-c", cfg)
    assert code == 2 and "not registered" in err and "9 of 14" not in err
