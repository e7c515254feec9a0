"""The world-backed Fenxiang tables regenerate records on demand: same records, indexes, answers and writes as
loaded ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from crmhub.contract import SandboxOptions
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.world import World
from crmhub_fxiaoke.simulator.service import ACCOUNT, CONTACT, FxiaokeSimulator

ADMIN = "FSUID_SANDBOX"


def _sims(faults: FaultProfile | None = None) -> tuple[FxiaokeSimulator, FxiaokeSimulator]:
    world = World(seed=3, clients=500)

    def clock() -> datetime:
        return datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

    def sim(**settings: Any) -> FxiaokeSimulator:
        return FxiaokeSimulator(
            SandboxOptions(
                base_url="http://127.0.0.1:1", world=world, faults=faults, seed=5, clock=clock, settings=settings
            )
        )

    return sim(lazy_world_min=0), sim()


def _all(sim: FxiaokeSimulator, api: str) -> dict[str, dict[str, Any]]:
    table = sim.tables[api]
    return {rid: table.records[rid] for rid in table.records}


def _same_tables(lazy: FxiaokeSimulator, eager: FxiaokeSimulator) -> None:
    for api in (ACCOUNT, CONTACT):
        a, b = lazy.tables[api], eager.tables[api]
        assert len(a) == len(b) > 0
        assert _all(lazy, api) == _all(eager, api)
        assert list(a.by_id) == list(b.by_id)
        assert list(a.by_lmt) == list(b.by_lmt)


def _query(sim: FxiaokeSimulator, api: str = ACCOUNT, **sqi: Any) -> Any:
    sqi.setdefault("limit", 100)
    sqi.setdefault("offset", 0)
    return json.loads(sim.query({"dataObjectApiName": api, "search_query_info": sqi}, {}))


QUERIES: list[dict[str, Any]] = [
    {},
    {"offset": 200},
    {"orders": [{"fieldName": "last_modified_time", "isAsc": True}, {"fieldName": "_id", "isAsc": True}]},
    {"orders": [{"fieldName": "last_modified_time", "isAsc": False}], "offset": 100},
    {"orders": [{"fieldName": "name", "isAsc": True}]},
    {"filters": [{"field_name": "life_status", "operator": "EQ", "field_values": ["invalid"]}]},
    {"filters": [{"field_name": "province", "operator": "LIKE", "field_values": ["省"]}], "fieldProjection": ["name"]},
]


def test_lazy_tables_hold_no_records_and_serve_the_same_ones() -> None:
    lazy, eager = _sims(FaultProfile(malformed_rate=0.05, duplicate_rate=0.03, seed=1))
    overlay = lazy.tables[ACCOUNT].records.overlay
    assert lazy.tables[ACCOUNT].lazy and not eager.tables[ACCOUNT].lazy
    assert 0 < len(overlay) < len(lazy.tables[ACCOUNT]) // 10  # only the fault duplicates are held
    assert lazy.tables[CONTACT].records.overlay == {}
    _same_tables(lazy, eager)
    assert list(lazy.directory.by_open_id) == list(eager.directory.by_open_id)
    for sqi in QUERIES:
        assert _query(lazy, **sqi) == _query(eager, **sqi)
    mid = eager.tables[ACCOUNT].by_lmt[len(eager.tables[ACCOUNT]) // 2][0]
    since = {"filters": [{"field_name": "last_modified_time", "operator": "GTE", "field_values": [mid]}]}
    assert _query(lazy, **since) == _query(eager, **since)
    assert _query(lazy, CONTACT, offset=100) == _query(eager, CONTACT, offset=100)


def test_equality_lookups_match_the_loaded_tables() -> None:
    lazy, eager = _sims()
    uscc = eager.settings.uscc_field
    for rid in list(eager.tables[ACCOUNT].by_id)[:60]:
        rec = eager.tables[ACCOUNT].records[rid]
        for fname in (uscc, "name"):
            value = rec.get(fname)
            if isinstance(value, str):
                assert lazy.tables[ACCOUNT].equality[fname].get(value, set()) == eager.tables[ACCOUNT].equality[
                    fname
                ].get(value, set())
                flt = {"filters": [{"field_name": fname, "operator": "EQ", "field_values": [value]}]}
                assert _query(lazy, **flt) == _query(eager, **flt)
        assert lazy.tables[CONTACT].equality["account_id"].get(rid, set()) == eager.tables[CONTACT].equality[
            "account_id"
        ].get(rid, set())
    assert lazy.tables[ACCOUNT].equality["name"].get("没有这家公司", set()) == set()


def _writes(sim: FxiaokeSimulator) -> None:
    accounts = sim.tables[ACCOUNT]
    with_contacts = next(i for i in accounts.by_id if sim.tables[CONTACT].equality["account_id"].get(i))
    first, second, third = [i for i in list(accounts.by_id)[:10] if i != with_contacts][:3]
    sim.update(
        {
            "object_data": {
                "dataObjectApiName": ACCOUNT,
                "_id": with_contacts,
                "name": "新名称有限公司",
                "tel": "010-12345678",
            }
        },
        ADMIN,
    )
    sim.update({"object_data": {"dataObjectApiName": ACCOUNT, "_id": first, "remark": "changed"}}, ADMIN)
    sim.invalid({"dataObjectApiName": ACCOUNT, "object_data_id": second}, ADMIN)
    sim.invalid({"dataObjectApiName": ACCOUNT, "object_data_id": third}, ADMIN)
    sim.delete({"dataObjectApiName": ACCOUNT, "idList": [third]})
    sim.create(
        {
            "object_data": {
                "dataObjectApiName": ACCOUNT,
                "name": "新客户有限公司",
                sim.settings.uscc_field: "91110000MA01ABCD2X",
            }
        },
        ADMIN,
    )
    sim.mutate(25, seed=9)


def test_writes_deletes_and_mutations_match_the_loaded_tables() -> None:
    lazy, eager = _sims()
    for sim in (lazy, eager):
        _writes(sim)
    _same_tables(lazy, eager)
    for sqi in QUERIES:
        assert _query(lazy, **sqi) == _query(eager, **sqi)
    stats_lazy, stats_eager = lazy.stats(), eager.stats()
    assert stats_lazy["records"] == stats_eager["records"]
    assert stats_lazy["invalid"] == stats_eager["invalid"] == {ACCOUNT: 1, CONTACT: 0}
    renamed = [r for r in _all(lazy, CONTACT).values() if r["account_id__r"] == "新名称有限公司"]
    assert renamed  # the rename reached the (regenerated) contacts
    assert len(lazy.tables[ACCOUNT].records.hidden) >= 25  # written base records are held in the overlay


def test_lazy_tenant_answers_the_same_pages_over_http(serve: Any, creds: dict[str, Any]) -> None:
    import httpx

    world = World(seed=3, clients=300)
    pages: list[list[Any]] = []
    for lazy_min in (0, 10**9):
        server = serve(world=world, lazy_world_min=lazy_min, window_seconds=60.0, calls_per_window=10_000)
        assert server.app.simulator.tables[ACCOUNT].lazy is (lazy_min == 0)
        with httpx.Client(base_url=server.url) as http:
            tok = http.post(
                "/cgi/corpAccessToken/get/V2",
                json={
                    "appId": creds["app_id"],
                    "appSecret": creds["app_secret"],
                    "permanentCode": creds["permanent_code"],
                },
            ).json()
            auth = {
                "corpAccessToken": tok["corpAccessToken"],
                "corpId": tok["corpId"],
                "currentOpenUserId": creds["current_open_user_id"],
            }
            got = []
            for offset in (0, 100):
                sqi = {
                    "limit": 100,
                    "offset": offset,
                    "filters": [],
                    "orders": [{"fieldName": "last_modified_time", "isAsc": True}],
                }
                body = http.post(
                    "/cgi/crm/v2/data/query",
                    json={**auth, "data": {"dataObjectApiName": ACCOUNT, "search_query_info": sqi}},
                ).json()
                assert body["errorCode"] == 0, body
                got.append(body["data"])
            pages.append(got)
    assert pages[0] == pages[1] and pages[0][0]["dataList"]
