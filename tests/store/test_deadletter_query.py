"""Dead-letter filters on SQLite and PostgreSQL (the "new in run N" / "repeat" split reads the first history entry
through a JSON path), the company a native payload is about (from the keys the connectors declare), and payload
masking."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crmhub.contract import PayloadNames
from crmhub.errors import InputError
from crmhub.plugins import load
from crmhub.store import Store
from crmhub.store import deadletter_query as dq
from crmhub.store.tables import DeadLetter

NAMES = dq.payload_names(cls.payload_names for cls in load().connectors.values())
"""What the console reads payloads with: every installed connector's keys, then the generic ones."""


def _letter(
    s: Any,
    runs: list[int],
    *,
    connector: str = "zoho",
    stream: str = "accounts",
    status: str = "open",
    reason: str = "Account_Name: missing",
    history: bool = True,
) -> int:
    now = datetime.now(UTC)
    row = DeadLetter(
        run_id=runs[-1],
        direction="in",
        connector=connector,
        stream=stream,
        source_id=f"s{runs}{status}",
        reason=reason,
        field=None,
        payload={},
        status=status,
        attempts=len(runs),
        created_at=now,
        updated_at=now,
        history=[{"at": now.isoformat(), "event": "rejected", "reason": reason, "run_id": r} for r in runs]
        if history
        else None,
    )
    s.add(row)
    s.flush()
    return row.id


def _ids(store: Store, **filters: str) -> set[int]:
    with store.begin() as s:
        return {r.id for r in s.scalars(dq.listing(dq.DeadLetterFilter.parse(**filters)))}


def test_filters_new_and_repeat(store: Store) -> None:
    with store.begin() as s:
        new1 = _letter(s, [1])
        new2 = _letter(s, [2], connector="fxiaoke", reason="AccountObj x: owner: expected text, got a list")
        repeat2 = _letter(s, [1, 2])
        legacy2 = _letter(s, [2], history=False)  # written before histories were kept: its run is its first
        done = _letter(s, [2], status="resolved")
    assert _ids(store) == {new1, new2, repeat2, legacy2}
    assert _ids(store, status="all") == {new1, new2, repeat2, legacy2, done}
    assert _ids(store, run="2") == {new2, repeat2, legacy2}
    assert _ids(store, run="2", seen="new") == {new2, legacy2}
    assert _ids(store, run="2", seen="repeat") == {repeat2}
    assert _ids(store, run="1") == {new1, repeat2}
    assert _ids(store, run="1", seen="new") == {new1, repeat2}
    assert _ids(store, seen="repeat") == {repeat2}
    assert _ids(store, seen="new") == {new1, new2, legacy2}
    assert _ids(store, connector="fxiaoke") == {new2}
    assert _ids(store, reason="OWNER") == {new2}
    assert _ids(store, reason="%") == set()
    with store.begin() as s:
        assert dq.run_counts(s, 2) == (3, 1)  # the resolved one was new in run 2 too
        assert dq.count(s, dq.DeadLetterFilter.parse(run="2")) == 3
        assert dq.matching_ids(s, dq.DeadLetterFilter.parse(status="all").only_open(), 2) == [new1, new2]
    assert dq.DeadLetterFilter.parse(status="resolved").only_open().status == "resolved"


@pytest.mark.parametrize("bad", [{"status": "closed"}, {"run": "2x"}, {"run": "-1"}, {"seen": "old"}])
def test_bad_filters_say_what_is_allowed(bad: dict[str, str]) -> None:
    with pytest.raises(InputError):
        dq.DeadLetterFilter.parse(**bad)


def test_the_company_a_payload_is_about() -> None:
    def company(payload: dict[str, Any] | None, stream_is_contact: bool = False) -> str | None:
        return dq.payload_company(payload, names=NAMES, stream_is_contact=stream_is_contact)

    assert company({"Account_Name": "深圳测试有限公司"}) == "深圳测试有限公司"
    assert (
        company(
            {"Full_Name": "韩龙天", "Account_Name": {"name": "青岛测试有限公司", "id": "1"}}, stream_is_contact=True
        )
        == "青岛测试有限公司"
    )
    assert company({"name": "李四", "account_id__r": "北京测试有限公司"}, stream_is_contact=True) == "北京测试有限公司"
    assert company({"name": "李四"}, stream_is_contact=True) == "李*"  # only the person: masked
    assert company({"name": "北京测试有限公司", "owner": ["FSUID_1"]}) == "北京测试有限公司"
    assert company({"displayName": "王五", "legalForm": {"id": 1, "value": "Person"}}) == "王*"
    assert company({"fullname": "上海测试有限公司", "legalForm": {"id": 2}}) == "上海测试有限公司"
    assert company({"clientName": "广州测试有限公司", "accountNo": "1"}) == "广州测试有限公司"
    assert company({"id": 3}) is None and company(None) is None


