"""Loans re-evaluated every run at the cost of the list: details only for new, changed, overdue or audited loans.

The reference is what the connector produced before (a detail read of every loan, every run): after every run, the
facilities a store would hold (the last emitted record per loan) must equal it — on the same day, after loans slip,
after the simulator's clock moves on, and when the USCC a facility carries changes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from conftest import config_for
from crmhub.contract import Cursor, PluginContext
from crmhub.sandbox.runner import ThreadedServer
from crmhub.sandbox.world import World
from crmhub.testing import start_simulator
from crmhub_ledger.connector import LedgerConnector
from crmhub_ledger.loan_state import EVERY_RUN, NEVER, LoanState, listed_overdue, recheck_day, setup_digest
from crmhub_ledger.sandbox import build

pytestmark = pytest.mark.slow  # whole syncs / CLI subprocesses: .ci/run runs it, the README's fast set does not

BASE = "https://ledger.test/fineract-provider/api/v1"
SETUP = setup_digest({})


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    world = World(seed=5, clients=400)
    with start_simulator(build, world=world, settings={"detail": "loans"}) as srv:
        yield srv


def connector(url: str, today: date | None = None, page_size: int = 200) -> LedgerConnector:
    clock = (lambda: datetime.combine(today, datetime.min.time(), UTC)) if today else (lambda: datetime.now(UTC))
    return LedgerConnector(
        config_for(url, retry_base_delay=0.01, page_size=page_size), PluginContext(name="ledger", clock=clock)
    )


async def run(conn: LedgerConnector, cursor: Cursor | None, store: dict[str, Any]) -> Cursor:
    """One loans pull; emitted facilities replace the stored ones (what ingest does)."""
    async for page in conn.pull("loans", cursor):
        assert not page.rejected
        for rec in page.records:
            store[rec.source_id] = rec.data
        cursor = page.next_cursor
    assert cursor is not None
    return cursor


async def reference(conn: LedgerConnector, ids: list[int]) -> dict[str, Any]:
    """Every loan read in detail and mapped, as the connector did on every run before."""
    records, rejected = conn.map_loans(await conn.gather_ordered(ids, conn.fetch_loan))
    assert not rejected
    return {r.source_id: r.data for r in records}


def detail_reads(srv: ThreadedServer, since: int) -> int:
    return sum(
        1
        for r in list(srv.app.simulator.requests)[since:]
        if r["path"].rsplit("/", 1)[-1].isdigit() and "/loans/" in r["path"]
    )


async def test_facilities_match_a_full_detail_read_on_every_run_and_day(server: ThreadedServer) -> None:
    sim = server.app.simulator
    ids = list(sim.loan_order)
    overdue = sum(1 for i in ids if sim.loans[i].past_due_days(sim.today))
    assert len(ids) > 50 and 0 < overdue < len(ids) // 2
    store: dict[str, Any] = {}
    async with connector(server.url, sim.today) as conn:
        cursor = await run(conn, None, store)
        assert store == await reference(conn, ids)

        before = len(sim.requests)
        cursor = await run(conn, cursor, store)  # same day, nothing changed: no detail at all (DPD counts days)
        assert detail_reads(server, before) == 0
        assert store == await reference(conn, ids)

        rng = random.Random(1)
        slipped = [c for c in (sim._slip_loan(rng) for _ in range(6)) if c]
        before = len(sim.requests)
        cursor = await run(conn, cursor, store)  # slipped loans: their list items changed, read in detail
        assert slipped and 0 < detail_reads(server, before) <= len(slipped)
        assert store == await reference(conn, ids)

    for days in (1, 31, 200):  # later days (the simulator's injectable clock): DPD ages, payments fall due
        sim.advance(days)
        still_overdue = sum(1 for i in ids if sim.loans[i].past_due_days(sim.today))
        async with connector(server.url, sim.today) as conn:
            before = len(sim.requests)
            cursor = await run(conn, cursor, store)
            assert detail_reads(server, before) >= still_overdue  # the first run of a day reads every overdue loan
            assert store == await reference(conn, ids), days
    assert cursor["phase"] == "done" and len(cursor["state"]) < 40 * len(ids)


async def test_a_changed_uscc_or_a_crash_reads_the_details_again(server: ThreadedServer) -> None:
    sim = server.app.simulator
    ids = list(sim.loan_order)
    store: dict[str, Any] = {}
    async with connector(server.url, sim.today) as conn:
        async for _ in conn.pull("clients", None):  # the USCCs known to this run go onto the facilities
            pass
        cursor = await run(conn, None, store)
        assert any(f.client_uscc for f in store.values())
    async with connector(server.url, sim.today, page_size=25) as conn:  # no clients read: facilities lose the USCC
        cursor = await run(conn, cursor, store)
        assert store == await reference(conn, ids) and not any(f.client_uscc for f in store.values())
        pages = conn.pull("loans", cursor)
        first = await anext(pages)
        await pages.aclose()  # killed after the first page: the resumed scan knows nothing, reads every detail
        assert first.next_cursor and first.next_cursor["phase"] == "full" and "state" not in first.next_cursor
        before = len(sim.requests)
        for rec in first.records:
            store[rec.source_id] = rec.data
        cursor = await run(conn, first.next_cursor, store)
        assert detail_reads(server, before) == len(ids) - conn.config.page_size
        assert store == await reference(conn, ids)
        before = len(sim.requests)
        cursor = await run(conn, cursor, store)  # the loans of the lost first page are unknown once more
        assert detail_reads(server, before) >= conn.config.page_size
        assert store == await reference(conn, ids)


def test_the_simulator_lists_loans_like_fineract() -> None:
    """``GET /loans`` items are ``LoanAccountData`` with status, timeline and summary (``overdueSinceDate`` from
    the arrears-ageing columns), without ``delinquent`` / ``delinquencyRange`` (single read only)."""
    world = World(seed=5, clients=200)
    with start_simulator(build, world=world, settings={"detail": "loans"}) as srv:
        auth = ("mifos", "password")
        headers = {"Fineract-Platform-TenantId": "default"}
        base = srv.url + "/fineract-provider/api/v1"
        listed = httpx.get(base + "/loans", params={"limit": 500}, auth=auth, headers=headers).json()["pageItems"]
        for item in listed:
            assert {"id", "clientId", "status", "summary", "timeline", "principal", "currency"} <= set(item)
            assert not {"delinquent", "delinquencyRange", "repaymentSchedule", "transactions"} & set(item)
            one = httpx.get(
                f"{base}/loans/{item['id']}", params={"associations": "repaymentSchedule"}, auth=auth, headers=headers
            ).json()
            assert "delinquent" in one
            assert {
                k: v for k, v in one.items() if k not in ("delinquent", "delinquencyRange", "repaymentSchedule")
            } == item
            assert listed_overdue(item) == bool(one["delinquent"]["pastDueDays"])


# --- the state and its decisions ---------------------------------------------------------------------------


def test_state_round_trips_and_refuses_what_it_cannot_trust() -> None:
    state = LoanState(SETUP)
    for lid in (5, 9, 700, 2**40):
        state.add(lid, lid.to_bytes(8, "little"), lid % 7)
    state.add(7, b"\x07" * 8, EVERY_RUN)  # out of order (offset paging under inserts): still sorted
    state.add(9, b"\x00" * 8, 3)  # read twice: the first entry stays
    back = LoanState.decode(state.encode(), SETUP)
    assert back is not None and list(back.ids) == [5, 7, 9, 700, 2**40]
    assert back.get(9) == ((9).to_bytes(8, "little"), 2) and back.get(7) == (b"\x07" * 8, EVERY_RUN)
    assert back.get(8) is None
    assert LoanState.decode(state.encode(), setup_digest({"关注": "special_mention"})) is None
    assert LoanState.decode("not base64!", SETUP) is None and LoanState.decode(None, SETUP) is None
    assert LoanState.decode(LoanState(SETUP).encode(), SETUP) is not None


def test_recheck_day_and_listed_overdue() -> None:
    performing = {
        "summary": {"totalOverdue": 0},
        "inArrears": False,
        "delinquent": {"pastDueDays": 0, "nextPaymentDueDate": [2026, 12, 10]},
    }
    assert not listed_overdue(performing) and recheck_day(performing) == date(2026, 12, 10).toordinal()
    assert recheck_day({**performing, "delinquent": {"pastDueDays": 0}}) == NEVER
    assert recheck_day({**performing, "delinquent": {"pastDueDays": 3}}) == EVERY_RUN
    assert recheck_day({**performing, "summary": {"totalOverdue": 10, "overdueSinceDate": [2026, 1, 1]}}) == EVERY_RUN
    assert listed_overdue({"id": 1}) and listed_overdue({"summary": {"totalOverdue": 0}, "inArrears": True})


# --- respx: what the simulator does not do -------------------------------------------------------------------


def _loan(
    lid: int,
    *,
    outstanding: int = 1000,
    overdue: int = 0,
    dpd: int = 0,
    next_due: list[int] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    listed: dict[str, Any] = {
        "id": lid,
        "clientId": 1,
        "status": {"id": 300, "code": "loanStatusType.active"},
        "currency": {"code": "CNY"},
        "principal": 5000,
        "loanProductName": "WC",
        "timeline": {"actualDisbursementDate": [2025, 1, 1], "expectedMaturityDate": [2027, 1, 1]},
        "inArrears": bool(overdue),
        "summary": {
            "principalOutstanding": outstanding,
            "totalOverdue": overdue,
            **({"overdueSinceDate": [2026, 9, 1]} if overdue else {}),
        },
    }
    detail = {**listed, "delinquent": {"pastDueDays": dpd, **({"nextPaymentDueDate": next_due} if next_due else {})}}
    return listed, detail


class Ledger:
    """A respx ledger with loans and an audit trail; counts detail reads."""

    def __init__(
        self,
        loans: list[tuple[dict[str, Any], dict[str, Any]]],
        audit_at: str = "2026-10-15 09:00:00",
    ) -> None:
        self.loans = {d["id"]: (li, d) for li, d in loans}
        self.audit_rows: list[dict[str, Any]] = []
        self.audit_at = audit_at
        self.reads: list[int] = []
        respx.get(f"{BASE}/loans").mock(side_effect=self._list)
        respx.get(url__regex=rf"{BASE}/loans/\d+").mock(side_effect=self._one)
        respx.get(f"{BASE}/audits").mock(side_effect=self._audits)

    def _list(self, request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        items = [li for li, _ in sorted(self.loans.values(), key=lambda p: p[0]["id"])]
        return httpx.Response(
            200, json={"totalFilteredRecords": len(items), "pageItems": items[offset : offset + limit]}
        )

    def _one(self, request: httpx.Request) -> httpx.Response:
        lid = int(request.url.path.rsplit("/", 1)[-1])
        self.reads.append(lid)
        return httpx.Response(200, json=self.loans[lid][1])

    def _audits(self, request: httpx.Request) -> httpx.Response:
        newest = {
            "id": 10 + len(self.audit_rows),
            "madeOnDate": [int(x) for x in self.audit_at.replace("-", " ").replace(":", " ").split()],
        }
        if request.url.params.get("limit") == "1":
            return httpx.Response(200, json={"totalFilteredRecords": 1, "pageItems": [newest]})
        return httpx.Response(200, json={"totalFilteredRecords": len(self.audit_rows), "pageItems": self.audit_rows})


def at(day: date) -> LedgerConnector:
    cfg = config_for("https://ledger.test", retry_base_delay=0.01, page_size=2)
    return LedgerConnector(
        cfg, PluginContext(name="ledger", clock=lambda: datetime.combine(day, datetime.min.time(), UTC))
    )


async def pull(conn: LedgerConnector, cursor: Cursor | None) -> tuple[list[str], Cursor]:
    ids: list[str] = []
    async with conn:
        async for page in conn.pull("loans", cursor):
            ids += [r.source_id for r in page.records]
            cursor = page.next_cursor
    assert cursor is not None
    return ids, cursor


@respx.mock
async def test_only_loans_that_may_have_changed_are_read_in_detail() -> None:
    day = date(2026, 10, 15)
    ledger = Ledger(
        [
            _loan(1, next_due=[2026, 11, 1]),
            _loan(2, overdue=50, dpd=45),
            _loan(3, next_due=[2026, 10, 20]),
            _loan(4),
            _loan(5, next_due=[2026, 12, 1]),
        ]
    )
    ids, cursor = await pull(at(day), None)
    assert ids == ["1", "2", "3", "4", "5"] and ledger.reads == [1, 2, 3, 4, 5]

    ledger.reads.clear()
    ids, cursor = await pull(at(day), cursor)
    assert ids == [] and ledger.reads == []  # the same day: even the overdue loan's DPD has not moved

    ledger.reads.clear()
    ledger.loans[4] = _loan(4, outstanding=900)  # a repayment: the list item changed
    ledger.loans[6] = _loan(6)  # a new loan
    ledger.audit_rows = [{"id": 11, "entityName": "LOAN", "loanId": 5, "resourceId": 5, "url": "/loans/5"}]
    ids, cursor = await pull(at(day + timedelta(days=10)), cursor)  # the ledger's date stays at its newest audit
    assert sorted(ledger.reads) == [2, 4, 5, 6]  # overdue on a new day, changed, audited, new

    ledger.reads.clear()
    ledger.audit_rows = []
    ledger.audit_at = "2026-10-21 08:00:00"  # the ledger's date moved past loan 3's next due date
    ids, cursor = await pull(at(date(2026, 10, 21)), cursor)
    assert sorted(ledger.reads) == [2, 3]

    ledger.reads.clear()
    ledger.loans[1][0]["summary"]["principalOutstanding"] = 1  # a rejected detail stays unknown: read next run too
    ledger.loans[1][1].pop("principal")
    for _ in range(2):
        conn = at(date(2026, 10, 21))
        async with conn:
            pages = [p async for p in conn.pull("loans", cursor)]
        assert [r.source_id for p in pages for r in p.rejected] == ["1"]
        cursor = pages[-1].next_cursor


@respx.mock
async def test_a_new_classification_setting_reads_every_detail_again() -> None:
    ledger = Ledger([_loan(1), _loan(2)])
    _, cursor = await pull(at(date(2026, 10, 15)), None)
    ledger.reads.clear()
    cfg = config_for("https://ledger.test", retry_base_delay=0.01, classification_names={"watch": "special_mention"})
    conn = LedgerConnector(cfg, PluginContext(name="ledger"))
    await pull(conn, cursor)
    assert ledger.reads == [1, 2]
