"""Edge cases of the ledger client and mapping with respx: what the simulator never sends by default."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from ledger_world import code

from conftest import config_for
from crmhub.contract import Cursor, PluginContext
from crmhub.errors import AuthError, FatalError
from crmhub.model import LoanClass
from crmhub_ledger import mapping
from crmhub_ledger.connector import LedgerConnector
from crmhub_ledger.fineract import parse_date

BASE = "https://ledger.test/fineract-provider/api/v1"
USCC = code(1)
MARK = {"id": 5, "at": "2026-10-15 09:00:00"}


def connector(**overrides: Any) -> LedgerConnector:
    cfg = config_for("https://ledger.test", retry_base_delay=0.01, **overrides)
    return LedgerConnector(cfg, PluginContext(name="ledger"))


def audit_page(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"totalFilteredRecords": len(rows), "pageItems": list(rows)}


async def pull_all(conn: LedgerConnector, stream: str, cursor: Cursor | None) -> tuple[list[Any], list[Any], Any]:
    records: list[Any] = []
    rejected: list[Any] = []
    async for page in conn.pull(stream, cursor):
        records += page.records
        rejected += page.rejected
        cursor = page.next_cursor
    return records, rejected, cursor


def test_dates_arrive_as_arrays() -> None:
    assert str(parse_date([2026, 1, 31])) == "2026-01-31"
    assert str(parse_date("2026-01-31")) == "2026-01-31"
    with pytest.raises(ValueError, match="month must be"):
        parse_date([2026, 13, 1])


@respx.mock
async def test_single_read_without_details_keeps_the_known_uscc() -> None:
    listed = {
        "id": 7,
        "fullname": "上海星河科技有限公司",
        "legalForm": {"id": 2, "value": "ENTITY"},
        "activationDate": [2019, 3, 1],
        "externalId": "CRM-7",
        "clientNonPersonDetails": {"incorpNumber": USCC},
    }
    single = {k: v for k, v in listed.items() if k != "clientNonPersonDetails"}
    respx.get(f"{BASE}/clients").mock(
        return_value=httpx.Response(200, json={"totalFilteredRecords": 1, "pageItems": [listed]})
    )
    audits = respx.get(f"{BASE}/audits")
    audits.side_effect = [
        httpx.Response(200, json=audit_page({"id": 5, "madeOnDate": [2026, 10, 15, 9, 0, 0]})),
        httpx.Response(200, json=audit_page({"id": 6, "madeOnDate": [2026, 10, 15, 10, 0, 0]})),
        httpx.Response(
            200,
            json=audit_page(
                {
                    "id": 6,
                    "entityName": "CLIENT",
                    "actionName": "UPDATE",
                    "clientId": 7,
                    "madeOnDate": [2026, 10, 15, 10, 0, 0],
                },
                {"id": 5, "entityName": "CLIENT", "clientId": 7},
            ),
        ),
    ]
    respx.get(f"{BASE}/clients/7").mock(return_value=httpx.Response(200, json=single))
    identifiers = respx.get(f"{BASE}/clients/7/identifiers").mock(return_value=httpx.Response(200, json=[]))
    async with connector() as conn:
        first, _, cursor = await pull_all(conn, "clients", None)
        assert first[0].data.uscc == USCC and cursor["phase"] == "audit"
        again, _, cursor = await pull_all(conn, "clients", cursor)
    assert again[0].data.uscc == USCC and again[0].raw["_crmhub"]["uscc_source"] == "previous read"
    assert identifiers.called and cursor["mark"]["id"] == 6


@respx.mock
async def test_identifier_document_type_supplies_the_uscc() -> None:
    item = {"id": 3, "fullname": "某公司", "legalFormId": 2, "activationDate": [2020, 1, 1]}
    respx.get(f"{BASE}/audits").mock(return_value=httpx.Response(200, json=audit_page()))
    respx.get(f"{BASE}/clients").mock(
        return_value=httpx.Response(200, json={"totalFilteredRecords": 1, "pageItems": [item]})
    )
    respx.get(f"{BASE}/clients/3/identifiers").mock(
        return_value=httpx.Response(
            200,
            json=[
                {"documentType": {"id": 1, "name": "Passport"}, "documentKey": "E123"},
                {"documentType": {"id": 21, "name": "统一社会信用代码 (USCC)"}, "documentKey": USCC},
            ],
        )
    )
    async with connector() as conn:
        records, _, _ = await pull_all(conn, "clients", None)
    assert records[0].data.uscc == USCC and records[0].raw["_crmhub"]["uscc_source"] == "identifiers.documentKey"


@respx.mock
async def test_invalid_uscc_and_persons() -> None:
    bad = {
        "id": 1,
        "fullname": "坏代码公司",
        "legalForm": {"id": 2},
        "activationDate": [2020, 1, 1],
        "clientNonPersonDetails": {"incorpNumber": "91110000600037342L"},
    }
    person = {"id": 2, "firstname": "张", "lastname": "三", "legalForm": {"id": 1}}
    respx.get(f"{BASE}/audits").mock(return_value=httpx.Response(200, json=audit_page()))
    respx.get(f"{BASE}/clients").mock(
        return_value=httpx.Response(200, json={"totalFilteredRecords": 2, "pageItems": [bad, person]})
    )
    async with connector() as conn:
        records, rejected, _ = await pull_all(conn, "clients", None)
    assert rejected == []  # a USCC failing its check keeps the client, flagged (issue 13 item 9)
    [kept] = records
    assert kept.data.uscc is None and kept.data.uscc_unverified == "91110000600037342L"
    assert "expected 'P'" in kept.data.data_quality[0].message
    assert kept.raw["_crmhub"]["uscc_source"] == "clientNonPersonDetails.incorpNumber"


def test_a_valid_code_elsewhere_wins_over_a_mistyped_incorp_number() -> None:
    from crmhub_ledger import mapping
    from crmhub_ledger.config import LedgerConfig

    item = {
        "id": 1,
        "fullname": "坏代码公司",
        "legalForm": {"id": 2},
        "activationDate": [2020, 1, 1],
        "externalId": "91110000600037341L",
        "clientNonPersonDetails": {"incorpNumber": "91110000600037342L"},
    }
    config = LedgerConfig.model_validate(
        {"plugin": "core_ledger", "base_url": "http://127.0.0.1:1", "username": "u", "password": "p"}
    )
    resolution = mapping.resolve_uscc(item, None, config)
    assert (resolution.value, resolution.source, resolution.unverified) == (
        "91110000600037341L",
        "externalId",
        "91110000600037342L",
    )
    client = mapping.map_client(item, resolution, config)
    assert client.uscc == "91110000600037341L" and client.uscc_unverified is None
    assert [f.kind for f in client.data_quality] == ["uscc_check"]


@respx.mock
async def test_every_list_call_sends_an_explicit_positive_limit_and_the_tenant() -> None:
    respx.get(f"{BASE}/audits").mock(return_value=httpx.Response(200, json=audit_page()))
    route = respx.get(f"{BASE}/savingsaccounts").mock(
        return_value=httpx.Response(200, json={"totalFilteredRecords": 0, "pageItems": []})
    )
    async with connector(page_size=50, tenant_id="bank1") as conn:
        await pull_all(conn, "accounts", None)
    request = route.calls.last.request
    assert request.url.params["limit"] == "50" and request.url.params["offset"] == "0"
    assert request.headers["Fineract-Platform-TenantId"] == "bank1"
    assert request.headers["Authorization"].startswith("Basic ")


@respx.mock
async def test_last_day_reread_does_not_repeat_transactions() -> None:
    cursor = {"phase": "audit", "mark": MARK, "day": "2026-10-15", "seen": {"42": [1005, 739904]}}
    audits = respx.get(f"{BASE}/audits")
    audits.side_effect = [
        httpx.Response(200, json=audit_page({"id": 8, "madeOnDate": [2026, 10, 15, 11, 0, 0]})),
        httpx.Response(
            200,
            json=audit_page(
                {
                    "id": 8,
                    "entityName": "SAVINGSACCOUNT",
                    "actionName": "DEPOSIT",
                    "url": "/savingsaccounts/42/transactions?command=deposit",
                }
            ),
        ),
    ]
    respx.get(f"{BASE}/savingsaccounts/42").mock(return_value=httpx.Response(200, json={"id": 42, "clientId": 7}))

    def tx(ident: int) -> dict[str, Any]:
        return {
            "id": ident,
            "entryType": "CREDIT",
            "amount": 100,
            "currency": {"code": "CNY"},
            "submittedOnDate": [2026, 10, 15],
            "date": [2026, 10, 15],
            "transactionType": {"id": 1},
        }

    search = respx.get(f"{BASE}/savingsaccounts/42/transactions/search").mock(
        return_value=httpx.Response(200, json={"total": 4, "content": [tx(1004), tx(1005), tx(1006), tx(1006)]})
    )
    async with connector() as conn:
        records, _, after = await pull_all(conn, "transactions", cursor)
    assert [r.source_id for r in records] == ["42:1006"]
    assert records[0].data.client_source_id == "7"
    params = search.calls.last.request.url.params
    assert params["fromSubmittedDate"] == "2026-10-15" and params["dateFormat"] == "yyyy-MM-dd"
    assert params["orderBy"] == "id" and params["sortOrder"] == "ASC"
    assert after["seen"]["42"][0] == 1006 and after["mark"]["id"] == 8


@respx.mock
async def test_401_is_an_auth_error_and_a_missing_tenant_is_fatal() -> None:
    respx.get(f"{BASE}/audits").mock(return_value=httpx.Response(401, json={"errors": []}))
    async with connector() as conn:
        with pytest.raises(AuthError) as caught:
            await pull_all(conn, "clients", None)
    assert "password" not in str(caught.value).replace("check username and password", "")
    respx.get(f"{BASE}/audits").mock(
        return_value=httpx.Response(
            400,
            json={
                "errors": [
                    {
                        "developerMessage": (
                            "No tenant identifier found: Add request header of 'Fineract-Platform-TenantId'"
                        ),
                        "parameterName": "Fineract-Platform-TenantId",
                    }
                ]
            },
        )
    )
    async with connector() as conn:
        with pytest.raises(FatalError, match="tenant") as fatal:
            await pull_all(conn, "clients", None)
    assert fatal.value.hint and "tenant_id" in fatal.value.hint


@respx.mock
async def test_transient_failures_are_retried_and_counted() -> None:
    route = respx.get(f"{BASE}/audits")
    route.side_effect = [httpx.Response(503), httpx.ConnectError("boom"), httpx.Response(200, json=audit_page())]
    respx.get(f"{BASE}/loans").mock(return_value=httpx.Response(200, json={"totalFilteredRecords": 0, "pageItems": []}))
    async with connector() as conn:
        await pull_all(conn, "loans", None)
        assert conn.context.metrics.retries == 2


@respx.mock
async def test_vanished_row_becomes_a_tombstone() -> None:
    audits = respx.get(f"{BASE}/audits")
    audits.side_effect = [
        httpx.Response(200, json=audit_page({"id": 9, "madeOnDate": [2026, 10, 15, 12, 0, 0]})),
        httpx.Response(200, json=audit_page({"id": 9, "entityName": "CLIENT", "clientId": 77})),
    ]
    respx.get(f"{BASE}/clients/77").mock(return_value=httpx.Response(404, json={"errors": []}))
    async with connector() as conn:
        records, _, _ = await pull_all(conn, "clients", {"phase": "audit", "mark": MARK})
    assert records[0].deleted and records[0].source_id == "77"


def test_loan_class_is_the_worse_of_floor_and_ledger_statement() -> None:
    cfg = config_for("https://ledger.test")
    base = {
        "id": 1,
        "clientId": 2,
        "principal": 100,
        "currency": {"code": "CNY"},
        "summary": {},
        "delinquent": {"pastDueDays": 10},
    }
    assert mapping.map_loan(base, None, cfg).classification is LoanClass.SPECIAL_MENTION
    stated = {**base, "delinquencyRange": {"classification": "可疑 doubtful"}}
    assert mapping.map_loan(stated, None, cfg).classification is LoanClass.DOUBTFUL
    assert mapping.map_loan({**base, "chargedOff": True}, None, cfg).classification is LoanClass.LOSS
    milder = {**base, "delinquent": {"pastDueDays": 100}, "delinquencyRange": {"classification": "关注"}}
    assert mapping.map_loan(milder, None, cfg).classification is LoanClass.SUBSTANDARD
    with pytest.raises(mapping.MappingProblem, match="pastDueDays"):
        mapping.map_loan({**base, "delinquent": {"pastDueDays": "ten"}}, None, cfg)


def test_loan_in_a_currency_that_is_no_iso_code_is_a_mapping_problem_naming_the_field() -> None:
    """It once escaped as a pydantic ValidationError (built outside the try) and stopped the stream instead of
    going to the dead-letter table."""
    cfg = config_for("https://ledger.test")
    loan = {"id": 1, "clientId": 2, "principal": 100, "currency": {"code": "12345"}, "summary": {}}
    with pytest.raises(mapping.MappingProblem) as caught:
        mapping.map_loan(loan, None, cfg)
    assert caught.value.field == "currency"
    assert "principal" in caught.value.reason and "'12345' is not an ISO 4217 code" in caught.value.reason


def test_industry_from_main_business_line() -> None:
    cfg = config_for("https://ledger.test", industry_map={"77": "F51"})
    assert mapping.map_industry({"mainBusinessLine": {"id": 40, "name": "C39 计算机"}}, cfg)[0].code == "C39"
    assert mapping.map_industry({"mainBusinessLine": {"id": 77, "name": "批发"}}, cfg)[0].code == "F51"
    industry, review = mapping.map_industry({"mainBusinessLine": {"id": 5, "name": "其他行业"}}, cfg)
    assert industry is None and review and "industry_map" in review


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"fullname": {"a": 1}, "displayName": None}, "fullname"),
        ({"externalId": {"a": 1}}, "externalId"),
        ({"accountNo": ["1"]}, "accountNo"),
        ({"mobileNo": {"n": "138"}}, "mobileNo"),
        ({"officeName": ["总行"]}, "officeName"),
        ({"fullname": "长" * 301}, "fullname"),
    ],
)
def test_ledger_client_wrong_shapes_are_mapping_problems_naming_the_field(changes: dict[str, Any], field: str) -> None:
    """No ``str(...)`` of an object ends up as text: the row is rejected with the Fineract field named."""
    cfg = config_for("https://ledger.test")
    item = {"id": 7, "fullname": "甲公司", "accountNo": "000000007", "legalForm": {"id": 2}, **changes}
    with pytest.raises(mapping.MappingProblem) as caught:
        mapping.map_client(item, mapping.UsccResolution(None, "missing"), cfg)
    assert caught.value.field == field and "{'" not in caught.value.reason, (caught.value.field, caught.value.reason)


def test_ledger_client_values_are_cleaned_and_transaction_text_is_checked() -> None:
    cfg = config_for("https://ledger.test")
    client = mapping.map_client(
        {"id": 7, "fullname": "甲\x00公司\x1b[0m", "officeName": "总行\x07", "externalId": "EXT\x00-1"},
        mapping.UsccResolution(None, "missing"),
        cfg,
    )
    assert client.name == "甲公司" and client.branch == "总行"
    assert client.external_ids["ledger_external_id"] == ["EXT-1"]
    item = {
        "id": 1,
        "submittedOnDate": [2026, 1, 5],
        "amount": 10,
        "entryType": "CREDIT",
        "transactionType": {"id": 99, "value": {"x": 1}},
    }
    with pytest.raises(mapping.MappingProblem) as caught:
        mapping.map_transaction(item, 3, "7", cfg)
    assert caught.value.field == "transactionType.value"
