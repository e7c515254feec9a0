"""Dead-letter filters on SQLite and PostgreSQL (the "new in run N" / "repeat" split reads the first history entry
through a JSON path), the company a native payload is about, and payload masking."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crmhub.errors import InputError
from crmhub.store import Store
from crmhub.store.tables import DeadLetter
from crmhub.sync import deadletter_query as dq


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
    assert dq.payload_company({"Account_Name": "深圳测试有限公司"}) == "深圳测试有限公司"
    assert (
        dq.payload_company(
            {"Full_Name": "韩龙天", "Account_Name": {"name": "青岛测试有限公司", "id": "1"}}, stream_is_contact=True
        )
        == "青岛测试有限公司"
    )
    assert (
        dq.payload_company({"name": "李四", "account_id__r": "北京测试有限公司"}, stream_is_contact=True)
        == "北京测试有限公司"
    )
    assert dq.payload_company({"name": "李四"}, stream_is_contact=True) == "李*"  # only the person: masked
    assert dq.payload_company({"name": "北京测试有限公司", "owner": ["FSUID_1"]}) == "北京测试有限公司"
    assert dq.payload_company({"displayName": "王五", "legalForm": {"id": 1, "value": "Person"}}) == "王*"
    assert dq.payload_company({"fullname": "上海测试有限公司", "legalForm": {"id": 2}}) == "上海测试有限公司"
    assert dq.payload_company({"clientName": "广州测试有限公司", "accountNo": "1"}) == "广州测试有限公司"
    assert dq.payload_company({"id": 3}) is None and dq.payload_company(None) is None


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
        }
    )
    assert masked["name"] == "测试有限公司" and masked["tel"] == "138****5678"
    assert masked["Email"] == "a***@163.com" and masked["legal_representative__c"] == "欧阳**"
    assert masked["First_Name"] == "**" and masked["Last_Name"] == "*"
    assert masked["id"] == "4970762001423233002" and masked["uscc__c"] == "91330100MA2H0XXX1X"
    assert "1234" not in masked["notes"][0]
    contact = dq.masked_payload({"name": "李四", "mobile1": "13912345678"}, stream_is_contact=True)
    assert contact == {"name": "李*", "mobile1": "139****5678"}
