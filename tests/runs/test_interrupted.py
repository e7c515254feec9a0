"""No run stays ``running`` for ever: a sync whose process was SIGKILLed is closed by the next start.

Original break: the killed run's row said ``running`` for ever, with no report and no notification.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.runs.helpers import crmhub, crmhub_argv, registry, write_config

from crmhub.core.exit_codes import ExitCode
from crmhub.sandbox.serve import free_port_base, start_sandboxes
from crmhub.store import Store
from crmhub.store.locks import holder_id
from crmhub.store.tables import Outbox, SourceRecord, SyncRun
from crmhub.sync.recovery import recover_dead_runs

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not


def _wait_for_committed_pages(store: Store, proc: subprocess.Popen[bytes], timeout: float = 120) -> int:
    """The running run's id once at least one of its pages is committed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the sync ended before it could be killed"
        try:
            with store.begin() as s:
                run_id = s.scalar(select(SyncRun.id).where(SyncRun.status == "running"))
                if run_id is not None and s.scalar(
                    select(func.count()).select_from(SourceRecord).where(SourceRecord.last_run_id == run_id)
                ):
                    return int(run_id)
        except Exception:  # the schema is still being created by the child
            pass
        time.sleep(0.05)
    raise AssertionError("no committed page within the timeout")


def _notifications(store: Store, run_id: int) -> list[Outbox]:
    with store.begin() as s:
        return list(
            s.scalars(
                select(Outbox).where(
                    Outbox.kind == "notification", Outbox.idempotency_key.like(f"n:run:{run_id}:interrupted:%")
                )
            )
        )


def test_sigkilled_sync_is_interrupted_with_a_report_and_one_notification(tmp_path: Path) -> None:
    apps = registry().sandbox_apps
    with start_sandboxes(apps, port_base=free_port_base(apps), seed=7, clients=100) as sandboxes:
        doc = sandboxes.config()
        url = f"sqlite:///{tmp_path / 'crmhub.db'}"
        doc["store"] = {"url": url}
        doc["notify"] = {"groups": {"operators": ["ops@bank.example"]}}
        config = write_config(tmp_path / "crmhub.toml", doc)
        Store.open(url).dispose()  # the schema exists before the child starts, so the poll below is simple
        store = Store.open(url)
        try:
            proc = subprocess.Popen(
                crmhub_argv("sync", "-c", str(config), "--json"),
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            killed = _wait_for_committed_pages(store, proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            with store.begin() as s:
                assert s.get(SyncRun, killed).status == "running"  # what the break looked like

            again = crmhub("sync", "-c", str(config), "--json", cwd=tmp_path)
            assert again.returncode in (ExitCode.OK, ExitCode.PARTIAL), again.stderr[-3000:]
            assert json.loads(again.stdout)["run_id"] != killed
            with store.begin() as s:
                row = s.get(SyncRun, killed)
                assert row is not None and row.status == "interrupted" and row.finished_at is not None
                assert "died" in (row.error or "")
                committed = s.scalar(
                    select(func.count()).select_from(SourceRecord).where(SourceRecord.last_run_id == killed)
                )
                report = row.report
            assert report["status"] == "interrupted" and report["recovered"]["holder"].endswith(f":{proc.pid}")
            read = sum(st["read"] for c in report["connectors"].values() for st in c["streams"].values())
            assert read == committed and read > 0  # what its committed pages stored (the rest was re-read)
            shown = crmhub("report", str(killed), "-c", str(config), "--format", "json", cwd=tmp_path)
            assert shown.returncode == 0 and json.loads(shown.stdout)["status"] == "interrupted"

            sent = _notifications(store, killed)
            assert len(sent) == 1 and sent[0].target == "email", [(n.idempotency_key, n.state) for n in sent]
            assert "interrupted" in json.dumps(sent[0].payload, ensure_ascii=False)
            third = crmhub("sync", "-c", str(config), "--json", cwd=tmp_path)
            assert third.returncode in (ExitCode.OK, ExitCode.PARTIAL), third.stderr[-3000:]
            assert len(_notifications(store, killed)) == 1  # told once, not on every later start
        finally:
            store.dispose()


def test_dead_holders_are_found_by_the_run_lock_rules(store: Store) -> None:
    """Same host and a dead pid: interrupted at once. Another host (pid not checkable): only once no heartbeat came
    for the lease. A live holder (this process) is never touched. Runs on SQLite and PostgreSQL."""
    now = datetime.now(UTC)
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()

    def run(holder: str, age: timedelta) -> SyncRun:
        return SyncRun(
            kind="sync",
            trigger="manual",
            status="running",
            connectors=["zoho"],
            report={},
            started_at=now - age,
            heartbeat_at=now - age,
            holder=holder,
        )

    with store.begin() as s:
        rows = {
            "fresh_remote": run("elsewhere.example:4242", timedelta(0)),
            "stale_remote": run("elsewhere.example:4343", timedelta(hours=1)),
            "dead_local": run(f"{socket.gethostname()}:{dead_pid.pid}", timedelta(0)),
            "me": run(holder_id(), timedelta(hours=1)),
        }
        s.add_all(rows.values())
    assert sorted(recover_dead_runs(store)) == sorted([rows["stale_remote"].id, rows["dead_local"].id])
    with store.begin() as s:
        status = {k: s.get(SyncRun, r.id).status for k, r in rows.items()}  # type: ignore[union-attr]
        report = s.get(SyncRun, rows["dead_local"].id).report  # type: ignore[union-attr]
    assert status == {
        "fresh_remote": "running",
        "stale_remote": "interrupted",
        "dead_local": "interrupted",
        "me": "running",
    }
    assert report["status"] == "interrupted" and report["connectors"]["zoho"]["status"] == "stopped"
    assert recover_dead_runs(store) == []  # closed once
