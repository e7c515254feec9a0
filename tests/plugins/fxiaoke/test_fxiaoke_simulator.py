"""The Fenxiang simulator against the fact sheet's checklist, over loopback with plain httpx."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.runner import ThreadedServer

TOKEN = "/cgi/corpAccessToken/get/V2"
QUERY = "/cgi/crm/v2/data/query"


class Api:
    """A minimal legacy-scheme client: token in the body, every call POST."""

    def __init__(self, server: ThreadedServer, creds: dict[str, Any]) -> None:
        self.http = httpx.Client(base_url=server.url)
        self.creds = creds
        self.auth: dict[str, Any] = {}

    def token(self, **override: Any) -> dict[str, Any]:
        body = {
            "appId": self.creds["app_id"],
            "appSecret": self.creds["app_secret"],
            "permanentCode": self.creds["permanent_code"],
            **override,
        }
        answer = self.post(TOKEN, body)
        if answer["errorCode"] == 0:
            self.auth = {
                "corpAccessToken": answer["corpAccessToken"],
                "corpId": answer["corpId"],
                "currentOpenUserId": self.creds["current_open_user_id"],
            }
        return answer

    def post(self, path: str, body: dict[str, Any], params: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.http.post(path, json=body, params=params)
        assert response.status_code == 200, response.text
        out: dict[str, Any] = response.json()
        assert {"errorCode", "errorMessage", "errorDescription", "traceId"} <= set(out), out
        return out

    def call(self, path: str, data: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
        body = {**self.auth, **top}
        if data is not None:
            body["data"] = data
        return self.post(path, body)

    def query(
        self,
        api: str = "AccountObj",
        *,
        filters: list[dict[str, Any]] | None = None,
        orders: list[dict[str, Any]] | None = None,
        limit: int = 100,
        offset: int = 0,
        projection: list[str] | None = None,
        total: bool | None = None,
    ) -> dict[str, Any]:
        sqi: dict[str, Any] = {"limit": limit, "offset": offset, "filters": filters or [], "orders": orders or []}
        if projection:
            sqi["fieldProjection"] = projection
        data: dict[str, Any] = {"dataObjectApiName": api, "search_query_info": sqi}
        if total is not None:
            data["find_explicit_total_num"] = total
        return self.call(QUERY, data)

    def rows(self, **kw: Any) -> list[dict[str, Any]]:
        answer = self.query(**kw)
        assert answer["errorCode"] == 0, answer
        rows: list[dict[str, Any]] = answer["data"]["dataList"]
        return rows


def f(field: str, op: str, *values: Any) -> dict[str, Any]:
    return {"field_name": field, "operator": op, "field_values": list(values)}


@pytest.fixture
def api(serve: Callable[..., ThreadedServer], creds: dict[str, Any]) -> Api:
    server = serve(generate=300, window_seconds=60.0, calls_per_window=10_000)
    a = Api(server, creds)
    a.server = server  # type: ignore[attr-defined]
    a.token()
    return a


def test_envelope_trace_and_token_reuse(serve: Callable[..., ThreadedServer], creds: dict[str, Any]) -> None:
    server = serve(generate=5)
    a = Api(server, creds)
    first = a.token()
    assert first["errorCode"] == 0 and first["expiresIn"] == 7200 and first["corpId"].startswith("FSCID_")
    echoed = a.post(
        TOKEN,
        {"appId": creds["app_id"], "appSecret": creds["app_secret"], "permanentCode": creds["permanent_code"]},
        params={"thirdTraceId": "trace-42"},
    )
    assert echoed["thirdTraceId"] == "trace-42" and "trace-42" in echoed["traceId"]
    httpx.post(server.url + "/_sandbox/clock", json={"advance_seconds": 6000})
    again = a.token()
    assert again["corpAccessToken"] == first["corpAccessToken"]
    assert 1190 <= again["expiresIn"] <= 1200  # counts down from 7,200
    httpx.post(server.url + "/_sandbox/clock", json={"advance_seconds": 700})  # 6,700 s after issue
    renewed = a.token()
    assert renewed["corpAccessToken"] != first["corpAccessToken"] and renewed["expiresIn"] == 7200
    bad = a.post(TOKEN, {"appId": creds["app_id"], "appSecret": "wrong", "permanentCode": creds["permanent_code"]})
    assert bad["errorCode"] == 10006 and "appSecret" in bad["errorMessage"]


def test_token_endpoint_is_limited_to_ten_a_minute(serve: Callable[..., ThreadedServer], creds: dict[str, Any]) -> None:
    a = Api(serve(), creds)
    answers = [a.token()["errorCode"] for _ in range(11)]
    assert answers[:10] == [0] * 10 and answers[10] == 14001


def test_auth_errors_and_forced_expiry(serve: Callable[..., ThreadedServer], creds: dict[str, Any]) -> None:
    server = serve(generate=5, faults=FaultProfile(token_ttl=1.0))
    a = Api(server, creds)
    data = {"dataObjectApiName": "AccountObj", "search_query_info": {"limit": 1, "offset": 0}}
    assert a.call(QUERY, data)["errorCode"] == 20017  # no token at all
    a.auth = {"corpAccessToken": "NOT-A-TOKEN", "corpId": "FSCID_X", "currentOpenUserId": "FSUID_X"}
    assert a.call(QUERY, data)["errorCode"] == 20016
    assert a.token()["expiresIn"] == 7200  # the announced life …
    assert a.call(QUERY, data)["errorCode"] == 0
    import time

    time.sleep(1.05)
    assert a.call(QUERY, data)["errorCode"] == 20016  # … but the fault kills it early
    assert a.token()["errorCode"] == 0 and a.call(QUERY, data)["errorCode"] == 0


def test_header_auth_style(serve: Callable[..., ThreadedServer], creds: dict[str, Any]) -> None:
    server = serve(generate=3)
    http = httpx.Client(base_url=server.url)
    tok = http.post(
        "/oauth2.0/token",
        json={
            "appId": creds["app_id"],
            "appSecret": creds["app_secret"],
            "permanentCode": creds["permanent_code"],
            "grantType": "app_secret",
        },
    ).json()
    assert tok["errorCode"] == 0 and tok["ea"] and tok["openUserId"].startswith("FSUID_")
    body = {"data": {"dataObjectApiName": "AccountObj", "search_query_info": {"limit": 5, "offset": 0}}}
    ok = http.post(
        QUERY,
        json=body,
        headers={"authorization": f"Bearer {tok['accessToken']}", "x-fs-ea": tok["ea"], "x-fs-userid": "1000"},
    ).json()
    assert ok["errorCode"] == 0 and len(ok["data"]["dataList"]) == 3
    bad = http.post(
        QUERY, json=body, headers={"authorization": "Bearer nope", "x-fs-ea": tok["ea"], "x-fs-userid": "1000"}
    ).json()
    assert bad["errorCode"] == 20016


def test_paging_rules(api: Api) -> None:
    page = api.query(limit=100, offset=0)
    assert page["errorCode"] == 0
    data = page["data"]
    assert set(data) == {"dataList", "offset", "limit", "total"} and data["total"] == 300
    assert api.query(limit=100, offset=0, total=False)["data"]["total"] == 0
    assert api.query(limit=101)["errorCode"] == 15002
    assert api.query(limit=30, offset=45)["errorCode"] == 15002
    deep = api.query(limit=100, offset=10_100)
    assert deep["errorCode"] == 10013 and deep["errorMessage"] == "offset out of range 10000"
    assert api.query(limit=100, offset=10_000)["errorCode"] == 0
    everyone = [
        r["_id"] for o in (0, 100, 200) for r in api.rows(offset=o, orders=[{"fieldName": "_id", "isAsc": True}])
    ]
    assert everyone == sorted(everyone) and len(set(everyone)) == 300


def test_record_shape(api: Api) -> None:
    rec = api.rows(limit=1)[0]
    assert re.fullmatch(r"[0-9a-f]{24}", rec["_id"])
    assert isinstance(rec["owner"], list) and rec["owner"][0].startswith("FSUID_") and rec["owner__r"]["name"]
    for key, kind in (
        ("create_time", int),
        ("last_modified_time", int),
        ("version", str),
        ("name", str),
        ("life_status", str),
        ("lock_status", str),
        ("is_deleted", bool),
        ("record_type", str),
    ):
        assert isinstance(rec[key], kind), key
    contact = api.rows(api="ContactObj", limit=1)[0]
    account = api.call(
        "/cgi/crm/v2/data/get", {"dataObjectApiName": "AccountObj", "objectDataId": contact["account_id"]}
    )["data"]
    assert contact["account_id__r"] == account["name"]
    describe = api.call("/cgi/crm/v2/object/describe", apiName="AccountObj")["data"]["describe"]
    for custom in ("uscc__c", "risk_rating__c", "risk_segment__c"):
        assert describe["fields"][custom]["define_type"] == "custom"
    assert {o["value"] for o in describe["fields"]["risk_rating__c"]["options"]} >= {"AAA", "D"}


def test_filter_operators(api: Api) -> None:
    rows = api.rows(orders=[{"fieldName": "last_modified_time", "isAsc": True}], limit=100)
    lmts = [r["last_modified_time"] for r in rows]
    assert lmts == sorted(lmts)
    mid = lmts[50]
    a_id = rows[10]["_id"]
    name = rows[10]["name"]

    def ids(*filters: dict[str, Any]) -> set[str]:
        out: set[str] = set()
        for offset in (0, 100, 200):
            out |= {r["_id"] for r in api.rows(filters=list(filters), offset=offset)}
        return out

    every = ids()
    recs = {r["_id"]: r for o in (0, 100, 200) for r in api.rows(offset=o)}
    lmt = {i: r["last_modified_time"] for i, r in recs.items()}
    assert ids(f("last_modified_time", "GT", mid)) == {i for i in every if lmt[i] > mid}
    assert ids(f("last_modified_time", "GTE", str(mid))) == {i for i in every if lmt[i] >= mid}  # numeric strings
    assert ids(f("last_modified_time", "LT", mid)) == {i for i in every if lmt[i] < mid}
    assert ids(f("last_modified_time", "LTE", mid)) == {i for i in every if lmt[i] <= mid}
    assert ids(f("last_modified_time", "BETWEEN", mid, mid + 10**13)) == {i for i in every if lmt[i] >= mid}
    assert ids(f("_id", "EQ", a_id)) == {a_id}
    assert ids(f("_id", "N", a_id)) == every - {a_id}
    assert ids(f("_id", "GT", a_id)) == {i for i in every if i > a_id}
    assert ids(f("_id", "IN", a_id, "0" * 24)) == {a_id}
    assert ids(f("_id", "NIN", a_id)) == every - {a_id}
    assert a_id in ids(f("name", "LIKE", name[2:5]))
    assert ids(f("name", "STARTWITH", name[:4])) == {i for i in every if recs[i]["name"].startswith(name[:4])}
    assert ids(f("name", "ENDWITH", "有限责任公司")) == {i for i in every if recs[i]["name"].endswith("有限责任公司")}
    no_url = {i for i in every if "url" not in recs[i]}
    assert ids(f("url", "IS")) == no_url and ids(f("url", "ISN")) == every - no_url
    both = ids(f("last_modified_time", "GTE", mid), f("_id", "GT", a_id))  # AND-ed
    assert both == {i for i in every if lmt[i] >= mid and i > a_id}
    desc = api.rows(orders=[{"fieldName": "last_modified_time", "isAsc": False}], limit=5)
    assert [r["last_modified_time"] for r in desc] == sorted(lmt.values(), reverse=True)[:5]
    projected = api.rows(limit=3, projection=["name"])
    assert all(set(r) == {"_id", "name"} for r in projected)
    assert api.query(filters=[f("name", "NE", "x")])["errorCode"] == 15002  # N, not NE


def test_write_lifecycle(api: Api) -> None:
    created = api.call(
        "/cgi/crm/v2/data/create",
        {
            "object_data": {
                "dataObjectApiName": "AccountObj",
                "name": "测试新建科技有限公司",
                "uscc__c": "91110000600037341L",
                "risk_rating__c": "BBB",
            }
        },
    )
    assert created["errorCode"] == 0 and re.fullmatch(r"[0-9a-f]{24}", created["dataId"])
    rec_id = created["dataId"]

    def get() -> dict[str, Any]:
        out: dict[str, Any] = api.call(
            "/cgi/crm/v2/data/get", {"dataObjectApiName": "AccountObj", "objectDataId": rec_id}
        )["data"]
        return out

    before = get()
    assert before["version"] == "1" and before["life_status"] == "normal"
    dup = api.call(
        "/cgi/crm/v2/data/create",
        {
            "object_data": {"dataObjectApiName": "AccountObj", "name": "另一家", "uscc__c": "91110000600037341L"},
            "optionInfo": {"isDuplicateSearch": True},
        },
    )
    assert dup["errorCode"] != 0 and rec_id in dup["errorMessage"]
    bad_option = api.call(
        "/cgi/crm/v2/data/update",
        {"object_data": {"_id": rec_id, "dataObjectApiName": "AccountObj", "risk_rating__c": "AAAA"}},
    )
    assert bad_option["errorCode"] == 32000
    updated = api.call(
        "/cgi/crm/v2/data/update",
        {"object_data": {"_id": rec_id, "dataObjectApiName": "AccountObj", "tel": "010-12345678"}},
    )
    assert updated["errorCode"] == 0 and updated["dataId"] == rec_id
    after = get()
    assert int(after["version"]) == 2 and after["last_modified_time"] > before["last_modified_time"]
    assert (
        api.call("/cgi/crm/v2/data/delete", {"dataObjectApiName": "AccountObj", "idList": [rec_id]})["errorCode"]
        == 32000
    )  # only invalidated records
    assert (
        api.call("/cgi/crm/v2/data/invalid", {"dataObjectApiName": "AccountObj", "object_data_id": rec_id})["errorCode"]
        == 0
    )
    assert not api.rows(filters=[f("_id", "EQ", rec_id)])  # gone from normal views …
    invalid = api.rows(filters=[f("_id", "EQ", rec_id), f("life_status", "EQ", "invalid")])
    assert invalid and invalid[0]["is_deleted"] is True and int(invalid[0]["version"]) == 3  # … but queryable
    assert (
        api.call("/cgi/crm/v2/data/delete", {"dataObjectApiName": "AccountObj", "idList": [rec_id]})["errorCode"] == 0
    )
    assert not api.rows(filters=[f("_id", "EQ", rec_id), f("life_status", "EQ", "invalid")])


def test_per_path_limit_quota_and_busy(serve: Callable[..., ThreadedServer], creds: dict[str, Any]) -> None:
    server = serve(generate=3, window_seconds=30.0, daily_quota=150)
    a = Api(server, creds)
    a.token()
    codes = [a.query(limit=1)["errorCode"] for _ in range(101)]
    assert codes[:100] == [0] * 100 and codes[100] == 30004
    describe = a.call("/cgi/crm/v2/object/describe", apiName="AccountObj")  # another path has its own window
    assert describe["errorCode"] == 0
    for _ in range(49):
        a.call("/cgi/crm/v2/object/describe", apiName="AccountObj")
    assert a.call("/cgi/crm/v2/object/describe", apiName="AccountObj")["errorCode"] == 30002
    busy = Api(serve(generate=3, faults=FaultProfile(busy_rate=1.0)), creds)
    assert busy.post(QUERY, {})["errorCode"] == -1


def test_request_log_stats_and_mutate(api: Api) -> None:
    server: ThreadedServer = api.server  # type: ignore[attr-defined]
    before = {r["_id"]: r for o in (0, 100, 200) for r in api.rows(offset=o)}
    changed = httpx.post(server.url + "/_sandbox/mutate", json={"count": 7, "seed": 3}).json()["ids"]
    assert len(changed) == 7
    for rec_id in changed:
        now = api.rows(filters=[f("_id", "EQ", rec_id)])[0]
        assert now["last_modified_time"] > before[rec_id]["last_modified_time"]
        assert int(now["version"]) == int(before[rec_id]["version"]) + 1
    log = httpx.get(server.url + "/_sandbox/requests").json()
    assert log["calls"][QUERY] >= 10
    assert all(e["body"].get("appSecret") in (None, "***") for e in log["requests"])
    stats = httpx.get(server.url + "/_sandbox/stats").json()
    assert stats["records"]["AccountObj"] == 300 and stats["mutations"] == 7


def test_malformed_and_duplicate_share(serve: Callable[..., ThreadedServer], creds: dict[str, Any]) -> None:
    server = serve(
        generate=1000,
        faults=FaultProfile(malformed_rate=0.05, duplicate_rate=0.03),
        window_seconds=60.0,
        calls_per_window=1000,
    )
    sim = server.app.simulator
    rows = list(sim.tables["AccountObj"].records.values())
    no_name = sum(1 for r in rows if "name" not in r)
    wrong_type = sum(1 for r in rows if "name" in r and not isinstance(r["name"], str))
    assert no_name and wrong_type
    assert 1000 + 10 < len(rows) < 1000 + 60  # ~3 % duplicates, same USCC, own _id
    by_uscc: dict[str, int] = {}
    for r in rows:
        if isinstance(r.get("uscc__c"), str):
            by_uscc[r["uscc__c"]] = by_uscc.get(r["uscc__c"], 0) + 1
    assert max(by_uscc.values()) == 2
