"""The connector against the simulator over loopback HTTP, with fault profiles."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from zoho_helpers import ZohoServer, api, connector_for, log_settled, pull_all, sim_of

from crmhub.contract import OutboundRecord, PluginContext
from crmhub.errors import QuotaExhaustedError
from crmhub.model import CorporateClient, Rating, RiskSummary, Segment
from crmhub.model.uscc import make
from crmhub.sandbox.faults import FaultProfile
from crmhub_zoho.config import ZohoConfig
from crmhub_zoho.connector import ZohoConnector
from crmhub_zoho.plugin import _config


class _ClockJumps(httpx.AsyncBaseTransport):
    """Moves the simulator's clock past every token's lifetime before chosen API calls (expiry mid-run)."""

    def __init__(self, sim: Any, at: tuple[int, ...]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sim = sim
        self.at = at
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "/crm/" in request.url.path:
            self.calls += 1
            if self.calls in self.at:
                self.sim.advance += 31
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_full_read_exactly_once_with_expiring_tokens_and_429s(zoho_server: ZohoServer) -> None:
    server = zoho_server(4500, faults=FaultProfile(throttle_rate=0.05, token_ttl=30.0, seed=11))
    sim = sim_of(server)
    cfg = ZohoConfig.model_validate({**_config(server.url), "base_delay": 0.02, "max_delay": 0.5})
    conn = ZohoConnector(cfg, PluginContext(name="zoho"), transport=_ClockJumps(sim, at=(5, 20)))
    async with conn:
        records, rejected, cursor, _ = await pull_all(conn, "accounts")
        metrics = conn.context.metrics
        mode = conn.last_read_mode
    ids = Counter(r.source_id for r in records)
    assert len(ids) == 4500 and max(ids.values()) == 1 and not rejected
    assert mode == "parallel"
    assert metrics.throttled >= 1 and metrics.retries >= metrics.throttled
    assert sim.oauth.refresh_calls == 3  # the first token, then one shared refresh per expiry
    assert sim.oauth.denied == 0
    assert cursor is not None and cursor["mode"] == "incremental"
    newest = max(r.modified_at for r in records)
    assert cursor["since"] == newest.isoformat()


async def test_incremental_returns_only_changed_records(zoho_server: ZohoServer) -> None:
    server = zoho_server(2500)
    async with connector_for(server) as conn:
        _, _, cursor, _ = await pull_all(conn, "accounts")
        nothing, _, same, _ = await pull_all(conn, "accounts", cursor)
        assert nothing == [] and same is not None and same["since"] == cursor["since"]  # type: ignore[index]
        sim_of(server).advance += 3600
        # the mutation's time, read before it: read after the pulls below, a loaded machine's clock had ticked past
        # the changed records' (whole-second) Modified_Time and `since` matched none of them
        since = datetime.fromisoformat(changed_time(server))
        changed = sim_of(server).mutate(25, 9)
        records, _, after, _ = await pull_all(conn, "accounts", cursor)
        assert sorted(r.source_id for r in records) == sorted(changed)
        again, _, _, _ = await pull_all(conn, "accounts", after)
        assert again == []  # the overlap window re-reads them, the boundary de-dup drops them
        by_since, _, _, _ = await pull_all(conn, "accounts", None, since=since)
        assert sorted(r.source_id for r in by_since) == sorted(changed)


def changed_time(server: Any) -> str:
    return str(sim_of(server).now_text())


async def test_malformed_records_are_rejected_with_the_field(zoho_server: ZohoServer) -> None:
    server = zoho_server(600, faults=FaultProfile(malformed_rate=0.05, seed=5))
    sim = sim_of(server)
    async with connector_for(server) as conn:
        records, rejected, _, _ = await pull_all(conn, "accounts")
    bad = {rid for rid in sim.malformed if rid in sim.modules["Accounts"].records}
    assert {r.source_id for r in rejected} == bad
    assert len(records) + len(rejected) == 600
    fields = {r.field for r in rejected}
    assert fields <= {"Annual_Revenue", "Account_Name", "Employees"} and "Annual_Revenue" in fields
    reason = next(r.reason for r in rejected if r.field == "Annual_Revenue")
    assert reason.startswith("Annual_Revenue:") and "expected a number" in reason


async def test_resume_after_a_crash_loses_nothing(zoho_server: ZohoServer) -> None:
    server = zoho_server(4100)
    seen: set[str] = set()
    async with connector_for(server) as conn:
        cursor = None
        pages = 0
        async for page in conn.pull("accounts", None):
            seen.update(r.source_id for r in page.records)
            cursor = page.next_cursor
            pages += 1
            if pages == 13:
                break  # the process dies here; the engine kept page 13's cursor
        assert cursor is not None and cursor["mode"] == "scan"
        rest, _, final, _ = await pull_all(conn, "accounts", cursor)
    seen.update(r.source_id for r in rest)
    assert len(seen) == 4100
    assert final is not None and final["mode"] == "incremental"


async def test_key_scans_restart_past_the_coql_offset_ceiling(zoho_server: ZohoServer) -> None:
    server = zoho_server(9100, contacts=0)
    async with connector_for(server, coql_offset_limit=4000) as conn:
        records, _, _, _ = await pull_all(conn, "accounts")
        assert conn.last_read_mode == "parallel"
    ids = Counter(r.source_id for r in records)
    assert len(ids) == 9100 and max(ids.values()) == 1
    scans = [e["query"] for e in sim_of(server).log if e["path"].endswith("/coql")]
    assert len(scans) >= 5


async def test_sequential_chain_and_contacts(zoho_server: ZohoServer) -> None:
    server = zoho_server(2300)
    async with connector_for(server, parallel_read="sequential") as conn:
        records, _, _, _ = await pull_all(conn, "accounts")
        assert conn.last_read_mode == "sequential"
        contacts, rejected, _, _ = await pull_all(conn, "contacts")
    assert len({r.source_id for r in records}) == 2300
    accounts = {r.source_id for r in records}
    assert contacts and not rejected
    assert all(c.data.client_source_id in accounts for c in contacts)
    assert all(c.data.name and c.modified_at is not None for c in contacts)


async def test_deleted_stream(zoho_server: ZohoServer) -> None:
    server = zoho_server(10)
    c = api(server)
    ids = [r["id"] for r in c.get("/crm/v8/Accounts", params={"fields": "Account_Name"}).json()["data"][:3]]
    c.delete("/crm/v8/Accounts", params={"ids": ",".join(ids)})
    async with connector_for(server) as conn:
        records, _, cursor, _ = await pull_all(conn, "deleted")
        assert sorted(r.source_id for r in records) == sorted(ids)
        assert all(r.deleted and r.deletes_stream == "accounts" and r.data is None for r in records)
        again, _, _, _ = await pull_all(conn, "deleted", cursor)
        assert again == []


async def test_bulk_read_first_load_and_resume(zoho_server: ZohoServer) -> None:
    server = zoho_server(900)
    async with connector_for(server, bulk_threshold=500, page_size=200) as conn:
        records, rejected, cursor, _ = await pull_all(conn, "accounts")
        assert conn.last_read_mode == "bulk"
        assert len({r.source_id for r in records}) == 900 and not rejected
        assert all(
            r.data.relationship_manager is not None and r.data.relationship_manager.email for r in records
        )  # owner ids resolved through users?type=AllUsers
        assert cursor is not None and cursor["mode"] == "incremental"
        partial = None
        async for page in conn.pull("accounts", None):
            partial = page.next_cursor
            break
        assert partial is not None and partial["mode"] == "bulk" and partial["row"] == 200
        rest, _, _, _ = await pull_all(conn, "accounts", partial)
    assert len(rest) == 700


async def test_quota_exhaustion_stops_with_a_resumable_cursor(zoho_server: ZohoServer) -> None:
    server = zoho_server(3000, settings={"daily_credits": 8})
    got: list[str] = []
    cursor = None
    async with connector_for(server, daily_credits=8, parallel_read="sequential") as conn:
        with pytest.raises(QuotaExhaustedError):
            async for page in conn.pull("accounts", None):
                got += [r.source_id for r in page.records]
                cursor = page.next_cursor
    assert 0 < len(got) < 3000
    assert cursor is not None and cursor["mode"] == "scan"


def _client(i: int, name: str | None = None) -> OutboundRecord:
    uscc = make("91310115", f"MA{i:06d}")
    risk = RiskSummary(
        rating=Rating.BBB, score=Decimal(610), segment=Segment.MEDIUM, assessed_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    data = CorporateClient(name=name or f"测试客户{i}有限公司", uscc=uscc, risk=risk)
    return OutboundRecord(key=f"k{i}", data=data, fields=("name", "uscc", "risk"))


async def test_push_250_makes_three_upserts_and_reports_rejections(zoho_server: ZohoServer) -> None:
    server = zoho_server(5)
    records = [_client(i) for i in range(250)]
    records[7] = _client(7, name="名" * 201)  # longer than Account_Name allows
    async with connector_for(server) as conn:
        results = await conn.push("accounts", records)
    assert [r.key for r in results] == [r.key for r in records]
    log = log_settled(server, lambda entries: sum(e["path"].endswith("/upsert") for e in entries) >= 3)
    upserts = [e for e in log if e["path"].endswith("/upsert")]
    assert len(upserts) == 3
    bad = results[7]
    assert bad.status == "error" and "INVALID_DATA" in (bad.reason or "") and "Account_Name" in (bad.reason or "")
    assert "at most 200 characters" in (bad.reason or "")
    assert bad.field == "name"
    ok = [r for i, r in enumerate(results) if i != 7]
    assert all(r.status == "ok" and r.action == "insert" and r.source_id and r.modified_at for r in ok)
    stored = sim_of(server).modules["Accounts"].records[ok[0].source_id]
    assert stored["Risk_Rating"] == "BBB" and stored["Risk_Segment"] == "中风险"


class _TimeoutOnFirstUpsert(httpx.AsyncBaseTransport):
    """Delivers the first upsert to the server, then acts as if the answer never came back (a read timeout)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.fired = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/upsert") and not self.fired:
            self.fired = True
            await response.aread()
            raise httpx.ReadTimeout("simulated timeout after the server applied the write", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_repush_after_timeout_creates_no_duplicate(zoho_server: ZohoServer) -> None:
    server = zoho_server(2)
    cfg = ZohoConfig.model_validate({**_config(server.url), "base_delay": 0.02})
    conn = ZohoConnector(cfg, PluginContext(name="zoho"), transport=_TimeoutOnFirstUpsert())
    records = [_client(i) for i in range(5)]
    async with conn:
        results = await conn.push("accounts", records)
        assert conn.context.metrics.retries >= 1
    assert all(r.status == "ok" for r in results)
    assert [r.action for r in results] == ["update"] * 5  # the retry found the first attempt's records
    store = sim_of(server).modules["Accounts"]
    for rec in records:
        assert len(store.find_duplicates("USCC", rec.data.uscc)) == 1  # type: ignore[union-attr]
    assert len(store) == 2 + 5


async def test_bulk_job_failure_is_retried_once_with_a_new_job(zoho_server: ZohoServer) -> None:
    server = zoho_server(300, contacts=0)
    sim_of(server).bulk.fail_next = 1
    async with connector_for(server, bulk_threshold=100) as conn:
        records, _, _, _ = await pull_all(conn, "accounts")
        assert conn.last_read_mode == "bulk"
    assert len({r.source_id for r in records}) == 300
    states = [j.state for j in sim_of(server).bulk.jobs.values()]
    assert states == ["FAILURE", "COMPLETED"]
