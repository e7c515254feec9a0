"""The sync engine's ``after_run`` hook: awaited once per stored run with its report, never for a dry run, and a
failing hook never fails the run."""

from __future__ import annotations

import logging

import pytest

from crmhub.config import parse_settings
from crmhub.core.report import RunReport
from crmhub.plugins import Registry
from crmhub.store import Store
from crmhub.sync.engine import SyncEngine
from sync.memory_connector import SYSTEMS, MemoryCrm

from .helpers import U1


def engine(store: Store, registry: Registry, hook: object) -> SyncEngine:
    SYSTEMS.clear()
    SYSTEMS["a"] = MemoryCrm()
    SYSTEMS["a"].put("Z1", name="北京星河科技有限公司", uscc=U1)
    cfg = parse_settings(
        {"connectors": {"crm": {"plugin": "memory", "system": "a", "write_back": {"enabled": False}}}}, registry
    )
    return SyncEngine(cfg, registry, store, after_run=hook)  # type: ignore[arg-type]


async def test_after_run_sees_the_stored_report_and_skips_dry_runs(store: Store, registry: Registry) -> None:
    """The hook gets the finished report of a real run (its status already stored) and is not called for dry runs."""
    seen: list[RunReport] = []

    async def hook(report: RunReport) -> None:
        from crmhub.store.tables import SyncRun

        with store.begin() as s:
            row = s.get(SyncRun, report.run_id)
            assert row is not None and row.status == report.status == "succeeded"
        seen.append(report)

    e = engine(store, registry, hook)
    await e.run(dry_run=True)
    assert seen == []
    report = await e.run()
    assert [r.run_id for r in seen] == [report.run_id] and seen[0].totals.clients_created == 1


async def test_a_failing_hook_is_logged_not_raised(
    store: Store, registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in the hook is logged; the run still succeeds."""

    async def hook(report: RunReport) -> None:
        raise RuntimeError("smtp on fire")

    with caplog.at_level(logging.ERROR, logger="crmhub.sync"):
        report = await engine(store, registry, hook).run()
    assert report.status == "succeeded"
    assert any("after-run hook failed" in r.getMessage() for r in caplog.records)
