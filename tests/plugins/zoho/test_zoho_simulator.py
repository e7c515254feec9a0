"""The Zoho simulator against the fact sheet's checklist, with plain httpx (never through the connector)."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile

import httpx
import pytest
from zoho_helpers import ZohoServer, api, sim_of, token_for

from crmhub.model.uscc import is_valid
from crmhub.sandbox.faults import FaultProfile

FIELDS = "Account_Name,USCC,Owner,Modified_Time,Industry,Billing_Code"


def _refresh_form(server, **override):  # type: ignore[no-untyped-def]
    s = sim_of(server).settings
    return {
        "grant_type": "refresh_token",
        "refresh_token": s["refresh_token"],
        "client_id": s["client_id"],
        "client_secret": s["client_secret"],
        **override,
    }


# --- OAuth ---------------------------------------------------------------------------------------------------


def test_token_in_query_string_or_form_body(zoho_server: ZohoServer) -> None:
    server = zoho_server()
    by_query = httpx.post(server.url + "/oauth/v2/token", params=_refresh_form(server))
    by_form = httpx.post(server.url + "/oauth/v2/token", data=_refresh_form(server))
    for r in (by_query, by_form):
        body = r.json()
        assert r.status_code == 200
        assert set(body) == {"access_token", "api_domain", "token_type", "expires_in"}
        assert body["expires_in"] == 3600 and body["token_type"] == "Bearer" and body["api_domain"] == server.url
        assert "expires_in_sec" not in body


def test_token_errors_are_http_200(zoho_server: ZohoServer) -> None:
    server = zoho_server()
    wrong_client = httpx.post(server.url + "/oauth/v2/token", data=_refresh_form(server, client_secret="nope"))
    wrong_refresh = httpx.post(server.url + "/oauth/v2/token", data=_refresh_form(server, refresh_token="1000.x"))
    assert (wrong_client.status_code, wrong_client.json()) == (200, {"error": "invalid_client"})
    assert (wrong_refresh.status_code, wrong_refresh.json()) == (200, {"error": "invalid_code"})


def test_authorization_code_grant_issues_a_refresh_token_once(zoho_server: ZohoServer) -> None:
    server = zoho_server()
    s = sim_of(server).settings
    code = httpx.post(server.url + "/_sandbox/grant", json={}).json()["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": s["client_id"],
        "client_secret": s["client_secret"],
        "redirect_uri": "https://example.com/cb",
    }
    first = httpx.post(server.url + "/oauth/v2/token", data=form).json()
    assert first["refresh_token"] and first["access_token"]
    assert httpx.post(server.url + "/oauth/v2/token", data=form).json() == {"error": "invalid_code"}
    again = httpx.post(server.url + "/oauth/v2/token", data=_refresh_form(server, refresh_token=first["refresh_token"]))
    assert "access_token" in again.json()


def test_refresh_throttle_and_live_token_cap(zoho_server: ZohoServer) -> None:
    server = zoho_server(settings={"refresh_limit": 20})
    tokens = [
        httpx.post(server.url + "/oauth/v2/token", data=_refresh_form(server)).json()["access_token"] for _ in range(16)
    ]
    oldest = httpx.get(
        server.url + "/crm/v8/users",
        params={"type": "CurrentUser"},
        headers={"Authorization": f"Zoho-oauthtoken {tokens[0]}"},
    )
    newest = httpx.get(
        server.url + "/crm/v8/users",
        params={"type": "CurrentUser"},
        headers={"Authorization": f"Zoho-oauthtoken {tokens[-1]}"},
    )
    assert oldest.status_code == 401 and newest.status_code == 200

    throttled = zoho_server()
    answers = [httpx.post(throttled.url + "/oauth/v2/token", data=_refresh_form(throttled)) for _ in range(11)]
    assert all(a.status_code == 200 for a in answers)
    assert all("access_token" in a.json() for a in answers[:10])
    assert answers[10].json()["error"] == "Access Denied"
    httpx.post(throttled.url + "/_sandbox/clock", json={"advance_seconds": 601})
    assert "access_token" in httpx.post(throttled.url + "/oauth/v2/token", data=_refresh_form(throttled)).json()


def test_header_scheme_and_expiry(zoho_server: ZohoServer) -> None:
    server = zoho_server(5, faults=FaultProfile(token_ttl=30))
    tok = token_for(server)
    bearer = httpx.get(
        server.url + "/crm/v8/Accounts", params={"fields": FIELDS}, headers={"Authorization": f"Bearer {tok}"}
    )
    assert bearer.status_code == 401
    assert bearer.json() == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }
    good = httpx.get(
        server.url + "/crm/v8/Accounts", params={"fields": FIELDS}, headers={"Authorization": f"Zoho-oauthtoken {tok}"}
    )
    assert good.status_code == 200
    httpx.post(server.url + "/_sandbox/clock", json={"advance_seconds": 31})
    expired = httpx.get(
        server.url + "/crm/v8/Accounts", params={"fields": FIELDS}, headers={"Authorization": f"Zoho-oauthtoken {tok}"}
    )
    assert expired.status_code == 401 and expired.json()["code"] == "INVALID_TOKEN"


# --- reading ---------------------------------------------------------------------------------------------------


def test_list_parameters_and_record_shape(zoho_server: ZohoServer) -> None:
    server = zoho_server(30)
    c = api(server)
    assert c.get("/crm/v8/Accounts").json()["details"] == {"param": "fields"}
    assert c.get("/crm/v8/Accounts", params={"fields": ",".join(f"F{i}" for i in range(51))}).status_code == 400
    assert c.get("/crm/v8/Accounts", params={"fields": FIELDS, "per_page": 201}).status_code == 400
    assert c.get("/crm/v8/Accounts", params={"fields": FIELDS, "page": 1, "page_token": "x"}).status_code == 400
    assert c.get("/crm/v8/Accounts", params={"fields": FIELDS, "sort_by": "Account_Name"}).status_code == 400
    v2 = c.get("/crm/v2/Accounts", params={"per_page": 3})
    assert v2.status_code == 200 and "Billing_Street" in v2.json()["data"][0]
    body = c.get(
        "/crm/v8/Accounts", params={"fields": FIELDS, "per_page": 10, "sort_by": "Modified_Time", "sort_order": "asc"}
    ).json()
    info = body["info"]
    assert {
        "per_page",
        "count",
        "page",
        "more_records",
        "next_page_token",
        "previous_page_token",
        "page_token_expiry",
        "sort_by",
        "sort_order",
        "call",
        "email",
    } <= set(info)
    assert info["count"] == 10 and info["more_records"] is True and info["sort_by"] == "Modified_Time"
    times = [r["Modified_Time"] for r in body["data"]]
    assert times == sorted(times)
    rec = body["data"][0]
    assert re.fullmatch(r"\d{19}", rec["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", rec["Modified_Time"])
    assert set(rec["Owner"]) == {"name", "id", "email"}
    assert "$approval_state" in rec and "$currency_symbol" in rec
    assert is_valid(rec["USCC"])


def test_the_2000_wall_and_page_tokens(zoho_server: ZohoServer) -> None:
    server = zoho_server(2300)
    c = api(server)
    p10 = c.get("/crm/v8/Accounts", params={"fields": FIELDS, "page": 10})
    assert p10.status_code == 200 and p10.json()["info"]["more_records"]
    p11 = c.get("/crm/v8/Accounts", params={"fields": FIELDS, "page": 11})
    assert p11.status_code == 400
    assert p11.json() == {
        "code": "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
        "details": {"limit": 2000},
        "message": "You can only get the first 2000 records without using page_token param",
        "status": "error",
    }
    seen: list[str] = []
    token = None
    while True:
        params = {"fields": FIELDS, **({"page_token": token} if token else {})}
        body = c.get("/crm/v8/Accounts", params=params).json()
        seen += [r["id"] for r in body["data"]]
        token = body["info"]["next_page_token"]
        if not body["info"]["more_records"]:
            break
    assert len(seen) == len(set(seen)) == 2300
    assert seen == sorted(seen, reverse=True)  # default sort: id desc
    # tokens are user-specific and expire after 24 h
    first = c.get("/crm/v8/Accounts", params={"fields": FIELDS}).json()["info"]["next_page_token"]
    httpx.post(server.url + "/_sandbox/clock", json={"advance_seconds": 86401})
    late = api(server).get("/crm/v8/Accounts", params={"fields": FIELDS, "page_token": first})
    assert late.status_code == 400 and late.json()["details"].get("expired") is True


def test_if_modified_since_304_and_empty_204(zoho_server: ZohoServer) -> None:
    empty = zoho_server()
    assert api(empty).get("/crm/v8/Accounts", params={"fields": FIELDS}).status_code == 204
    server = zoho_server(20)
    c = api(server)
    newest = c.get("/crm/v8/Accounts", params={"fields": FIELDS, "sort_by": "Modified_Time"}).json()["data"][0]
    same = c.get("/crm/v8/Accounts", params={"fields": FIELDS}, headers={"If-Modified-Since": newest["Modified_Time"]})
    assert same.status_code == 200 and [r["id"] for r in same.json()["data"]] == [newest["id"]]  # inclusive
    later = c.get(
        "/crm/v8/Accounts", params={"fields": FIELDS}, headers={"If-Modified-Since": "2099-01-01T00:00:00+08:00"}
    )
    assert later.status_code == 304 and later.content == b""
    changed = httpx.post(server.url + "/_sandbox/mutate", json={"count": 3, "seed": 4}).json()
    since = c.get(
        "/crm/v8/Accounts", params={"fields": FIELDS}, headers={"If-Modified-Since": changed["modified_time"]}
    )
    assert sorted(r["id"] for r in since.json()["data"]) == sorted(changed["ids"])


# --- writing ---------------------------------------------------------------------------------------------------


def test_insert_answers_in_order_201_and_207(zoho_server: ZohoServer) -> None:
    server = zoho_server(3)
    c = api(server)
    existing = c.get("/crm/v8/Accounts", params={"fields": FIELDS}).json()["data"][0]
    owner_id = existing["Owner"]["id"]
    ok = c.post(
        "/crm/v8/Accounts",
        json={"data": [{"Account_Name": "甲公司", "Owner": {"id": owner_id}}, {"Account_Name": "乙公司"}]},
    )
    assert ok.status_code == 201
    assert [a["message"] for a in ok.json()["data"]] == ["record added", "record added"]
    mixed = c.post(
        "/crm/v8/Accounts",
        json={
            "data": [
                {"Account_Name": "丙公司"},
                {"USCC": "91110000600037341L"},
                {"Account_Name": "丁公司", "Employees": "many"},
                {"Account_Name": "戊公司", "USCC": existing["USCC"]},
            ]
        },
    )
    assert mixed.status_code == 207
    a = mixed.json()["data"]
    assert a[0]["status"] == "success"
    assert a[1] == {
        "code": "MANDATORY_NOT_FOUND",
        "details": {"api_name": "Account_Name", "json_path": "$.data[1].Account_Name"},
        "message": "required field not found",
        "status": "error",
    }
    assert a[2]["code"] == "INVALID_DATA" and a[2]["details"]["api_name"] == "Employees"
    assert a[2]["details"]["expected_data_type"] == "integer" and a[2]["details"]["json_path"] == "$.data[2].Employees"
    assert a[3]["code"] == "DUPLICATE_DATA" and a[3]["details"]["duplicate_record"]["id"] == existing["id"]
    made = c.get(f"/crm/v8/Accounts/{ok.json()['data'][0]['details']['id']}").json()["data"][0]
    assert made["Owner"] == existing["Owner"]  # written as {id}, read as {name, id, email}
    too_many = c.post("/crm/v8/Accounts", json={"data": [{"Account_Name": f"x{i}"} for i in range(101)]})
    assert too_many.status_code == 400 and too_many.json()["code"] == "LIMIT_EXCEEDED"


def test_upsert_action_duplicate_field_and_lookups(zoho_server: ZohoServer) -> None:
    server = zoho_server(3)
    c = api(server)
    existing = c.get("/crm/v8/Accounts", params={"fields": FIELDS}).json()["data"][0]
    body = {
        "data": [
            {"Account_Name": "改名公司", "USCC": existing["USCC"]},
            {"Account_Name": "新公司", "USCC": "91310000631696382C"},
        ],
        "duplicate_check_fields": ["USCC"],
    }
    r = c.post("/crm/v8/Accounts/upsert", json=body)
    answers = r.json()["data"]
    assert [(a["action"], a["duplicate_field"]) for a in answers] == [("update", "USCC"), ("insert", None)]
    assert answers[0]["details"]["id"] == existing["id"]
    again = c.post("/crm/v8/Accounts/upsert", json=body).json()["data"]
    assert [a["action"] for a in again] == ["update", "update"]
    bad = c.post("/crm/v8/Accounts/upsert", json={"data": [{"Account_Name": "x"}], "duplicate_check_fields": ["Phone"]})
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_DATA"
    contact = c.post(
        "/crm/v8/Contacts",
        json={"data": [{"Last_Name": "王", "First_Name": "芳", "Account_Name": {"id": existing["id"]}}]},
    ).json()
    cid = contact["data"][0]["details"]["id"]
    read = c.get(f"/crm/v8/Contacts/{cid}").json()["data"][0]
    assert read["Account_Name"] == {"name": "改名公司", "id": existing["id"]} and read["Full_Name"] == "王芳"
    missing = c.post("/crm/v8/Contacts", json={"data": [{"First_Name": "无姓"}]}).json()["data"][0]
    assert missing["details"]["api_name"] == "Last_Name"


def test_delete_and_deleted_listing(zoho_server: ZohoServer) -> None:
    server = zoho_server(5)
    c = api(server)
    assert c.get("/crm/v8/Accounts/deleted").status_code == 204
    ids = [r["id"] for r in c.get("/crm/v8/Accounts", params={"fields": FIELDS}).json()["data"][:2]]
    gone = c.delete("/crm/v8/Accounts", params={"ids": ",".join(ids)})
    assert [a["code"] for a in gone.json()["data"]] == ["SUCCESS", "SUCCESS"]
    listed = c.get("/crm/v8/Accounts/deleted", params={"type": "recycle"}).json()
    assert sorted(d["id"] for d in listed["data"]) == sorted(ids)
    assert {"deleted_by", "id", "display_name", "type", "created_by", "deleted_time"} <= set(listed["data"][0])
    assert (
        c.get("/crm/v8/Accounts/deleted", params={"type": "permanent"}).status_code == 304
        or c.get("/crm/v8/Accounts/deleted", params={"type": "permanent"}).status_code == 204
    )
    later = c.get("/crm/v8/Accounts/deleted", headers={"If-Modified-Since": "2099-01-01T00:00:00+08:00"})
    assert later.status_code == 304


# --- search, COQL, bulk ------------------------------------------------------------------------------------------


def test_search_word_match_and_cap(zoho_server: ZohoServer) -> None:
    server = zoho_server(2100)
    c = api(server)
    name = c.get("/crm/v8/Accounts", params={"fields": FIELDS}).json()["data"][0]["Account_Name"]
    prefix = name[:4]
    hits = c.get("/crm/v8/Accounts/search", params={"criteria": f"(Account_Name:equals:{prefix})"}).json()["data"]
    assert any(h["Account_Name"] == name for h in hits)  # equals is a word/prefix match, not exact
    capped = c.get("/crm/v8/Accounts/search", params={"criteria": "(Billing_Country:equals:China)", "page": 11})
    assert capped.status_code == 400
    escaped = c.get(
        "/crm/v8/Accounts/search",
        params={"criteria": "(Modified_Time:greater_equal:2021-01-01T00:00:00+08:00)", "per_page": 5},
    )
    assert escaped.status_code == 200 and escaped.json()["info"]["count"] == 5


def test_coql_forms_and_limits(zoho_server: ZohoServer) -> None:
    server = zoho_server(50)
    c = api(server)
    q = (
        "select Account_Name, Owner from Accounts where Modified_Time >= '2021-01-01T00:00:00+08:00' "
        "order by Modified_Time asc limit 0, 10"
    )
    body = c.post("/crm/v8/coql", json={"select_query": q}).json()
    assert body["info"] == {"count": 10, "more_records": True}
    assert set(body["data"][0]["Owner"]) == {"id"}  # COQL lookups carry the id only
    count = c.post("/crm/v8/coql", json={"select_query": "select COUNT(id) from Accounts where id is not null"})
    assert count.json()["data"][0]["COUNT(id)"] == 50
    assert (
        c.post("/crm/v8/coql", json={"select_query": "select Account_Name from Accounts limit 2001"}).json()["code"]
        == "LIMIT_EXCEEDED"
    )
    assert c.post("/crm/v8/coql", json={"select_query": "select Nope from Accounts"}).json()["code"] == "INVALID_QUERY"
    three = "select id from Accounts where Employees > 1 and Employees < 10 and Employees != 5"
    assert c.post("/crm/v8/coql", json={"select_query": three}).json()["code"] == "SYNTAX_ERROR"


def test_bulk_read_lifecycle_zip_and_download_limit(zoho_server: ZohoServer) -> None:
    server = zoho_server(120)
    c = api(server)
    created = c.post(
        "/crm/bulk/v8/read",
        json={"query": {"module": {"api_name": "Accounts"}, "fields": ["Account_Name", "USCC"]}, "file_type": "csv"},
    )
    assert created.status_code == 201 and created.json()["data"][0]["details"]["state"] == "ADDED"
    job = created.json()["data"][0]["details"]["id"]
    states = [c.get(f"/crm/bulk/v8/read/{job}").json()["data"][0]["state"] for _ in range(3)]
    assert states == ["QUEUED", "IN PROGRESS", "COMPLETED"]
    result = c.get(f"/crm/bulk/v8/read/{job}").json()["data"][0]["result"]
    assert result["count"] == 120 and result["more_records"] is False
    downloads = [c.get(result["download_url"]) for _ in range(11)]
    assert all(d.status_code == 200 for d in downloads[:10]) and downloads[10].status_code == 429
    with zipfile.ZipFile(io.BytesIO(downloads[0].content)) as zf:
        (name,) = zf.namelist()
        lines = zf.read(name).decode().splitlines()
    assert lines[0] == "id,Account_Name,USCC" and len(lines) == 121
    httpx.post(server.url + "/_sandbox/bulk_fail", json={"count": 1})
    failing = c.post("/crm/bulk/v8/read", json={"query": {"module": "Accounts"}}).json()["data"][0]["details"]["id"]
    assert [c.get(f"/crm/bulk/v8/read/{failing}").json()["data"][0]["state"] for _ in range(3)][-1] == "FAILURE"


# --- metadata, limits, log ------------------------------------------------------------------------------------


def test_metadata_endpoints(zoho_server: ZohoServer) -> None:
    server = zoho_server(2)
    c = api(server)
    modules = c.get("/crm/v8/settings/modules").json()["modules"]
    assert {"Accounts", "Contacts"} <= {m["api_name"] for m in modules if m["api_supported"]}
    assert c.get("/crm/v8/settings/modules/Accounts").json()["modules"][0]["api_name"] == "Accounts"
    meta = c.get("/crm/v8/settings/fields", params={"module": "Accounts"}).json()
    fields = {f["api_name"]: f for f in meta["fields"]}
    assert all(fields[n]["custom_field"] for n in ("USCC", "Risk_Rating", "Risk_Segment"))
    assert not fields["Account_Name"]["custom_field"] and fields["Account_Name"]["system_mandatory"]
    assert "Service Provider" in {v["actual_value"] for v in fields["Industry"]["pick_list_values"]}
    me = c.get("/crm/v8/users", params={"type": "CurrentUser"}).json()["users"]
    assert len(me) == 1 and me[0]["email"]
    assert c.get("/crm/v2/org").json()["org"][0]["license_details"]["paid_type"] == "standard"


async def test_concurrency_limit_answers_429_without_retry_after(zoho_server: ZohoServer) -> None:
    server = zoho_server(5, faults=FaultProfile(latency_ms=150), settings={"concurrency": 2})
    headers = {"Authorization": f"Zoho-oauthtoken {token_for(server)}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as c:
        answers = await asyncio.gather(*(c.get("/crm/v8/Accounts", params={"fields": FIELDS}) for _ in range(5)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 2 and statuses.count(429) == 3
    throttled = next(a for a in answers if a.status_code == 429)
    assert throttled.json()["code"] == "TOO_MANY_REQUESTS" and "retry-after" not in throttled.headers


def test_credits_header_and_exhaustion(zoho_server: ZohoServer) -> None:
    server = zoho_server(5, settings={"daily_credits": 4})
    c = api(server)
    first = c.get("/crm/v8/Accounts", params={"fields": FIELDS})
    assert "x-api-credits-remaining" not in first.headers
    second = c.get("/crm/v8/Accounts", params={"fields": FIELDS})
    assert second.headers["x-api-credits-remaining"] == "2"
    c.get("/crm/v8/Accounts", params={"fields": FIELDS})
    c.get("/crm/v8/Accounts", params={"fields": FIELDS})
    spent = c.get("/crm/v8/Accounts", params={"fields": FIELDS})
    assert spent.status_code == 429 and spent.json()["code"] == "TOO_MANY_REQUESTS"


def test_request_log_mutate_and_data_faults(zoho_server: ZohoServer) -> None:
    server = zoho_server(400, faults=FaultProfile(malformed_rate=0.05, duplicate_rate=0.05, seed=2))
    sim = sim_of(server)
    c = api(server)
    c.post("/crm/v8/Accounts/upsert", json={"data": [{"Account_Name": "log test"}]})
    log = httpx.get(server.url + "/_sandbox/requests", params={"path": "upsert"}).json()["requests"]
    assert len(log) == 1 and log[0]["method"] == "POST" and log[0]["status"] == 200
    assert sim.malformed and sim.duplicates
    kinds = set(sim.malformed.values())
    assert {"Annual_Revenue is text", "missing Account_Name"} & kinds
    stats = httpx.get(server.url + "/_sandbox/stats").json()
    assert stats["records"]["Accounts"] == 400 + len(sim.duplicates) + 1


@pytest.mark.parametrize("bad", ["2021-01-01", "yesterday"])
def test_bad_if_modified_since_is_400(zoho_server: ZohoServer, bad: str) -> None:
    server = zoho_server(2)
    r = api(server).get("/crm/v8/Accounts", params={"fields": FIELDS}, headers={"If-Modified-Since": bad})
    assert r.status_code == 400
