"""`LedgerConnector` against the simulator over loopback: full reads under faults, increments, resume, DPD."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from ledger_world import TODAY

from conftest import config_for, serve
from crmhub.contract import Cursor, Page, PluginContext
from crmhub.errors import AuthError
from crmhub.model import LoanClass
from crmhub.sandbox.faults import FaultProfile
from crmhub_ledger.connector import LedgerConnector

FLAKY = FaultProfile(error_rate=0.08, drop_rate=0.04, throttle_rate=0.04, latency_ms=1.0, seed=7)


async def drain(conn: LedgerConnector, stream: str, cursor: Cursor | None) -> tuple[list[Any], list[Any], Cursor]:
    records: list[Any] = []
    rejected: list[Any] = []
    async for page in conn.pull(stream, cursor):
        records += page.records
        rejected += page.rejected
        assert page.next_cursor is not None
        cursor = page.next_cursor
    assert cursor is not None
    return records, rejected, cursor


def expected(sim: Any) -> dict[str, set[str]]:
    newest_audit = sim.audits[-1].made_on.date()  # the connector counts history back from the ledger's own date
    start = (min(TODAY, newest_audit) - timedelta(days=400)).toordinal()
    return {
        "clients": {str(c) for c in sim.client_order},
        "accounts": {str(a) for a in sim.savings_order},
        "transactions": {
            f"{a.id}:{t.id}"
            for a in sim.savings.values()
            for t in a.transactions
            if t.booking_date.toordinal() >= start
        },
        "loans": {str(i) for i in sim.loan_order},
    }


async def test_full_read_returns_every_row_exactly_once_under_faults() -> None:
    with serve(FLAKY) as srv:
        want = expected(srv.app.simulator)
        conn = LedgerConnector(
            config_for(srv.url, page_size=4, retry_base_delay=0.01, retry_attempts=10), PluginContext(name="ledger")
        )
        async with conn:
            for stream in ("clients", "accounts", "transactions", "loans"):
                records, rejected, _ = await drain(conn, stream, None)
                ids = [r.source_id for r in records]
                assert len(ids) == len(set(ids)), f"{stream}: duplicates"
                assert set(ids) == want[stream], stream
                assert rejected == []
        assert conn.context.metrics.retries > 0
        assert srv.app.stats.errors + srv.app.stats.dropped + srv.app.stats.throttled > 0


async def test_client_mapping_uses_every_uscc_source() -> None:
    with serve() as srv:
        async with LedgerConnector(config_for(srv.url), PluginContext(name="ledger")) as conn:
            records, _, _ = await drain(conn, "clients", None)
    by_id = {r.source_id: r for r in records}
    assert by_id["1"].data.uscc == srv.app.simulator.clients[1].incorp_number
    assert by_id["1"].data.industry.code == "C39" and by_id["1"].data.branch == "上海分行"
    assert by_id["11"].data.uscc is None and by_id["11"].raw["_crmhub"]["uscc_source"] == "missing"
    assert by_id["12"].raw["_crmhub"]["uscc_source"] == "externalId"
    assert by_id["12"].data.review_flags and "Z99" in by_id["12"].data.review_flags[0]


async def test_second_run_returns_only_new_transactions_and_changed_rows() -> None:
    with serve() as srv:
        sim = srv.app.simulator
        async with LedgerConnector(config_for(srv.url, page_size=5), PluginContext(name="ledger")) as conn:
            cursors = {}
            for stream in ("clients", "accounts", "transactions"):
                _, _, cursors[stream] = await drain(conn, stream, None)
            body = {
                "transactionDate": TODAY.strftime("%d %B %Y"),
                "transactionAmount": "1980000",
                "paymentTypeId": 2,
                "locale": "en",
                "dateFormat": "dd MMMM yyyy",
                "accountNumber": "6222000000000099",
                "note": "某某贸易有限公司",
            }
            first = sim.savings_command(503, "deposit", body)["resourceId"]
            async with httpx.AsyncClient() as http:
                http_answer = await http.post(
                    srv.url + "/fineract-provider/api/v1/savingsaccounts/510/transactions",
                    params={"command": "withdrawal"},
                    auth=("mifos", "password"),
                    headers={"Fineract-Platform-TenantId": "default"},
                    json={**body, "transactionAmount": "1500", "paymentTypeId": 1},
                )
            second = http_answer.json()["resourceId"]
            sim.update_client(4, {"emailAddress": "finance@example.cn"})
            txs, _, cursors["transactions"] = await drain(conn, "transactions", cursors["transactions"])
            accounts, _, _ = await drain(conn, "accounts", cursors["accounts"])
            clients, _, _ = await drain(conn, "clients", cursors["clients"])
            assert sorted(r.source_id for r in txs) == sorted([f"503:{first}", f"510:{second}"])
            new = {r.source_id: r.data for r in txs}[f"503:{first}"]
            assert new.counterparty_name == "某某贸易有限公司" and new.kind == "transfer" and not new.is_cash
            assert {r.data.is_cash for r in txs if r.source_id.startswith("510:")} == {True}
            assert sorted(r.source_id for r in accounts) == ["503", "510"]
            assert [r.source_id for r in clients] == ["4"] and clients[0].data.email == "finance@example.cn"
            # The same-day re-read must not repeat anything, and a third deposit still comes through.
            again, _, cursors["transactions"] = await drain(conn, "transactions", cursors["transactions"])
            assert again == []
            third = sim.savings_command(503, "deposit", {**body, "transactionAmount": "1970000"})["resourceId"]
            later, _, _ = await drain(conn, "transactions", cursors["transactions"])
            assert [r.source_id for r in later] == [f"503:{third}"]


async def test_interrupted_full_read_resumes_without_gaps() -> None:
    with serve() as srv:
        want = expected(srv.app.simulator)["transactions"]
        async with LedgerConnector(config_for(srv.url, page_size=3), PluginContext(name="ledger")) as conn:
            seen: list[str] = []
            cursor: Cursor | None = None
            pages = conn.pull("transactions", None)
            for _ in range(7):
                page: Page = await pages.__anext__()
                seen += [r.source_id for r in page.records]
                cursor = page.next_cursor
            await pages.aclose()
            rest, _, _ = await drain(conn, "transactions", cursor)
        assert set(seen) | {r.source_id for r in rest} == want
        assert len(seen) + len(rest) == len(want)


async def test_loan_120_days_past_due_is_substandard_and_ages_with_the_clock() -> None:
    with serve() as srv:
        async with LedgerConnector(config_for(srv.url), PluginContext(name="ledger")) as conn:
            loans, _, cursor = await drain(conn, "loans", None)
            late = next(r.data for r in loans if r.data.days_past_due)
            assert late.days_past_due == 120 and late.classification is LoanClass.SUBSTANDARD
            assert late.overdue_since == TODAY - timedelta(days=120) and late.overdue.amount > 0
            assert late.client_source_id == "9"
            healthy = next(r.data for r in loans if not r.data.days_past_due)
            assert healthy.classification is LoanClass.PASS
            async with httpx.AsyncClient() as http:
                await http.post(srv.url + "/_sandbox/clock", json={"advance_days": 200})
            again, _, _ = await drain(conn, "loans", cursor)
            aged = next(r.data for r in again if r.source_id == late.source_id)
            assert aged.days_past_due == 320 and aged.classification is LoanClass.DOUBTFUL


async def test_dirty_rows_are_rejected_with_reasons_and_duplicates_dropped() -> None:
    with serve(FaultProfile(malformed_rate=0.3, duplicate_rate=0.3, seed=3)) as srv:
        async with LedgerConnector(config_for(srv.url, page_size=4), PluginContext(name="ledger")) as conn:
            clients, rejected, _ = await drain(conn, "clients", None)
            txs, tx_rejected, _ = await drain(conn, "transactions", None)
    assert rejected, "the dirty profile should corrupt some clients"
    assert all(r.reason.startswith("ledger clients row") and r.field for r in rejected)
    assert {r.source_id for r in rejected}.isdisjoint({c.source_id for c in clients})
    assert len(clients) + len(rejected) == 12
    assert tx_rejected and all(r.field == "submittedOnDate" for r in tx_rejected)
    ids = [t.source_id for t in txs]
    assert len(ids) == len(set(ids))


async def test_check_and_bad_credentials() -> None:
    with serve() as srv:
        async with LedgerConnector(config_for(srv.url), PluginContext(name="ledger")) as conn:
            result = await conn.check()
            assert result.ok and result.details["clients"] == 12
        cfg = config_for(srv.url).model_copy(update={"password": __import__("pydantic").SecretStr("nope")})
        async with LedgerConnector(cfg, PluginContext(name="ledger")) as conn:
            bad = await conn.check()
            assert not bad.ok and "rejected the credentials" in bad.message and "nope" not in bad.message
            try:
                await drain(conn, "clients", None)
            except AuthError as exc:
                assert exc.connector == "ledger"
            else:  # pragma: no cover
                raise AssertionError("expected AuthError")


async def test_reads_a_generated_world() -> None:
    from crmhub.sandbox.world import World
    from crmhub.testing import start_simulator
    from crmhub_ledger.sandbox import build

    with start_simulator(build, world=World(seed=11, clients=120)) as srv:
        sim = srv.app.simulator
        async with LedgerConnector(config_for(srv.url, history_days=3650), PluginContext(name="ledger")) as conn:
            counts = {s: len((await drain(conn, s, None))[0]) for s in ("clients", "accounts", "transactions", "loans")}
    stats = sim.stats()
    assert counts == {
        "clients": stats["clients"],
        "accounts": stats["savings_accounts"],
        "transactions": stats["transactions"],
        "loans": stats["loans"],
    }


async def test_remap_maps_stored_rows_like_a_pull_and_names_what_is_still_wrong() -> None:
    """`crmhub deadletter retry` for the ledger (w5-delivery): a stored clients/accounts/loans row is mapped again
    exactly as a pull maps it (identifiers read again for a USCC); a still-broken row raises a `RecordError` naming
    the field; a transaction line is not re-mappable (a `FatalError` that keeps the dead letter's reason)."""
    import pytest

    from crmhub.errors import FatalError, RecordError

    with serve() as srv:
        async with LedgerConnector(config_for(srv.url), PluginContext(name="ledger")) as conn:
            pulled = {
                stream: {r.source_id: r for r in (await drain(conn, stream, None))[0]}
                for stream in ("clients", "accounts", "loans")
            }
        async with LedgerConnector(config_for(srv.url), PluginContext(name="ledger")) as fresh:
            for stream, records in pulled.items():
                sample = next(iter(records.values()))
                raw = {k: v for k, v in sample.raw.items() if k != "_crmhub"}
                again = await fresh.remap(stream, raw)
                assert again.source_id == sample.source_id and again.data == sample.data, stream
            client = {k: v for k, v in pulled["clients"]["1"].raw.items() if k != "_crmhub"}
            with pytest.raises(RecordError) as bad:
                await fresh.remap("clients", {**client, "id": "one"})
            assert bad.value.field == "id" and "integer id" in str(bad.value)
            with pytest.raises(FatalError):
                await fresh.remap("transactions", {"id": 1})
