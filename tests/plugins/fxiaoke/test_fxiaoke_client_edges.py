"""Edge cases of the Fenxiang client and connector, with respx standing in for the gateway."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx

from crmhub.contract import PluginContext
from crmhub.errors import AuthError, FatalError, IntegrationError, RateLimitedError
from crmhub_fxiaoke import FxiaokeConfig, FxiaokeConnector, FxiaokeQuotaExhausted
from crmhub_fxiaoke.client import DESCRIBE_PATH

BASE = "https://open.fxiaoke.test"
SECRET = "app-secret-DO-NOT-LEAK-7f3a"
PERMANENT = "permanent-code-DO-NOT-LEAK-91c2"
USCC_OK = "91110000600037341L"


def connector(**overrides: Any) -> FxiaokeConnector:
    raw: dict[str, Any] = {
        "plugin": "fxiaoke",
        "base_url": BASE,
        "app_id": "FSAID_1",
        "app_secret": SECRET,
        "permanent_code": PERMANENT,
        "current_open_user_id": "FSUID_ADMIN",
        "retry_base_delay": 0.001,
        "retry_max_delay": 0.01,
        "window_seconds": 0.05,
    }
    raw.update(overrides)
    return FxiaokeConnector(FxiaokeConfig.model_validate(raw), PluginContext(name="fx"))


def ok(**extra: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"errorCode": 0, "errorMessage": "OK", "errorDescription": "success", "traceId": "E-O.test", **extra}
    )


def err(code: int, message: str = "refused") -> httpx.Response:
    return httpx.Response(
        200, json={"errorCode": code, "errorMessage": message, "errorDescription": message, "traceId": "E-O.test"}
    )


def token_route(mock: respx.MockRouter, *values: str) -> respx.Route:
    tokens = iter(values or [f"TOKEN{i}" for i in range(100)])
    return mock.post("/cgi/corpAccessToken/get/V2").mock(
        side_effect=lambda request: ok(corpAccessToken=next(tokens), corpId="FSCID_1", expiresIn=7200)
    )


DESCRIBE = {
    "describe": {
        "api_name": "AccountObj",
        "fields": {
            "name": {"label": "客户名称", "type": "text"},
            "uscc__c": {"label": "统一社会信用代码", "type": "text"},
            "industry": {
                "label": "行业",
                "type": "select_one",
                "options": [{"value": "1", "label": "IT/通信/电子/互联网"}, {"value": "2", "label": "金融业"}],
            },
        },
    }
}


def account(rec_id: str, lmt: int, **fields: Any) -> dict[str, Any]:
    return {
        "_id": rec_id,
        "name": f"测试{rec_id}有限公司",
        "last_modified_time": lmt,
        "life_status": "normal",
        "owner": ["FSUID_1"],
        "owner__r": {"name": "王伟", "email": "ww@bank.cn"},
        **fields,
    }


def body_of(request: httpx.Request) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(request.content)
    return out


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_concurrent_calls_share_one_token_call(respx_mock: respx.MockRouter) -> None:
    tokens = token_route(respx_mock)
    describe = respx_mock.post(DESCRIBE_PATH).mock(return_value=ok(data=DESCRIBE))
    async with connector(calls_per_window=1000) as c:
        await asyncio.gather(*(c.client.describe("AccountObj") for _ in range(20)))
    assert tokens.call_count == 1 and describe.call_count == 20
    sent = body_of(describe.calls.last.request)
    assert sent["corpAccessToken"] == "TOKEN0" and sent["corpId"] == "FSCID_1"
    assert sent["currentOpenUserId"] == "FSUID_ADMIN" and sent["apiName"] == "AccountObj"
    assert describe.calls.last.request.url.params["thirdTraceId"]


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_20016_refreshes_once_and_retries_once(respx_mock: respx.MockRouter) -> None:
    tokens = token_route(respx_mock)
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(body_of(request)["corpAccessToken"])
        if len(seen) == 1:
            return err(20016, "the cropId,cropAccessToken or authorization is error")
        return ok(data=DESCRIBE)

    respx_mock.post(DESCRIBE_PATH).mock(side_effect=answer)
    async with connector() as c:
        await c.client.describe("AccountObj")
        assert seen == ["TOKEN0", "TOKEN1"] and tokens.call_count == 2 and c.client.token_rejections == 1


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_20016_twice_is_an_auth_error_not_a_loop(respx_mock: respx.MockRouter) -> None:
    tokens = token_route(respx_mock)
    route = respx_mock.post(DESCRIBE_PATH).mock(return_value=err(20016))
    async with connector() as c:
        with pytest.raises(AuthError) as info:
            await c.client.describe("AccountObj")
    assert tokens.call_count == 2 and route.call_count == 2
    assert info.value.service_code == 20016 and "20016" in str(info.value)


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_30004_storm_then_success(respx_mock: respx.MockRouter) -> None:
    token_route(respx_mock)
    respx_mock.post(DESCRIBE_PATH).mock(return_value=ok(data=DESCRIBE))
    storm = iter([err(30004)] * 5 + [err(14001)] + [err(-1)])

    def answer(request: httpx.Request) -> httpx.Response:
        nxt = next(storm, None)
        return (
            nxt
            if nxt is not None
            else ok(data={"dataList": [account("a" * 24, 1000)], "offset": 0, "limit": 100, "total": 0})
        )

    respx_mock.post("/cgi/crm/v2/data/query").mock(side_effect=answer)
    async with connector() as c:
        pages = [p async for p in c.pull("accounts", None)]
        assert [r.source_id for p in pages for r in p.records] == ["a" * 24]
        assert c.context.metrics.throttled == 6 and c.context.metrics.retries == 7


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_rate_limit_exhausts_retries_into_a_rate_limited_error(respx_mock: respx.MockRouter) -> None:
    token_route(respx_mock)
    respx_mock.post(DESCRIBE_PATH).mock(return_value=err(30004))
    async with connector(retry_max_attempts=3) as c:
        with pytest.raises(RateLimitedError) as info:
            await c.client.describe("AccountObj")
    assert info.value.service_code == 30004


class FakeTenant:
    """A respx side effect serving N accounts by the gateway's rules (offset ≤ 10,000, limit ≤ 100)."""

    def __init__(self, n: int, quota: int | None = None) -> None:
        self.rows = [account(f"{i:024x}", 1_700_000_000_000 + (i % 7)) for i in range(1, n + 1)]
        self.offsets: list[int] = []
        self.quota = quota
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.quota is not None and self.calls > self.quota:
            return err(30002, "当天访问频次超限")
        data = body_of(request)["data"]
        sqi = data["search_query_info"]
        limit, offset = sqi["limit"], sqi["offset"]
        self.offsets.append(offset)
        if limit > 100:
            return err(15002, "limit")
        if offset > 10_000:
            return err(10013, "offset out of range 10000")
        rows = self.rows
        for flt in sqi["filters"]:
            value, op, name = flt["field_values"][0], flt["operator"], flt["field_name"]
            ops = {"GT": lambda a, b: a > b, "GTE": lambda a, b: a >= b, "LTE": lambda a, b: a <= b}
            rows = [r for r in rows if ops[op](r[name], value)]
        order = sqi["orders"][0]
        rows = sorted(rows, key=lambda r: r[order["fieldName"]], reverse=not order["isAsc"])
        page = rows[offset : offset + limit]
        return ok(data={"dataList": page, "offset": offset, "limit": limit, "total": 0})


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_keyset_window_reads_past_the_offset_wall(respx_mock: respx.MockRouter) -> None:
    token_route(respx_mock)
    respx_mock.post(DESCRIBE_PATH).mock(return_value=ok(data=DESCRIBE))
    tenant = FakeTenant(10_250)
    respx_mock.post("/cgi/crm/v2/data/query").mock(side_effect=tenant)
    async with connector(calls_per_window=10_000) as c:
        ids = [r.source_id async for p in c.pull("accounts", None) for r in p.records]
    assert len(ids) == len(set(ids)) == 10_250
    assert set(tenant.offsets) == {0}


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_30002_stops_cleanly_with_a_resumable_cursor(respx_mock: respx.MockRouter) -> None:
    token_route(respx_mock)
    respx_mock.post(DESCRIBE_PATH).mock(return_value=ok(data=DESCRIBE))
    tenant = FakeTenant(1_000, quota=4)  # probe + 3 pages, then the day's quota is gone
    respx_mock.post("/cgi/crm/v2/data/query").mock(side_effect=tenant)
    got: list[str] = []
    cursor = None
    async with connector(calls_per_window=10_000) as c:
        with pytest.raises(FxiaokeQuotaExhausted) as info:
            async for page in c.pull("accounts", None):
                got += [r.source_id for r in page.records]
                cursor = page.next_cursor
    exc = info.value
    assert len(got) == 300 and exc.resume_cursor == cursor and exc.service_code == 30002
    assert "resets at" in str(exc) and "cursor" in str(exc)
    tenant.quota = None  # tomorrow
    async with connector(calls_per_window=10_000) as c:
        rest = [r.source_id async for p in c.pull("accounts", exc.resume_cursor) for r in p.records]
    assert len(got) + len(rest) == 1000 and set(got).isdisjoint(rest)


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_malformed_records_are_rejected_not_fatal(respx_mock: respx.MockRouter) -> None:
    token_route(respx_mock)
    respx_mock.post(DESCRIBE_PATH).mock(return_value=ok(data=DESCRIBE))
    rows = [
        account("0" * 23 + "1", 5, uscc__c=USCC_OK, industry="2"),
        account("0" * 23 + "2", 5, uscc__c="91110000600037342L"),
        {k: v for k, v in account("0" * 23 + "3", 5).items() if k != "name"},
        account("0" * 23 + "4", 5, name=20240101),
        account("0" * 23 + "5", 5, industry="1"),
        {"name": "无编号"},
    ]
    calls = iter([ok(data={"dataList": [rows[0]]}), ok(data={"dataList": rows})])
    respx_mock.post("/cgi/crm/v2/data/query").mock(side_effect=lambda r: next(calls))
    async with connector() as c:
        pages = [p async for p in c.pull("accounts", None)]
    records = [r for p in pages for r in p.records]
    rejected = {r.source_id: r for p in pages for r in p.rejected}
    assert [r.source_id for r in records] == ["0" * 23 + "1", "0" * 23 + "2", "0" * 23 + "5"]
    good = records[0].data
    assert good is not None and good.uscc == USCC_OK and good.industry is not None and good.industry.code == "J"
    assert good.relationship_manager is not None and good.relationship_manager.name == "王伟"
    kept = records[1].data  # a USCC failing its check keeps the client, flagged (issue 13 item 9)
    assert kept is not None and kept.uscc is None and "check character" in kept.data_quality[0].message
    lumped = records[2].data
    assert lumped is not None and lumped.industry is None and "IT/通信/电子/互联网" in lumped.review_flags[0]
    assert rejected["0" * 23 + "3"].field == "name" and "missing" in rejected["0" * 23 + "3"].reason
    assert rejected["0" * 23 + "4"].field == "name" and "expected text" in rejected["0" * 23 + "4"].reason
    assert rejected[None].field == "_id"


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_no_secret_in_any_error_text(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/cgi/corpAccessToken/get/V2").mock(
        return_value=err(10006, "the parameter appSecret is missing or illegal")
    )
    c = connector()
    errors: list[BaseException] = []
    async with c:
        try:
            await c.client.describe("AccountObj")
        except IntegrationError as exc:
            errors.append(exc)
        result = await c.check()
    assert isinstance(errors[0], AuthError) and errors[0].service_code == 10006 and not result.ok
    texts = [
        str(errors[0]),
        repr(errors[0]),
        errors[0].hint or "",
        result.message,
        json.dumps(result.details),
        repr(c.config),
        str(c.config.model_dump()),
    ]
    for text in texts:
        assert SECRET not in text and PERMANENT not in text
    assert "app_id, app_secret, permanent_code" in str(errors[0])  # names the keys to fix, not their values


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_header_auth_style(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/oauth2.0/token").mock(
        return_value=ok(accessToken="ACCESS1", expiresIn=7200, ea="fktest188", openUserId="FSUID_1")
    )
    route = respx_mock.post(DESCRIBE_PATH).mock(return_value=ok(data=DESCRIBE))
    async with connector(auth_style="header", header_user_id="1000") as c:
        await c.client.describe("AccountObj")
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer ACCESS1" and request.headers["x-fs-ea"] == "fktest188"
    assert request.headers["x-fs-userid"] == "1000" and "corpAccessToken" not in body_of(request)


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_wrong_host_is_explained(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/cgi/corpAccessToken/get/V2").mock(
        return_value=httpx.Response(302, headers={"location": "https://www.fxiaoke.com/"})
    )
    async with connector() as c:
        with pytest.raises(FatalError) as info:
            await c.client.describe("AccountObj")
    assert "base_url" in str(info.value) and "302" in str(info.value)
