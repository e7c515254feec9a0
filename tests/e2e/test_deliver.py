"""Write-back off the critical path, against the real simulators: a sync leaves a target's write-backs queued
(with the count and what sends them in its report), `crmhub deliver` drains them, and the next sync finds the CRM
already holding what was written (nothing is sent twice)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import tomli_w
from sqlalchemy import func, select

from crmhub import plugins
from crmhub.cli import main
from crmhub.reporting import render_report
from crmhub.sandbox.serve import SandboxSet
from crmhub.store import Store
from crmhub.store.locks import LockSet
from crmhub.store.tables import AuditLog, Outbox
from crmhub.sync.deliverer import deliver_lock, queued
from crmhub.sync.engine import SyncEngine

from .conftest import sandbox_settings

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not


def _config(sandbox: SandboxSet, store_url: str, path: Path) -> Path:
    doc = sandbox.config()
    doc["store"] = {"url": store_url}
    doc["connectors"]["fxiaoke"]["write_back"] = {"fields": ["uscc"], "inline_seconds": 0}
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def _states(store: Store, target: str) -> dict[str, int]:
    with store.begin() as s:
        return dict(
            s.execute(
                select(Outbox.state, func.count())
                .where(  # type: ignore[arg-type]
                    Outbox.kind == "write_back", Outbox.target == target
                )
                .group_by(Outbox.state)
            ).all()
        )


@pytest.mark.parametrize("sandbox", [60], indirect=True)
async def test_sync_queues_and_deliver_drains(
    sandbox: SandboxSet,
    registry: plugins.Registry,
    store: Store,
    store_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = sandbox_settings(sandbox, registry, store_url)
    settings.connectors["fxiaoke"].write_back.inline_seconds = 0
    report = await SyncEngine(settings, registry, store).run()
    fx = report.connectors["fxiaoke"]
    assert report.status == "succeeded" and fx.written_back == 0
    assert fx.write_queued > 0 and fx.write_queued == queued(store, "fxiaoke") == report.totals.write_queued
    assert report.connectors["zoho"].written_back > 0 and report.connectors["zoho"].write_queued == 0
    text = "\n".join(str(part) for part in render_report(report, "en").renderables)
    assert "crmhub deliver" in text

    cfg = _config(sandbox, store_url, tmp_path / "crmhub.toml")
    held = LockSet(store, [deliver_lock("fxiaoke")])  # another deliverer is at work: this one leaves it alone
    held.holder = "deliver-host:4242"  # a process elsewhere (this one's own locks are re-entrant)
    held.acquire()
    try:
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["deliver", "-c", str(cfg), "--connector", "fxiaoke", "--json"]) == 0
        [skipped] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert skipped["confirmed"] == 0 and skipped["left"] == fx.write_queued and "another" in skipped["skipped"]
    finally:
        held.release()

    assert await asyncio.to_thread(main, ["deliver", "-c", str(cfg), "--connector", "fxiaoke", "--json"]) == 0
    [done] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert done["confirmed"] == fx.write_queued and done["left"] == 0 and done["failed"] == 0
    assert _states(store, "fxiaoke") == {"confirmed": fx.write_queued}
    with store.begin() as s:  # who sent what: one audit entry for the drain, none for the skipped attempt
        entries = list(s.scalars(select(AuditLog).where(AuditLog.action == "writeback.deliver")))
    assert len(entries) == 1 and entries[0].entity_id == "fxiaoke"
    assert entries[0].details["targets"]["fxiaoke"]["confirmed"] == fx.write_queued

    again = await SyncEngine(settings, registry, store).run()  # the CRM holds the values: nothing to plan or send
    assert again.connectors["fxiaoke"].write_queued == 0 and again.totals.planned_writes == 0
    assert _states(store, "fxiaoke") == {"confirmed": fx.write_queued}
    assert await asyncio.to_thread(main, ["--lang", "zh", "deliver", "-c", str(cfg)]) == 0
    assert "回写投递" in capsys.readouterr().out
