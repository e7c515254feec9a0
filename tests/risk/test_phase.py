"""The risk phase inside the real sync engine: ledger streams in, rating and alerts out, events fired after
commit, the rating written back to a CRM, and reruns that change nothing."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from crmhub.config import parse_settings
from crmhub.events import RaisedAlert
from crmhub.model import Rating, Segment
from crmhub.plugins import load
from crmhub.risk.alerts import alert_json
from crmhub.risk.runner import make_risk_phase
from crmhub.store import Store
from crmhub.store.tables import Alert, GoldenClient, RiskAssessmentRow
from crmhub.sync.engine import SyncEngine
from sync.memory_connector import SYSTEMS, MemoryCrm, MemoryPlugin  # tests/sync (a package on the test path)

from .factory import TODAY
from .memory_ledger import EVENTS, LEDGERS, EventRecorder, MemoryLedger, MemoryLedgerPlugin

U1 = "91110000600037341L"


@pytest.fixture
def registry() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(
            extra=[("memory", MemoryPlugin()), ("memory_ledger", MemoryLedgerPlugin()), ("recorder", EventRecorder())]
        )


@pytest.fixture
def world() -> tuple[MemoryLedger, MemoryCrm]:
    EVENTS.clear()
    LEDGERS.clear()
    SYSTEMS.clear()
    LEDGERS["core"] = ledger = MemoryLedger()
    SYSTEMS["crm"] = crm = MemoryCrm()
    ledger.client("L1", "北京星河科技有限公司", U1, industry="I65", established_on="2011-03-01")
    ledger.account("A1", "L1", "300000.00")
    for week in range(16):
        day = TODAY - timedelta(days=3 + 7 * week)
        ledger.tx(f"W{week}", "A1", day, "50000.00", "credit", counterparty_name="长期客户有限公司")
    ledger.tx("BIG", "A1", TODAY - timedelta(days=10), "2500000.00", "credit", counterparty_name="某投资有限公司")
    ledger.tx("OUT", "A1", TODAY - timedelta(days=60), "2500000.00", "debit", counterparty_name="某供应商")
    ledger.loan("LN1", "L1", "1000000.00", 120)
    crm.put("Z1", name="北京星河科技有限公司", uscc=U1)
    return ledger, crm


def engine(store: Store, registry: Any, write_back: dict[str, Any] | None = None) -> SyncEngine:
    """The CRM receives the internal rating only because this config lists ``risk`` (it is off by default)."""
    crm: dict[str, Any] = {"plugin": "memory", "system": "crm"}
    crm["write_back"] = {"fields": ["risk"]} if write_back is None else write_back
    settings = parse_settings(
        {
            "connectors": {"core": {"plugin": "memory_ledger", "system": "core"}, "crm": crm},
            "sync": {"source_priority": ["core", "crm"]},
            "risk": {"today": TODAY.isoformat()},
        },
        registry,
    )
    return SyncEngine(settings, registry, store, risk_phase=make_risk_phase(settings, registry))


def count(store: Store, table: Any) -> int:
    with store.begin() as s:
        return s.scalar(select(func.count()).select_from(table)) or 0


async def test_sync_rates_alerts_writes_back_and_fires_events(
    store: Store, registry: Any, world: tuple[MemoryLedger, MemoryCrm]
) -> None:
    ledger, crm = world
    dry = await engine(store, registry).run(dry_run=True)  # assessed and planned, nothing kept, nothing fired
    assert dry.totals.risk_assessed == 1 and dry.totals.alerts_raised == 2
    assert next(p.fields for p in dry.plan if p.connector == "crm")["risk"]["after"]["segment"] == "high"
    assert count(store, RiskAssessmentRow) == 0 and count(store, Alert) == 0 and EVENTS == []

    report = await engine(store, registry).run()
    assert report.status == "succeeded" and "risk" in report.phases
    assert "deliver" not in dry.phases and "deliver" in report.phases  # a dry run never reaches outside
    assert set(report.phase_cpu) == set(report.phases) and all(v >= 0 for v in report.phase_cpu.values())
    assert (report.totals.risk_assessed, report.totals.rating_changes) == (1, 0)
    assert report.totals.alerts_raised == 2  # 2.5M in (0502 credits), 2.5M out (0502 debits)
    with store.begin() as s:
        golden = s.scalars(select(GoldenClient)).one()
        assert not golden.needs_risk and golden.rating is not None
        rating = Rating(golden.rating)
        assert rating is Rating.D and golden.segment == Segment.HIGH.value
        assert golden.data["risk"]["rating"] == golden.rating
    assert crm.records["Z1"]["risk"]["rating"] == golden.rating  # written back to the CRM
    kinds = [k for k, _ in EVENTS]
    assert kinds.count("risk_changed") == 1 and kinds.count("alert_raised") == 2
    changed = dict(EVENTS)["risk_changed"]
    assert changed["before"] is None and changed["after"].rating == rating
    assert [o.code for o in changed["after"].overrides] == ["default_dpd_over_90", "default_npl_class"]
    assert changed["client"].uscc == U1 and changed["run_id"] == report.run_id
    raised = [kw["alert"] for k, kw in EVENTS if k == "alert_raised"]
    # the 2.5M credit shares its day with a 50,000 receipt: the day's credits are reported together
    assert sorted(sorted(a.transaction_ids) for a in raised) == [["BIG", "W1"], ["OUT"]]
    assert all(isinstance(a, RaisedAlert) and a.uscc == U1 and a.kind == "large_value" for a in raised)
    with store.begin() as s:  # the typed alert is exactly what `crmhub alerts list --json` shows
        assert sorted((a.as_json() for a in raised), key=lambda a: a["id"]) == [
            alert_json(row) for row in s.scalars(select(Alert).order_by(Alert.id))
        ]

    EVENTS.clear()
    again = await engine(store, registry).run()
    assert (again.totals.risk_assessed, again.totals.alerts_raised, again.totals.written_back) == (0, 0, 0)
    assert EVENTS == [] and count(store, RiskAssessmentRow) == 1 and count(store, Alert) == 2

    ledger.loan("LN1", "L1", "1000000.00", 0)  # the arrears were paid: the loan re-read shows DPD 0
    cured = await engine(store, registry).run()
    assert (cured.totals.risk_assessed, cured.totals.rating_changes) == (1, 1)
    with store.begin() as s:
        rows = list(s.scalars(select(RiskAssessmentRow).order_by(RiskAssessmentRow.id)))
        new_rating = s.scalars(select(GoldenClient.rating)).one()
    assert [r.current for r in rows] == [False, True] and rows[1].rating == new_rating != rows[0].rating
    assert crm.records["Z1"]["risk"]["rating"] == new_rating
    changed = dict(EVENTS)["risk_changed"]
    assert changed["before"].rating.value == rows[0].rating and changed["after"].overrides == []

    eng = engine(store, registry)  # a new scorecard version reaches every client, changed inputs or not
    eng.settings.risk.scorecard = eng.settings.risk.card().model_copy(update={"version": "bank-2027.1"})
    eng.risk_phase = make_risk_phase(eng.settings, registry)
    assert (await eng.run()).totals.risk_assessed == 1
    with store.begin() as s:
        versions = list(s.scalars(select(RiskAssessmentRow.scorecard_version).where(RiskAssessmentRow.current)))
    assert versions == ["bank-2027.1"]


async def test_internal_rating_is_not_written_to_a_crm_unless_configured(
    store: Store, registry: Any, world: tuple[MemoryLedger, MemoryCrm]
) -> None:
    """Issue 13 item 11: the default ``write_back.fields`` lists no rating or segment; planning honours it."""
    _, crm = world
    crm.put("Z1", uscc=None)  # the CRM lacks the USCC: the default write-back still fills that
    report = await engine(store, registry, write_back={}).run(dry_run=True)
    assert report.totals.risk_assessed == 1
    planned = [p.fields for p in report.plan if p.connector == "crm"]
    assert planned and [sorted(fields) for fields in planned] == [["uscc"]]  # no rating, no segment


async def test_a_partition_of_the_risk_step_assesses_and_reflags_only_its_ids(
    store: Store, registry: Any, world: tuple[MemoryLedger, MemoryCrm]
) -> None:
    """A run split over workers runs the step per golden-client id range (`crmhub.jobs.runs`): a new scorecard
    re-flags and assesses only the clients of the range, so partitions side by side never touch each other's
    rows."""
    from crmhub.store.unit import UnitOfWork

    eng = engine(store, registry)
    await eng.run()
    with store.begin() as s:
        (client,) = s.scalars(select(GoldenClient.id)).all()
    eng.settings.risk.scorecard = eng.settings.risk.card().model_copy(update={"version": "bank-2027.1"})
    step = make_risk_phase(eng.settings, registry)
    uow = UnitOfWork(store)
    try:
        assert step(uow, None, lambda events: None, (client + 1, None)).clients == 0
        with store.begin() as s:
            assert s.scalars(select(GoldenClient.needs_risk)).one() is False  # not in the range: not re-flagged
        assert step(uow, None, lambda events: None, (0, client)).clients == 1
    finally:
        uow.close()
    with store.begin() as s:
        assert s.scalars(select(RiskAssessmentRow.scorecard_version).where(RiskAssessmentRow.current)).all() == [
            "bank-2027.1"
        ]
