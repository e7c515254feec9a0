"""`crmhub scheduler run` as a real process against the real simulators: SIGTERM in the middle of a scheduled
sync stops it between pages, records it as interrupted, and a rerun ends exactly where an uninterrupted run
ends — same golden clients (no duplicates), same records, same write-backs."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crmhub.cli import main
from crmhub.config import load_settings
from crmhub.jobs import state
from crmhub.jobs.schedule import Schedule
from crmhub.store import Store
from crmhub.store.tables import LedgerTransaction, RunLock, SyncRun

from .sandbox import JOB, count, crmhub, real_registry, sandboxes, settle, summary, wait_for, write_config

pytestmark = pytest.mark.slow


def test_sigterm_mid_sync_loses_nothing(
    tmp_path: Path, baseline: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    """The scheduler catches up last night's missed tick at start; SIGTERM during its ingest; rerun; compare."""
    registry = real_registry()
    url = f"sqlite:///{tmp_path / 's.db'}"
    with sandboxes(registry, latency_ms=25.0) as sb:
        cfg = write_config(tmp_path / "c.toml", sb, url, JOB)
        store = Store.open(url)
        latest = Schedule.of(load_settings(cfg, registry).jobs["nightly"]).latest_at_or_before(datetime.now(UTC))
        state.claim_tick(store, "nightly", latest - timedelta(days=1))  # the scheduler was down last night
        proc = crmhub("scheduler", "run", "-c", str(cfg), cwd=tmp_path)
        try:
            wait_for(lambda: count(store, LedgerTransaction) > 0, 60, "the first ledger pages")
            proc.send_signal(signal.SIGTERM)
            code, out, err = settle(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        events = [line["event"] for line in lines if line["logger"] == "crmhub.jobs"]
        assert events[:3] == ["job_catch_up", "scheduler_started", "job_started"]
        assert events[-3:] == ["scheduler_stopping", "job_finished", "scheduler_stopped"]
        (finished,) = [line for line in lines if line["event"] == "job_finished"]
        assert finished["status"] == "interrupted" and finished["job"] == "nightly" and finished["run_id"]
        assert "scheduler is stopping (SIGTERM)" in finished["error"] and finished["duration_s"] > 0
        with store.begin() as s:
            run = s.get(SyncRun, finished["run_id"])
            assert run is not None and (run.status, run.trigger, run.job) == ("interrupted", "scheduler", "nightly")
            assert list(s.scalars(select(RunLock))) == []
        partial = count(store, LedgerTransaction)
        assert 0 < partial < baseline["transactions"]  # type: ignore[operator]
        assert state.load(store)["nightly"].last_status == "interrupted"

        assert main(["jobs", "run", "nightly", "-c", str(cfg), "--json"]) == 0
        rerun = json.loads(capsys.readouterr().out)
        assert rerun["status"] == "succeeded" and rerun["trigger"] == "manual"
        assert summary(store) == baseline
        store.dispose()
