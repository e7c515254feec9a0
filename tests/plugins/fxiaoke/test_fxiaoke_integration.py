"""The connector against the simulator over loopback: volume, faults, incremental, deletions, write-back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crmhub.contract import OutboundRecord, PluginContext
from crmhub.model import CorporateClient, Industry, Rating, RiskSummary, Segment
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.runner import ThreadedServer
from crmhub_fxiaoke import FxiaokeConfig, FxiaokeConnector
from crmhub_fxiaoke.simulator import default_settings

USCC_NEW = "91310000631696382C"


async def read_all(
    conn: FxiaokeConnector,
    stream: str,
    cursor: Any = None,
    since: datetime | None = None,
) -> tuple[list[Any], list[Any], Any]:
    records, rejected = [], []
    async for page in conn.pull(stream, cursor, since=since):
        records += page.records
        rejected += page.rejected
        cursor = page.next_cursor
    return records, rejected, cursor


@pytest.mark.slow
async def test_12000_accounts_exactly_once_through_expiring_tokens_and_throttling(
    serve: Callable[..., ThreadedServer], connect: Callable[..., FxiaokeConnector]
) -> None:
    faults = FaultProfile(throttle_rate=0.04, busy_rate=0.02, token_ttl=1.5, malformed_rate=0.01, seed=5)
    # both windows scaled 10x on both sides: 40 calls / 0.2 s per path, 10 token calls / 6 s
    server = serve(generate=12_000, faults=faults, calls_per_window=40, token_window_seconds=6.0)
    sim = server.app.simulator
    async with connect(server.url, calls_per_window=40, token_window_seconds=6.0) as conn:
        records, rejected, cursor = await read_all(conn, "accounts")
        metrics = conn.context.metrics
        rejections = conn.client.token_rejections
    ids = [r.source_id for r in records] + [r.source_id for r in rejected]
    counts = Counter(ids)
    assert len(counts) == len(sim.tables["AccountObj"]) == 12_000 and max(counts.values()) == 1
    assert 60 <= len(rejected) <= 180 and all(r.field in ("uscc__c", "name") for r in rejected)
    assert server.app.stats.throttled > 0 and metrics.throttled >= server.app.stats.throttled
    assert rejections >= 1 and sim.tokens.issued >= 2  # tokens died mid-run and were renewed
    own_throttles = sim.log.codes["/cgi/crm/v2/data/query"].get(30004, 0)
    assert own_throttles == 0  # pacing kept under the simulator's own 40 calls / window
    assert cursor["mark"] == max(r["last_modified_time"] for r in sim.tables["AccountObj"].records.values())
    offsets = {
        e["body"]["data"]["search_query_info"]["offset"] for e in sim.log.entries if e["path"].endswith("/data/query")
    }
    assert offsets == {0}


async def test_since_and_cursor_return_only_later_changes(
    serve: Callable[..., ThreadedServer], connect: Callable[..., FxiaokeConnector]
) -> None:
    server = serve(generate=800)
    sim = server.app.simulator
    async with connect(server.url) as conn:
        first, _, cursor = await read_all(conn, "accounts")
        assert len(first) + 0 == 800
        before = datetime.fromtimestamp(sim.clock.now(), UTC)
        async with httpx.AsyncClient() as admin:
            answer = await admin.post(server.url + "/_sandbox/mutate", json={"count": 9, "seed": 1})
        changed = set(answer.json()["ids"])
        since, _, _ = await read_all(conn, "accounts", since=before)
        assert {r.source_id for r in since} == changed
        incremental, _, cursor2 = await read_all(conn, "accounts", cursor)
        got = {r.source_id for r in incremental}
        assert changed <= got
        window_lo = cursor["mark"] - conn.config.overlap_ms
        extra = got - changed  # only boundary re-reads inside the overlap
        assert all(sim.tables["AccountObj"].records[i]["last_modified_time"] >= window_lo for i in extra)
        assert cursor2["mark"] > cursor["mark"]
        again, _, _ = await read_all(conn, "accounts", cursor2)
        assert {r.source_id for r in again} <= changed  # nothing new, only the overlap


async def test_resume_inside_a_window_after_a_crash(
    serve: Callable[..., ThreadedServer], connect: Callable[..., FxiaokeConnector]
) -> None:
    server = serve(generate=750)
    async with connect(server.url) as conn:
        seen: list[str] = []
        saved = None
        async for page in conn.pull("accounts", None):
            seen += [r.source_id for r in page.records]
            saved = page.next_cursor
            if len(seen) >= 300:
                break  # the process dies here; the engine committed `saved` with the page
        assert saved is not None and "window" in saved
        rest, _, _ = await read_all(conn, "accounts", saved)
        abandoned = conn.pull("accounts", None)
        await abandoned.__anext__()  # a caller that stops after one page (pull --limit) …
        assert conn.client._background  # … leaves the next page's prefetch in flight
    assert not conn.client._background  # closing the connector cancelled it
    assert len(seen) + len(rest) == 750 and set(seen).isdisjoint(r.source_id for r in rest)


async def test_contacts_link_to_accounts_and_deletions_are_tombstones(
    serve: Callable[..., ThreadedServer],
    connect: Callable[..., FxiaokeConnector],
    creds: dict[str, Any],
) -> None:
    server = serve(generate=120)
    sim = server.app.simulator
    async with connect(server.url) as conn:
        accounts, _, acc_cursor = await read_all(conn, "accounts")
        contacts, _, _ = await read_all(conn, "contacts")
        account_ids = {r.source_id for r in accounts}
        assert contacts and all(c.data.client_source_id in account_ids for c in contacts)
        assert all(c.data.source_id == c.source_id for c in contacts)
        _, _, del_cursor = await read_all(conn, "deleted")
        victims = sorted(account_ids)[:3]
        for rec_id in victims:
            await conn.client.call(
                "/cgi/crm/v2/data/invalid", {"data": {"dataObjectApiName": "AccountObj", "object_data_id": rec_id}}
            )
        gone, _, _ = await read_all(conn, "deleted", del_cursor)
        assert {(r.source_id, r.deletes_stream, r.deleted) for r in gone} == {(v, "accounts", True) for v in victims}
        live, _, _ = await read_all(conn, "accounts", acc_cursor)
        assert not {r.source_id for r in live if not r.deleted} & set(victims)
        await conn.client.call(
            "/cgi/crm/v2/data/delete", {"data": {"dataObjectApiName": "AccountObj", "idList": victims[:1]}}
        )
    assert len(sim.tables["AccountObj"]) == 119


class LoseFirstCreateAnswer(httpx.AsyncBaseTransport):
    """Forwards to the simulator, but drops the connection after the first create of USCC_NEW was processed."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/data/create") and USCC_NEW.encode() in request.content and not self.lost:
            await response.aread()
            self.lost += 1
            raise httpx.ReadError("connection reset after the server committed", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def client(name: str, uscc: str | None, **extra: Any) -> CorporateClient:
    return CorporateClient(name=name, uscc=uscc, **extra)


async def test_push_results_in_order_and_retried_create_makes_no_duplicate(
    serve: Callable[..., ThreadedServer],
) -> None:
    server = serve(generate=50)
    sim = server.app.simulator
    existing = next(iter(r for r in sim.tables["AccountObj"].records.values() if r.get("uscc__c")))
    cfg = FxiaokeConfig.model_validate(
        {
            "plugin": "fxiaoke",
            "base_url": server.url,
            "window_seconds": 0.2,
            "retry_base_delay": 0.01,
            **default_settings(),
            "write_back": {"create": True, "fields": ["name", "uscc", "industry", "risk"]},
        }
    )
    transport = LoseFirstCreateAnswer()
    risk = RiskSummary(rating=Rating.BBB, score=612, segment=Segment.MEDIUM, assessed_at=datetime.now(UTC))
    batch = [
        OutboundRecord(key="k1", data=client("上海宝钢测试有限公司", USCC_NEW, industry=Industry(code="C3110"))),
        OutboundRecord(
            key="k2",
            source_id=existing["_id"],
            data=client(existing["name"], existing["uscc__c"], risk=risk),
            fields=("risk",),
        ),
        OutboundRecord(key="k3", data=client("查无此户有限公司", None)),
        OutboundRecord(key="k4", source_id="0" * 24, data=client("不存在有限公司", None)),
    ]
    async with FxiaokeConnector(cfg, PluginContext(name="fxiaoke"), transport=transport) as conn:
        results = await conn.push("accounts", batch)
        assert [r.key for r in results] == ["k1", "k2", "k3", "k4"]
        assert transport.lost == 1
        assert results[0].status == "ok" and results[0].action == "insert" and results[0].source_id
        assert results[0].raw.get("recovered_after") == "ReadError"
        same_uscc = [r for r in sim.tables["AccountObj"].records.values() if r.get("uscc__c") == USCC_NEW]
        assert len(same_uscc) == 1 and same_uscc[0]["_id"] == results[0].source_id
        assert same_uscc[0]["industry"] == "22"  # 钢铁/冶金 for GB/T C31
        assert results[1].status == "ok" and results[1].action == "update"
        updated = sim.tables["AccountObj"].records[existing["_id"]]
        assert updated["risk_rating__c"] == "BBB" and updated["risk_segment__c"] == "medium"
        assert results[2].status == "ok" and results[2].action == "insert"  # no USCC: created once
        assert (
            results[3].status == "error" and not results[3].retriable and "does not exist" in (results[3].reason or "")
        )
        again = await conn.push("accounts", batch[:1])  # the engine retries the whole push
        assert again[0].status == "ok" and again[0].source_id == results[0].source_id
        assert again[0].action == "unchanged"
    assert len([r for r in sim.tables["AccountObj"].records.values() if r.get("uscc__c") == USCC_NEW]) == 1


async def test_duplicate_rule_with_an_unknown_code_is_resolved_by_uscc(
    serve: Callable[..., ThreadedServer], connect: Callable[..., FxiaokeConnector]
) -> None:
    server = serve(generate=20, duplicate_error_code=320099)
    sim = server.app.simulator
    target = next(r for r in sim.tables["AccountObj"].records.values() if r.get("uscc__c"))
    async with connect(server.url, write_back={"create": True, "fields": ["name", "uscc"]}) as conn:
        writer_find = conn.push  # a race: the lookup misses, the server's duplicate rule refuses the create
        from crmhub_fxiaoke import push as push_module

        original = push_module.AccountWriter._find
        calls = {"n": 0}

        async def first_miss(self: Any, uscc: str | None, fields: list[str]) -> Any:
            calls["n"] += 1
            return None if calls["n"] == 1 else await original(self, uscc, fields)

        push_module.AccountWriter._find = first_miss  # type: ignore[method-assign]
        try:
            result = (
                await writer_find(
                    "accounts", [OutboundRecord(key="d1", data=client("重复录入有限公司", target["uscc__c"]))]
                )
            )[0]
        finally:
            push_module.AccountWriter._find = original  # type: ignore[method-assign]
    assert result.status == "ok" and result.source_id == target["_id"] and result.raw["duplicate_rule"] == 320099
    assert sim.log.codes["/cgi/crm/v2/data/create"][320099] == 1


@pytest.mark.parametrize("create", [False])
async def test_create_disabled_is_a_clear_error(
    serve: Callable[..., ThreadedServer], connect: Callable[..., FxiaokeConnector], create: bool
) -> None:
    server = serve(generate=5)
    async with connect(server.url, write_back={"create": create}) as conn:
        result = (await conn.push("accounts", [OutboundRecord(key="x", data=client("新客户有限公司", USCC_NEW))]))[0]
    assert result.status == "error" and "creating accounts is disabled" in (result.reason or "")
