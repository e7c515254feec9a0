"""The Fineract simulator against the fact sheet's checklist, over real HTTP with plain httpx."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from ledger_world import TODAY

from conftest import serve
from crmhub.model import uscc
from crmhub.sandbox.faults import FaultProfile
from crmhub.sandbox.runner import ThreadedServer

API = "/fineract-provider/api/v1"


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url + API, auth=("mifos", "password"), headers={"fineract-platform-tenantid": "default"}
    ) as client:
        yield client


def sim(server: ThreadedServer) -> Any:
    return server.app.simulator


def deposit_body(amount: str, **extra: Any) -> dict[str, Any]:
    return {
        "transactionDate": TODAY.strftime("%d %B %Y"),
        "transactionAmount": amount,
        "paymentTypeId": 2,
        "locale": "en",
        "dateFormat": "dd MMMM yyyy",
        **extra,
    }


# --- auth and tenancy ---------------------------------------------------------------------------------------


def test_bad_credentials_are_401_with_a_basic_challenge(server: ThreadedServer) -> None:
    answer = httpx.get(
        server.url + API + "/clients", auth=("mifos", "wrong"), headers={"Fineract-Platform-TenantId": "default"}
    )
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert answer.json()["userMessageGlobalisationCode"] == "error.msg.not.authenticated"
    anonymous = httpx.get(server.url + API + "/clients", headers={"Fineract-Platform-TenantId": "default"})
    assert anonymous.status_code == 401


def test_missing_tenant_is_400_naming_the_header_and_any_case_works(server: ThreadedServer) -> None:
    missing = httpx.get(server.url + API + "/clients", auth=("mifos", "password"))
    assert missing.status_code == 400
    assert "Fineract-Platform-TenantId" in missing.json()["errors"][0]["developerMessage"]
    unknown = httpx.get(
        server.url + API + "/clients", auth=("mifos", "password"), headers={"Fineract-Platform-TenantId": "acme"}
    )
    assert unknown.status_code == 400 and "acme" in unknown.text
    for header in ("fineract-platform-tenantid", "FINERACT-PLATFORM-TENANTID"):
        assert (
            httpx.get(
                server.url + API + "/clients", auth=("mifos", "password"), headers={header: "default"}
            ).status_code
            == 200
        )
    legacy = httpx.get(
        server.url + API + "/clients", auth=("mifos", "password"), params={"tenantIdentifier": "default"}
    )
    assert legacy.status_code == 200


def test_authentication_returns_the_basic_key(server: ThreadedServer) -> None:
    url = server.url + API + "/authentication"
    ok = httpx.post(
        url, json={"username": "mifos", "password": "password"}, headers={"Fineract-Platform-TenantId": "default"}
    )
    assert ok.status_code == 200 and ok.json()["authenticated"] is True
    assert base64.b64decode(ok.json()["base64EncodedAuthenticationKey"]) == b"mifos:password"
    bad = httpx.post(
        url, json={"username": "mifos", "password": "x"}, headers={"Fineract-Platform-TenantId": "default"}
    )
    assert bad.status_code == 401


# --- conventions --------------------------------------------------------------------------------------------


def test_dates_are_arrays_and_writes_need_date_format_and_locale(http: httpx.Client) -> None:
    client = http.get("/clients/1").json()
    assert client["activationDate"] == [2019, 3, 1]
    assert client["timeline"]["submittedOnDate"] == [2019, 3, 1]
    body = {
        "officeId": 1,
        "legalFormId": 2,
        "fullname": "新建测试有限公司",
        "active": True,
        "activationDate": "01 October 2026",
    }
    refused = http.post("/clients", json=body)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["parameterName"] == "dateFormat"
    created = http.post("/clients", json={**body, "dateFormat": "dd MMMM yyyy", "locale": "en"})
    assert created.status_code == 200
    new = http.get(f"/clients/{created.json()['clientId']}").json()
    assert new["activationDate"] == [2026, 10, 1]


def test_paging_default_200_unlimited_at_zero_or_less_and_ordering(server: ThreadedServer, http: httpx.Client) -> None:
    for n in range(250):
        sim(server).create_client({"officeId": 1, "legalFormId": 2, "fullname": f"批量公司{n:03d}"})
    total = 12 + 250
    default = http.get("/clients").json()
    assert default["totalFilteredRecords"] == total and len(default["pageItems"]) == 200
    for limit in (0, -1):
        assert len(http.get("/clients", params={"limit": limit}).json()["pageItems"]) == total
    page = http.get("/clients", params={"offset": 10, "limit": 5}).json()["pageItems"]
    assert [c["id"] for c in page] == [11, 12, 13, 14, 15]
    desc = http.get("/clients", params={"limit": 3, "orderBy": "displayName", "sortOrder": "DESC"}).json()
    names = [c["displayName"] for c in desc["pageItems"]]
    assert names == sorted(names, reverse=True)


# --- clients ------------------------------------------------------------------------------------------------


def test_clients_are_entities_with_uscc_on_the_list_but_not_on_a_single_read(http: httpx.Client) -> None:
    listed = http.get("/clients", params={"limit": 1}).json()["pageItems"][0]
    assert listed["legalForm"] == {"id": 2, "code": "legalFormType.entity", "value": "ENTITY"}
    assert listed["status"]["code"] == "clientStatusType.active"
    assert listed["fullname"] == "上海星河科技有限公司" and listed["externalId"] == "CRM-0001"
    details = listed["clientNonPersonDetails"]
    assert uscc.is_valid(details["incorpNumber"])
    assert details["mainBusinessLine"]["name"].startswith("C39 ")
    assert "clientNonPersonDetails" not in http.get("/clients/1").json()  # FINERACT-2907


def test_single_read_details_are_switchable(http: httpx.Client) -> None:
    with serve(settings={"details_on_single": True, "details_on_list": False}) as other:
        answer = httpx.get(
            other.url + API + "/clients/1",
            auth=("mifos", "password"),
            headers={"Fineract-Platform-TenantId": "default"},
        ).json()
        listed = httpx.get(
            other.url + API + "/clients", auth=("mifos", "password"), headers={"Fineract-Platform-TenantId": "default"}
        ).json()["pageItems"][0]
    assert "incorpNumber" in answer["clientNonPersonDetails"]
    assert "clientNonPersonDetails" not in listed


def test_external_id_accounts_and_identifiers(http: httpx.Client) -> None:
    assert http.get("/clients/external-id/CRM-0009").json()["id"] == 9
    assert http.get("/clients/external-id/NOPE").status_code == 404
    accounts = http.get("/clients/9/accounts").json()
    assert [a["id"] for a in accounts["savingsAccounts"]] and accounts["loanAccounts"][0]["inArrears"] is True
    identifiers = http.get("/clients/1/identifiers").json()
    assert identifiers[0]["documentType"]["id"] == 21 and uscc.is_valid(identifiers[0]["documentKey"])
    assert http.get("/clients/999").status_code == 404


# --- savings and transactions -------------------------------------------------------------------------------


def _account_of(http: httpx.Client, client_id: int) -> dict[str, Any]:
    sid = http.get(f"/clients/{client_id}/accounts").json()["savingsAccounts"][0]["id"]
    account: dict[str, Any] = http.get(f"/savingsaccounts/{sid}").json()
    return account


def _transactions(http: httpx.Client, sid: int, **params: Any) -> list[dict[str, Any]]:
    answer = http.get(
        f"/savingsaccounts/{sid}/transactions/search",
        params={"limit": 0, "orderBy": "id", "sortOrder": "ASC", **params},
    ).json()
    assert answer["total"] == len(answer["content"])
    content: list[dict[str, Any]] = answer["content"]
    return content


def test_savings_summary_overdraft_and_dormancy(http: httpx.Client) -> None:
    overdrawn = _account_of(http, 8)
    assert overdrawn["allowOverdraft"] is True and overdrawn["overdraftLimit"] == 500000
    assert overdrawn["summary"]["accountBalance"] == -320000 and overdrawn["currency"]["code"] == "CNY"
    dormant = _account_of(http, 6)
    assert dormant["subStatus"]["code"] == "SavingsAccountSubStatusEnum.dormant" and dormant["subStatus"]["dormant"]
    listed = http.get("/savingsaccounts", params={"limit": 100}).json()
    assert listed["totalFilteredRecords"] == 12 and all("summary" in a for a in listed["pageItems"])


def test_transaction_search_filters_and_item_shape(http: httpx.Client) -> None:
    sid = _account_of(http, 1)["id"]
    everything = _transactions(http, sid)
    assert len(everything) == 20
    item = everything[-1]
    for key in (
        "entryType",
        "transactionType",
        "runningBalance",
        "reversed",
        "isReversal",
        "paymentDetailData",
        "submittedOnDate",
        "date",
    ):
        assert key in item
    start = (TODAY - timedelta(days=21)).isoformat()
    recent = _transactions(http, sid, fromSubmittedDate=start, dateFormat="yyyy-MM-dd", locale="en")
    assert [t["submittedOnDate"] for t in recent] == [
        [d.year, d.month, d.day]
        for d in (TODAY - timedelta(days=21), TODAY - timedelta(days=14), TODAY - timedelta(days=7))
    ]
    upto = _transactions(
        http,
        sid,
        toSubmittedDate=(TODAY - timedelta(days=14)).strftime("%d %B %Y"),
        dateFormat="dd MMMM yyyy",
        locale="en",
    )
    assert len(upto) == 19
    value = _transactions(http, sid, fromDate=start, toDate=start, dateFormat="yyyy-MM-dd")
    assert len(value) == 1
    credits = _transactions(http, sid, credit="true")
    assert credits and {t["entryType"] for t in credits} == {"CREDIT"}
    assert {t["entryType"] for t in _transactions(http, sid, debit="true")} == {"DEBIT"}
    assert all(Decimal(str(t["amount"])) >= 35000 for t in _transactions(http, sid, fromAmount="35000"))
    assert {t["transactionType"]["id"] for t in _transactions(http, sid, types="2")} == {2}
    newest_first = http.get(f"/savingsaccounts/{sid}/transactions/search", params={"limit": 2}).json()["content"]
    assert newest_first[0]["id"] > newest_first[1]["id"]
    paged = http.get(
        f"/savingsaccounts/{sid}/transactions/search",
        params={"offset": 18, "limit": 5, "orderBy": "id", "sortOrder": "ASC"},
    ).json()
    assert paged["total"] == 20 and [t["id"] for t in paged["content"]] == [t["id"] for t in everything[18:]]


def test_world_behaviours_are_visible_through_the_api(http: httpx.Client) -> None:
    large = _transactions(http, _account_of(http, 2)["id"])
    assert any(Decimal(str(t["amount"])) >= 2_000_000 and t["entryType"] == "CREDIT" for t in large)
    structuring = _transactions(http, _account_of(http, 3)["id"])
    near = [t for t in structuring if Decimal("1800000") <= Decimal(str(t["amount"])) < Decimal("2000000")]
    assert len(near) == 4 and len({t["paymentDetailData"]["accountNumber"] for t in near}) == 1
    passing = _account_of(http, 4)
    flows = _transactions(http, passing["id"])
    inflow, outflow = (Decimal(str(t["amount"])) for t in flows)
    assert outflow / inflow >= Decimal("0.9") and passing["summary"]["accountBalance"] == 170000
    fan = _transactions(http, _account_of(http, 5)["id"], credit="true")
    assert len({t["paymentDetailData"]["accountNumber"] for t in fan}) == 12
    revived = _transactions(http, _account_of(http, 7)["id"])
    days = [date(*t["submittedOnDate"]) for t in revived]
    assert (days[1] - days[0]).days > 365 and len(days) == 4
    cash = _transactions(http, _account_of(http, 10)["id"], credit="true")
    assert all(t["paymentDetailData"]["paymentType"]["isCashPayment"] for t in cash)
    assert sum(Decimal(str(t["amount"])) for t in cash) >= 50000
    fee = _transactions(http, _account_of(http, 10)["id"], debit="true")[0]
    assert fee["isManualTransaction"] is True and fee["transactionType"]["code"].endswith("withdrawalFee")


# --- loans --------------------------------------------------------------------------------------------------


def test_loan_delinquency_agrees_with_schedule_and_the_clock(server: ThreadedServer, http: httpx.Client) -> None:
    lid = http.get("/clients/9/accounts").json()["loanAccounts"][0]["id"]
    loan = http.get(f"/loans/{lid}", params={"associations": "repaymentSchedule,transactions"}).json()
    assert loan["delinquent"]["pastDueDays"] == 120
    since = date(*loan["summary"]["overdueSinceDate"])
    assert since == TODAY - timedelta(days=120)
    periods = [p for p in loan["repaymentSchedule"]["periods"] if "period" in p]
    oldest_open = next(p for p in periods if not p["complete"])
    assert date(*oldest_open["dueDate"]) == since
    overdue = [p for p in periods if not p["complete"] and date(*p["dueDate"]) < TODAY]
    assert loan["summary"]["principalOverdue"] == sum(p["principalDue"] for p in overdue)
    assert loan["transactions"][0]["type"]["disbursement"] is True
    assert loan["delinquencyRange"]["classification"].startswith("次级")
    listed = http.get("/loans").json()
    assert listed["totalFilteredRecords"] == 2 and "delinquent" not in listed["pageItems"][0]
    httpx.post(server.url + "/_sandbox/clock", json={"advance_days": 10})
    later = http.get(f"/loans/{lid}").json()
    assert later["delinquent"]["pastDueDays"] == 130
    assert date(*later["summary"]["overdueSinceDate"]) == since
    trimmed = http.get(f"/loans/{lid}", params={"fields": "id,summary"}).json()
    assert set(trimmed) == {"id", "summary"}


# --- audits, writes, admin, faults --------------------------------------------------------------------------


def test_each_write_command_leaves_one_audit_row_newest_first(server: ThreadedServer, http: httpx.Client) -> None:
    before = http.get("/audits", params={"paged": "true", "limit": 1}).json()["totalFilteredRecords"]
    sid = _account_of(http, 1)["id"]
    assert (
        http.post(
            f"/savingsaccounts/{sid}/transactions", params={"command": "deposit"}, json=deposit_body("5000")
        ).status_code
        == 200
    )
    assert http.put("/clients/1", json={"mobileNo": "13900000000"}).status_code == 200
    refused = http.post(
        f"/savingsaccounts/{sid}/transactions", params={"command": "withdrawal"}, json=deposit_body("99999999")
    )
    assert refused.status_code == 403
    rows = http.get("/audits", params={"paged": "true", "limit": 10}).json()
    assert rows["totalFilteredRecords"] == before + 2
    newest, second = rows["pageItems"][:2]
    assert newest["id"] > second["id"]
    assert (newest["actionName"], newest["entityName"]) == ("UPDATE", "CLIENT")
    assert (second["actionName"], second["entityName"], second["url"]) == (
        "DEPOSIT",
        "SAVINGSACCOUNT",
        f"/savingsaccounts/{sid}/transactions?command=deposit",
    )
    local = sim(server).now()
    assert newest["madeOnDate"][:3] == [local.year, local.month, local.day]
    since = local.strftime("%Y-%m-%d %H:%M:%S")
    recent = http.get("/audits", params={"paged": "true", "makerDateTimeFrom": since}).json()
    assert [r["id"] for r in recent["pageItems"]] == [newest["id"], second["id"]]


def test_deposit_reactivates_a_dormant_account(http: httpx.Client) -> None:
    sid = _account_of(http, 6)["id"]
    http.post(f"/savingsaccounts/{sid}/transactions", params={"command": "deposit"}, json=deposit_body("800000"))
    account = http.get(f"/savingsaccounts/{sid}").json()
    assert account["subStatus"]["none"] is True and account["summary"]["accountBalance"] == 905000


def test_request_log_stats_mutate_and_clock(server: ThreadedServer, http: httpx.Client) -> None:
    http.get("/clients", params={"limit": 1})
    log = httpx.get(server.url + "/_sandbox/requests", params={"limit": 1}).json()
    assert log["requests"][-1]["path"] == API + "/clients" and log["requests"][-1]["status"] == 200
    assert log["requests"][-1]["tenant"] == "default" and log["requests"][-1]["user"] == "mifos"
    audits_before = httpx.get(server.url + "/_sandbox/stats").json()["audits"]
    changed = httpx.post(server.url + "/_sandbox/mutate", json={"count": 12, "seed": 5}).json()
    assert changed["applied"] >= 8
    kinds = {c["kind"] for c in changed["changes"]}
    assert kinds & {"deposit", "withdrawal"}
    commands = sum(1 for c in changed["changes"] if c["kind"] != "loan_past_due")
    assert httpx.get(server.url + "/_sandbox/stats").json()["audits"] == audits_before + commands
    moved = httpx.post(server.url + "/_sandbox/clock", json={"advance_days": 3}).json()
    assert moved["today"] == (TODAY + timedelta(days=3)).isoformat()


def test_fault_profile_breaks_the_api_but_not_the_admin_routes() -> None:
    with serve(FaultProfile(error_rate=1.0)) as broken:
        answer = httpx.get(
            broken.url + API + "/clients", auth=("mifos", "password"), headers={"Fineract-Platform-TenantId": "default"}
        )
        assert answer.status_code == 502
        stats = httpx.get(broken.url + "/_sandbox/stats").json()
        assert stats["faults"]["errors"] == 1


def test_dirty_profile_serves_malformed_and_duplicated_rows() -> None:
    with serve(FaultProfile(malformed_rate=0.5, duplicate_rate=0.5, seed=1)) as dirty:
        page = httpx.get(
            dirty.url + API + "/clients", auth=("mifos", "password"), headers={"Fineract-Platform-TenantId": "default"}
        ).json()
    items = page["pageItems"]
    assert page["totalFilteredRecords"] == 12 and len(items) > 12
    bad_codes = [
        c
        for c in items
        if "clientNonPersonDetails" in c
        and not uscc.is_valid(c["clientNonPersonDetails"].get("incorpNumber") or "91310115MA0000015C")
    ]
    wrong_types = [c for c in items if isinstance(c["id"], str)]
    assert bad_codes or wrong_types
