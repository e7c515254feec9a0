"""The console benchmark's data (bench/console_data.py) stays coherent: built small here, so a change to the
store, the model, the scorecard or the audit chain that the bulk generator no longer follows fails a test instead
of silently skewing the benchmark. Also the benchmark's page discovery (bench/console_pages.py): forms, pagers
and path parameters are read the way the pages write them."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crmhub.core.report import RunReport
from crmhub.model import CorporateClient
from crmhub.model.uscc import is_valid
from crmhub.security import operators
from crmhub.security.passwords import verify_password
from crmhub.security.roles import ROLES
from crmhub.store import Store
from crmhub.store.tables import (
    Alert,
    Approval,
    AuditLog,
    DeadLetter,
    FieldLineage,
    GoldenClient,
    ReviewItem,
    RiskAssessmentRow,
    SourceRecord,
    SyncRun,
    Xref,
)
from crmhub.sync.audit import verify_chain

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import console_data  # noqa: E402 - lives in bench/, which is not a package
import console_pages  # noqa: E402

CLIENTS = 300


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path, Any]]:
    """A 300-client store made the way the benchmark makes its 100,000 (two worker processes, small batches)."""
    home = tmp_path_factory.mktemp("bench-data")
    store = Store.open(f"sqlite:///{home / 'store.db'}", var_dir=home / "var")
    result = console_data.build(store, CLIENTS, batch=70, jobs=2, log=lambda _: None)
    try:
        yield store, home / "var", result
    finally:
        store.dispose()


def test_every_client_is_a_valid_golden_record(built: tuple[Store, Path, Any]) -> None:
    store, _, result = built
    assert result.counts["golden_client"] == CLIENTS
    with store.begin() as s:
        rows = list(
            s.execute(
                select(
                    GoldenClient.id,
                    GoldenClient.uscc,
                    GoldenClient.name,
                    GoldenClient.name_key,
                    GoldenClient.data,
                    GoldenClient.rating,
                    GoldenClient.segment,
                )
            )
        )
    assert [r.id for r in rows] == list(range(1, CLIENTS + 1))
    assert len({r.uscc for r in rows}) == CLIENTS
    for r in rows:
        assert r.uscc and is_valid(r.uscc), r
        assert r.name_key
        client = CorporateClient.model_validate(r.data)  # the stored JSON is a valid golden record
        assert (client.uscc, client.name) == (r.uscc, r.name)
        assert client.risk is not None
        assert (client.risk.rating.value, client.risk.segment.value) == (r.rating, r.segment)
    assert len({r.segment for r in rows}) == 3  # low, medium and high all present: the segment filter has work


def test_lineage_sources_and_risk_per_client(built: tuple[Store, Path, Any]) -> None:
    store, _, _ = built
    with store.begin() as s:
        lineage = {
            cid: n
            for cid, n in s.execute(select(FieldLineage.client_id, func.count()).group_by(FieldLineage.client_id))
        }
        named = set(s.scalars(select(FieldLineage.client_id).where(FieldLineage.field == "name")))
        links = Counter(s.scalars(select(Xref.client_id)))
        linked = set(s.scalars(select(Xref.source_record_id)))
        records = set(s.scalars(select(SourceRecord.id)))
        current = Counter(s.scalars(select(RiskAssessmentRow.client_id).where(RiskAssessmentRow.current.is_(True))))
        mismatched = s.scalar(
            select(func.count())
            .select_from(RiskAssessmentRow)
            .join(GoldenClient, GoldenClient.id == RiskAssessmentRow.client_id)
            .where(RiskAssessmentRow.current.is_(True), RiskAssessmentRow.segment != GoldenClient.segment)
        )
        history = s.scalar(
            select(func.count()).select_from(RiskAssessmentRow).where(RiskAssessmentRow.current.is_(False))
        )
    every = set(range(1, CLIENTS + 1))
    assert set(lineage) == every and named == every
    assert 8 <= sum(lineage.values()) / CLIENTS <= 12  # ≈ 10 lineage rows per client
    assert set(links) == every and set(links.values()) <= {1, 2, 3}
    assert linked == records
    assert current == dict.fromkeys(every, 1)
    assert mismatched == 0 and history > 0


def test_work_queues_runs_and_operators(built: tuple[Store, Path, Any]) -> None:
    store, _, _ = built
    with store.begin() as s:
        for table in (Alert, DeadLetter, ReviewItem, Approval):
            assert s.scalar(select(func.count()).select_from(table)), table.__tablename__
        orphans = s.scalar(
            select(func.count()).select_from(Alert).where(Alert.client_id.not_in(select(GoldenClient.id)))
        )
        runs = list(s.scalars(select(SyncRun).order_by(SyncRun.id)))
        bench = operators.get(s, console_data.BENCH_USER)
    assert orphans == 0
    assert len(runs) == 60 and runs[0].report["totals"]["clients_created"] == CLIENTS
    for run in runs:  # what `crmhub report` and the run pages read back
        report = RunReport.model_validate(run.report)
        assert report.run_id == run.id and report.status == run.status
    assert {r.status for r in runs} == {"succeeded", "partial"}
    assert bench is not None and set(bench.roles) == set(ROLES)
    assert verify_password(console_data.PASSWORD, bench.password_hash or "")


def test_the_audit_chain_verifies(built: tuple[Store, Path, Any]) -> None:
    store, var_dir, _ = built
    with store.begin() as s:
        actions = Counter(s.scalars(select(AuditLog.action)))
        assert verify_chain(s, var_dir) == []
    assert actions["client.create"] == CLIENTS
    assert actions["client.update"] >= CLIENTS  # ≥ 2 entries per client in all: ≥ 200,000 at 100,000 clients
    assert actions["console.login"] and actions["personal_data.reveal"] and actions["approval.propose"]


def test_page_discovery_reads_forms_pagers_and_paths() -> None:
    html = """<form method="post" action="/lang"><input type="hidden" name="_csrf" value="x"></form>
    <form class="filters"><input type="search" name="q"><select name="segment"><option value="">all</option>
    <option value="low">low</option><option value="high">high</option></select>
    <input type="hidden" name="sort" value="name"><input type="date" name="since"></form>
    <table><thead><tr><th>name</th></tr></thead><tbody><tr><td>a</td></tr><tr><td>b</td></tr></tbody></table>
    <nav class="pager" aria-label="pages"><a rel="next" href="/clients?page=2">Next</a></nav>
    <a href="/clients?format=csv" download data-export="csv">CSV</a>"""
    page = console_pages.parse(html)
    assert (page.rows, page.pager, page.exports) == (2, True, ["/clients?format=csv"])
    assert page.links == ["/clients?page=2"]
    assert console_pages.filters_of(page) == [
        {"sort": "name", "q": console_pages.FRAGMENT},
        {"sort": "name", "segment": "high"},
    ]
    ids = {"client": [("a client", "42")], "run": [("full sync", "1"), ("latest run", "60")]}
    assert console_pages.fill("/clients/{id:int}", ids) == [("a client", "/clients/42")]
    assert console_pages.fill("/runs/{run_id:int}/clients/{client_id:int}", ids) == [
        ("full sync, a client", "/runs/1/clients/42"),
        ("latest run, a client", "/runs/60/clients/42"),
    ]
    assert console_pages.fill("/widgets/{id:int}", ids) is None
    assert {"/", "/login"} <= set(console_pages.discover())