def test_the_payload_is_masked() -> None:
    masked = dq.masked_payload(
        {
            "name": "测试有限公司",
            "tel": "13812345678",
            "Email": "a.person@163.com",
            "legal_representative__c": "欧阳娜娜",
            "First_Name": "龙天",
            "Last_Name": "韩",
            "owner__r": {"name": "张伟", "email": "zhangwei@bank.example"},
            "id": "4970762001423233002",
            "uscc__c": "91330100MA2H0XXX1X",
            "notes": ["call 138 1234 5678"],
        },
        names=NAMES,
    )
    assert masked["name"] == "测试有限公司" and masked["tel"] == "138****5678"
    assert masked["Email"] == "a***@163.com" and masked["legal_representative__c"] == "欧阳**"
    assert masked["First_Name"] == "**" and masked["Last_Name"] == "*"
    assert masked["id"] == "4970762001423233002" and masked["uscc__c"] == "91330100MA2H0XXX1X"
    assert "1234" not in masked["notes"][0]
    contact = dq.masked_payload({"name": "李四", "mobile1": "13912345678"}, names=NAMES, stream_is_contact=True)
    assert contact == {"name": "李*", "mobile1": "139****5678"}


def test_the_core_knows_only_generic_keys_and_the_connectors_bring_theirs() -> None:
    """Which native keys name a company is each connector's knowledge (``Connector.payload_names``): without the
    connectors' keys, Zoho's lookup, Fenxiang's ``account_id__r`` and the ledger's person test are unknown."""
    generic = dq.payload_names([])
    assert generic.company == dq.GENERIC.company and generic.is_person is None
    assert dq.payload_company({"Account_Name": "深圳测试有限公司"}, names=generic) is None
    assert dq.payload_company({"company_name": "深圳测试有限公司"}, names=generic) == "深圳测试有限公司"
    ledger_person = {"displayName": "王五", "name": "王五", "legalForm": {"id": 1, "value": "Person"}}
    assert dq.payload_company(ledger_person, names=generic) == "王五"  # not known to be a person: not masked
    assert dq.payload_company(ledger_person, names=NAMES) == "王*"
    person = {"displayName": "王五", "legalForm": {"id": 1}}  # the ledger's own-name key, of a person
    assert dq.masked_payload(person, names=NAMES)["displayName"] == "王*"
    assert dq.masked_payload(person, names=generic)["displayName"] == "王五"


def test_a_third_party_connector_contributes_its_keys() -> None:
    """Contributed keys come before the generic ones (a connector's lookup beats a generic ``company`` field), are
    not repeated, and a record is a person's when any connector says so."""
    sap = PayloadNames(company=("KUNNR_NAME", "company"), own_name=("NAME1",), is_person=lambda p: p.get("TYPE") == "1")
    crm = PayloadNames(company=("KUNNR_NAME",), own_name=("name",))
    names = dq.payload_names([sap, crm])
    assert names.company == ("KUNNR_NAME", "company", *(k for k in dq.GENERIC.company if k != "company"))
    assert names.own_name == ("name", "full_name", "NAME1")
    assert dq.payload_company({"company": "乙公司", "KUNNR_NAME": "甲公司"}, names=names) == "甲公司"
    assert dq.payload_company({"NAME1": "赵六", "TYPE": "1"}, names=names) == "赵*"
    assert dq.payload_company({"NAME1": "丙公司", "TYPE": "2"}, names=names) == "丙公司"


def test_the_bundled_connectors_declare_the_keys_the_core_used_to_hard_code() -> None:
    """The keys `crmhub.store.deadletter_query` once named itself (Zoho, Fenxiang, ledger) now come from the
    connectors; together with the generic ones they are the same set as before."""
    before_company = {
        "Account_Name", "account_id__r", "clientName", "company_name", "companyName", "company", "account_name",
        "client_name", "customer_name",
    }  # fmt: skip
    before_own = {"name", "fullname", "displayName", "Full_Name", "full_name"}
    assert set(NAMES.company) == before_company and set(NAMES.own_name) == before_own
    assert not {"Account_Name", "account_id__r", "clientName"} & set(dq.GENERIC.company)
    assert not {"fullname", "displayName", "Full_Name"} & set(dq.GENERIC.own_name)
