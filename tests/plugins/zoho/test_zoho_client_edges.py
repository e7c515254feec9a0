"""Edge cases of the Zoho connector's HTTP layer, with respx (no server)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from crmhub.contract import PluginContext
from crmhub.errors import AuthError
from crmhub.model import CorporateClient
from crmhub_zoho.config import ZohoConfig
from crmhub_zoho.connector import ZohoConnector

ACCOUNTS = "https://accounts.zoho.com.cn"
API = "https://www.zohoapis.com.cn"
SECRET_REFRESH = "1000.refresh-SECRET-value-0123456789"
SECRET_CLIENT = "client-SECRET-value-abcdef"
ACCESS = "1000.access-SECRET-token-xyz"


def make(**overrides: Any) -> ZohoConnector:
    cfg = ZohoConfig.model_validate(
        {
            "plugin": "zoho_crm",
            "accounts_url": ACCOUNTS,
            "client_id": "1000.CID",
            "client_secret": SECRET_CLIENT,
            "refresh_token": SECRET_REFRESH,
            "base_delay": 0.001,
            "max_delay": 0.01,
            "bulk_threshold": 0,
            **overrides,
        }
    )
    return ZohoConnector(cfg, PluginContext(name="zoho"))


def token_ok(value: str = ACCESS) -> httpx.Response:
    return httpx.Response(
        200, json={"access_token": value, "expires_in": 3600, "api_domain": API, "token_type": "Bearer"}
    )


def rec(i: int, mt: str = "2024-01-15T15:26:49+08:00", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{4970762000000326000 + i}",
        "Account_Name": f"公司{i}",
        "Modified_Time": mt,
        "Owner": {"name": "王经理", "id": "4970762000000000101", "email": "w@bank.cn"},
        **extra,
    }


def page(records: list[dict[str, Any]], more: bool = False, token: str | None = None) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "data": records,
            "info": {"per_page": 200, "count": len(records), "page": 1, "more_records": more, "next_page_token": token},
        },
    )


async def collect(
    conn: ZohoConnector, stream: str = "accounts", cursor: Any = None
) -> tuple[list[Any], list[Any], Any]:
    records: list[Any] = []
    rejected: list[Any] = []
    last = cursor
    async for p in conn.pull(stream, cursor):
        records += p.records
        rejected += p.rejected
        last = p.next_cursor
    return records, rejected, last


@respx.mock
async def test_concurrent_requests_share_one_token_call() -> None:
    token_route = respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(side_effect=lambda r: token_ok())
    respx.get(f"{API}/crm/v8/users").mock(return_value=httpx.Response(200, json={"users": [{"email": "a@b"}]}))
    async with make() as conn:
        await asyncio.gather(*(conn.client.get_json("users", params={"type": "CurrentUser"}) for _ in range(12)))
    assert token_route.call_count == 1
    sent = token_route.calls[0].request
    assert sent.url.query == b"" and b"grant_type=refresh_token" in sent.content  # form body, nothing in the URL


@respx.mock
async def test_401_invalid_token_refreshes_once_and_retries() -> None:
    tokens = iter([token_ok("1000.old"), token_ok("1000.new")])
    token_route = respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(side_effect=lambda r: next(tokens))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Zoho-oauthtoken 1000.old":
            return httpx.Response(
                401, json={"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
            )
        return httpx.Response(200, json={"users": [{"email": "a@b"}]})

    route = respx.get(f"{API}/crm/v8/users").mock(side_effect=answer)
    async with make() as conn:
        body = await conn.client.get_json("users")
    assert body["users"][0]["email"] == "a@b"
    assert token_route.call_count == 2 and route.call_count == 2


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"error": "invalid_client"}, ("invalid_client", "data centre")),
        ({"error": "invalid_code"}, ("invalid_code", "revoked")),
        ({"error": "Access Denied", "error_description": "too many"}, ("Access Denied", "10 refreshes")),
        ({"unexpected": True}, ("refused", "accounts_url")),
    ],
)
@respx.mock
async def test_token_endpoint_errors_become_auth_errors_naming_the_cause(
    body: dict[str, Any], words: tuple[str, ...]
) -> None:
    respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(return_value=httpx.Response(200, json=body))
    async with make() as conn:
        with pytest.raises(AuthError) as caught:
            await conn.client.get_json("users")
        result = await conn.check()
    text = str(caught.value)
    assert all(w in text for w in words)
    assert result.ok is False and words[0] in result.message


@respx.mock
async def test_no_secret_in_any_error_repr_or_config() -> None:
    respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(side_effect=[token_ok(), token_ok()])
    respx.get(f"{API}/crm/v8/users").mock(
        return_value=httpx.Response(
            401, json={"code": "OAUTH_SCOPE_MISMATCH", "details": {}, "message": "scope", "status": "error"}
        )
    )
    conn = make()
    async with conn:
        with pytest.raises(AuthError) as caught:
            await conn.client.get_json("users")
    surfaces = [
        str(caught.value),
        repr(caught.value),
        repr(conn),
        repr(conn.client),
        repr(conn.client.tokens),
        repr(conn.config),
        str(conn.config),
        conn.config.model_dump_json(),
        repr(conn.client.http.auth),
    ]
    for text in surfaces:
        for secret in (SECRET_REFRESH, SECRET_CLIENT, ACCESS):
            assert secret not in text


@respx.mock
async def test_the_2000_wall_moves_to_page_token_in_sequential_mode() -> None:
    respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(return_value=token_ok())
    seen_params: list[dict[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen_params.append(params)
        if "page_token" in params:
            n = int(params["page_token"].removeprefix("t"))
            return page([rec(n * 200 + i) for i in range(200)], more=n < 11, token=f"t{n + 1}")
        return page([rec(i) for i in range(200)], more=True, token="t1")

    respx.get(f"{API}/crm/v8/Accounts").mock(side_effect=answer)
    async with make(parallel_read="sequential") as conn:
        records, _, cursor = await collect(conn)
    assert len(records) == 12 * 200 and len({r.source_id for r in records}) == 2400
    assert all(p.get("page", "1") == "1" for p in seen_params[:1]) and "page_token" in seen_params[-1]
    assert all(int(p.get("page", 1)) <= 10 for p in seen_params)
    assert cursor["mode"] == "incremental"


@respx.mock
async def test_304_and_204_mean_nothing_new() -> None:
    respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(return_value=token_ok())
    route = respx.get(f"{API}/crm/v8/Accounts").mock(side_effect=[httpx.Response(304), httpx.Response(204)])
    cursor = {"v": 1, "mode": "incremental", "since": "2024-01-15T15:26:49+05:30", "seen": []}
    async with make() as conn:
        records, _, after = await collect(conn, cursor=cursor)
        assert records == [] and after["since"] == cursor["since"]
        sent = route.calls[0].request
        assert sent.headers["If-Modified-Since"] == "2024-01-15T15:21:49+05:30"  # overlap, offset kept
        records, _, after = await collect(conn)
    assert records == [] and after["mode"] == "incremental" and after["since"] is None


@respx.mock
async def test_a_429_storm_then_success() -> None:
    respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(return_value=token_ok())
    too_many = httpx.Response(429, json={"code": "TOO_MANY_REQUESTS", "details": {}, "message": "x", "status": "error"})
    respx.get(f"{API}/crm/v8/Accounts").mock(side_effect=[too_many] * 5 + [page([rec(1)])])
    async with make() as conn:
        records, _, _ = await collect(conn)
        metrics = conn.context.metrics
    assert len(records) == 1
    assert metrics.throttled == 5 and metrics.retries == 5 and metrics.calls == 7


@respx.mock
async def test_other_4xx_are_not_retried() -> None:
    respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(return_value=token_ok())
    route = respx.get(f"{API}/crm/v8/Accounts").mock(
        return_value=httpx.Response(
            400,
            json={
                "code": "INVALID_MODULE",
                "details": {},
                "message": "the module name given seems to be invalid",
                "status": "error",
            },
        )
    )
    async with make() as conn:
        with pytest.raises(Exception) as caught:
            await collect(conn)
    assert route.call_count == 1
    assert "INVALID_MODULE" in str(caught.value) and "Developer" in str(caught.value)


@respx.mock
async def test_malformed_records_are_rejected_not_dropped() -> None:
    respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(return_value=token_ok())
    data = [
        rec(1, USCC="91110000600037341L"),
        rec(2, USCC="91110000600037342L"),
        rec(3, Account_Name=None),
        rec(4, Employees="约300人"),
        rec(5, Annual_Revenue="n/a"),
        {"Account_Name": "no id"},
        rec(6, Industry="Service Provider"),
        rec(7, Industry="Large Enterprise", USCC=" 9144030071526726XG "),
    ]
    respx.get(f"{API}/crm/v8/Accounts").mock(return_value=page(data))
    async with make() as conn:
        records, rejected, _ = await collect(conn)
    by_id = {r.source_id: r for r in rejected}
    assert [r.source_id for r in records] == [data[0]["id"], data[1]["id"], data[6]["id"], data[7]["id"]]
    kept = records[1].data  # a USCC failing its check keeps the client, flagged (issue 13 item 9)
    assert isinstance(kept, CorporateClient) and kept.uscc is None and "expected 'P'" in kept.data_quality[0].message
    assert by_id[data[2]["id"]].field == "Account_Name"
    assert by_id[data[3]["id"]].field == "Employees" and "约300人" in by_id[data[3]["id"]].reason
    assert by_id[data[4]["id"]].field == "Annual_Revenue"
    assert by_id[None].field == "id"
    assert len(records) + len(rejected) == len(data)
    sp = records[2].data
    assert sp.industry is None and sp.review_flags == [
        "industry: Zoho value 'Service Provider' is ambiguous (I63 or C39); choose the GB/T 4754 code by hand or "
        "add it to industry_map"
    ]
    large = records[3].data
    assert large.uscc == "9144030071526726XG" and large.enterprise_size == "大型" and large.industry is None


@respx.mock
async def test_207_is_read_record_by_record_in_input_order() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from crmhub.contract import OutboundRecord
    from crmhub.model import CorporateClient, Rating, RiskSummary, Segment

    respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(return_value=token_ok())
    answers = {
        "data": [
            {
                "code": "SUCCESS",
                "status": "success",
                "message": "record updated",
                "action": "update",
                "duplicate_field": "USCC",
                "details": {"id": "4970762000000326001", "Modified_Time": "2024-01-15T15:26:49+08:00"},
            },
            {
                "code": "DUPLICATE_DATA",
                "status": "error",
                "message": "duplicate data",
                "details": {
                    "api_name": "USCC",
                    "json_path": "$.data[1].USCC",
                    "duplicate_record": {"id": "4970762000000326999", "module": {"api_name": "Accounts"}},
                },
            },
            {
                "code": "MANDATORY_NOT_FOUND",
                "status": "error",
                "message": "required field not found",
                "details": {"api_name": "Account_Name", "json_path": "$.data[2].Account_Name"},
            },
        ]
    }
    route = respx.post(f"{API}/crm/v8/Accounts/upsert").mock(return_value=httpx.Response(207, json=answers))
    risk = RiskSummary(rating=Rating.A, score=Decimal(700), segment=Segment.LOW, assessed_at=datetime.now(UTC))
    records = [
        OutboundRecord(
            key=f"k{i}",
            source_id=None,
            data=CorporateClient(name=f"n{i}", uscc="91110000600037341L", risk=risk),
            fields=("risk",),
        )
        for i in range(3)
    ]
    async with make() as conn:
        results = await conn.push("accounts", records)
    sent = route.calls[0].request
    import json

    body = json.loads(sent.content)
    assert body["duplicate_check_fields"] == ["USCC"] and "trigger" not in body
    assert body["data"][0] == {"USCC": "91110000600037341L", "Risk_Rating": "A", "Risk_Segment": "低风险"}
    assert [r.key for r in results] == ["k0", "k1", "k2"]
    assert results[0].status == "ok" and results[0].action == "update" and results[0].modified_at is not None
    assert results[0].modified_at.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]
    assert results[1].status == "error" and results[1].field == "uscc" and "4970762000000326999" in results[1].reason
    assert results[2].field == "name" and "MANDATORY_NOT_FOUND" in (results[2].reason or "")


@respx.mock
async def test_known_records_are_updated_by_id_never_upserted() -> None:
    """A record whose Zoho id is known goes to PUT /Accounts with its id (a still-empty USCC in Zoho must not
    make the upsert insert a duplicate); new records are upserted on the USCC."""
    import json

    from crmhub.contract import OutboundRecord
    from crmhub.model import CorporateClient, Rating, RiskSummary, Segment

    respx.post(f"{ACCOUNTS}/oauth/v2/token").mock(return_value=token_ok())
    ok = {
        "code": "SUCCESS",
        "status": "success",
        "message": "record updated",
        "details": {"id": "4970762000000326001", "Modified_Time": "2024-01-15T15:26:49+08:00"},
    }
    put = respx.put(f"{API}/crm/v8/Accounts").mock(return_value=httpx.Response(200, json={"data": [ok]}))
    upsert = respx.post(f"{API}/crm/v8/Accounts/upsert").mock(
        return_value=httpx.Response(201, json={"data": [{**ok, "action": "insert"}]})
    )
    risk = RiskSummary(rating=Rating.B, segment=Segment.HIGH)
    records = [
        OutboundRecord(
            key="known",
            source_id="4970762000000326001",
            data=CorporateClient(name="n", uscc="91110000600037341L", risk=risk),
            fields=("uscc", "risk"),
        ),
        OutboundRecord(
            key="new", data=CorporateClient(name="m", uscc="91310000631696382C", risk=risk), fields=("uscc", "risk")
        ),
    ]
    async with make() as conn:
        results = await conn.push("accounts", records)
    assert [r.key for r in results] == ["known", "new"] and all(r.status == "ok" for r in results)
    sent = json.loads(put.calls[0].request.content)["data"][0]
    assert sent == {
        "id": "4970762000000326001",
        "USCC": "91110000600037341L",
        "Risk_Rating": "B",
        "Risk_Segment": "高风险",
    }
    assert "id" not in json.loads(upsert.calls[0].request.content)["data"][0]
