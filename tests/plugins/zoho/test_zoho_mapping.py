"""Mapping Zoho ↔ canonical without HTTP: override table, industry table, contacts, outbound shapes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crmhub.contract import OutboundRecord, RejectedRecord, SourceRecord
from crmhub.errors import ConfigError
from crmhub.model import Contact, CorporateClient
from crmhub_zoho.config import ZohoConfig
from crmhub_zoho.industry import classify, picklist_value_for
from crmhub_zoho.mapping import ZohoMapper


def mapper(**overrides: Any) -> ZohoMapper:
    return ZohoMapper(
        ZohoConfig.model_validate(
            {
                "plugin": "zoho_crm",
                "accounts_url": "https://accounts.zoho.eu",
                "client_id": "c",
                "client_secret": "s",
                "refresh_token": "r",
                **overrides,
            }
        )
    )


def test_override_table_reads_custom_fields_and_rejects_unknown_keys() -> None:
    m = mapper(fields={"accounts": {"uscc": "Tax_ID", "industry": "GB_T_4754", "legal_representative": "Legal_Rep"}})
    assert "Tax_ID" in m.read_fields("accounts") and "USCC" not in m.read_fields("accounts")
    out = m.account(
        {
            "id": "1",
            "Account_Name": "甲",
            "Tax_ID": "91110000600037341L",
            "GB_T_4754": "C3911",
            "Legal_Rep": "张三",
            "Modified_Time": "2024-01-15T15:26:49+05:30",
        }
    )
    assert isinstance(out, SourceRecord) and isinstance(out.data, CorporateClient)
    assert out.data.uscc == "91110000600037341L" and out.data.industry is not None
    assert out.data.industry.code == "C3911" and out.data.legal_representative is not None
    assert out.modified_at is not None and out.modified_at.utcoffset() == timedelta(hours=5, minutes=30)
    kept = m.account({"id": "2", "Account_Name": "乙", "Tax_ID": "91110000600037342L"})  # issue 13 item 9
    assert isinstance(kept, SourceRecord) and isinstance(kept.data, CorporateClient) and kept.data.uscc is None
    assert kept.data.uscc_unverified == "91110000600037342L" and kept.data.data_quality[0].kind == "uscc_check"
    bad = m.account({"id": "3", "Account_Name": "丙", "Tax_ID": "91110000600037341L", "Employees": "约300人"})
    assert isinstance(bad, RejectedRecord) and bad.field == "Employees" and bad.reason.startswith("Employees:")
    with pytest.raises(ConfigError) as caught:
        mapper(fields={"accounts": {"favourite_colour": "Colour"}, "leads": {}})
    assert {p for p, _ in caught.value.problems} == {"fields.accounts.favourite_colour", "fields.leads"}


def test_industry_table_never_guesses() -> None:
    assert classify("ERP (Enterprise Resource Planning)").code == "I65"
    assert classify("Optical Networking").code == "C39"
    assert classify("Financial Services").code == "J"
    assert classify("-None-").code is None and classify("-None-").flag is None
    gov = classify("Government/Military")
    assert gov.code is None and gov.flag is not None and "ambiguous" in gov.flag
    small = classify("Small/Medium Enterprise")
    assert small.code is None and small.flag is not None and "size" in small.flag
    odd = classify("Banking")
    assert odd.code is None and odd.flag is not None and "industry_map" in odd.flag
    assert classify("Banking", {"Banking": "J66"}).code == "J66"
    values = {picklist_value_for("I63", n) for n in range(400)}
    assert {"Service Provider", "Wireless Industry", "Communications", "-None-"} <= values


def test_contacts_and_outbound_shapes() -> None:
    m = mapper()
    out = m.contact(
        {
            "id": "9",
            "First_Name": "芳",
            "Last_Name": "王",
            "Email": "w@x.cn",
            "Mobile": "13800000000",
            "Account_Name": {"name": "甲", "id": "1"},
            "Modified_Time": "2024-01-15T15:26:49+08:00",
        }
    )
    assert isinstance(out, SourceRecord) and isinstance(out.data, Contact)
    assert out.data.name == "王芳" and out.data.client_source_id == "1"
    western = m.contact({"id": "10", "First_Name": "Jean", "Last_Name": "Lafleur", "Account_Name": "1"})
    assert isinstance(western, SourceRecord) and western.data.name == "Jean Lafleur"  # type: ignore[union-attr]
    missing = m.contact({"id": "11", "First_Name": "无姓"})
    assert isinstance(missing, RejectedRecord) and missing.field == "Last_Name"
    contact = OutboundRecord(key="c", data=Contact(name="王芳", email="w@x.cn", client_source_id="1"))
    assert m.outbound("contacts", contact) == {
        "Last_Name": "王",
        "First_Name": "芳",
        "Email": "w@x.cn",
        "Account_Name": {"id": "1"},
    }
    client = CorporateClient(name="甲", uscc="91110000600037341L", industry="I65", phone="010-1")
    body = m.outbound(
        "accounts", OutboundRecord(key="a", source_id="1", data=client, fields=("name", "industry", "phone"))
    )
    assert body == {"id": "1", "Account_Name": "甲", "USCC": "91110000600037341L", "Phone": "010-1"}  # no guessed
    custom = mapper(fields={"accounts": {"industry": "GB_T_4754"}})
    assert custom.outbound("accounts", OutboundRecord(key="a", data=client, fields=("industry",)))["GB_T_4754"] == "I65"


def test_written_risk_reads_back_and_writable_fields() -> None:
    """Risk_Rating/Risk_Segment written by crmhub come back as the same canonical risk (echo recognised);
    industry is writable only when mapped to a custom GB/T field, never into the vendor picklist."""
    from crmhub.model import Rating, RiskSummary, Segment

    m = mapper()
    risk = RiskSummary(rating=Rating.CCC, segment=Segment.HIGH)
    out = m.outbound(
        "accounts",
        OutboundRecord(
            key="k", source_id="4970762000000326001", data=CorporateClient(name="甲公司", risk=risk), fields=("risk",)
        ),
    )
    assert "Risk_Rating" in m.read_fields("accounts") and "Risk_Segment" in m.read_fields("accounts")
    back = m.account(
        {
            "id": "4970762000000326001",
            "Account_Name": "甲公司",
            "Modified_Time": "2026-11-30T09:00:00+08:00",
            **{k: v for k, v in out.items() if k != "id"},
        }
    )
    assert isinstance(back, SourceRecord) and isinstance(back.data, CorporateClient) and back.data.risk == risk
    odd = m.account(
        {
            "id": "1",
            "Account_Name": "乙",
            "Modified_Time": "2026-11-30T09:00:00+08:00",
            "Risk_Rating": "Hot",
            "Risk_Segment": "低风险",
        }
    )
    assert isinstance(odd, SourceRecord) and isinstance(odd.data, CorporateClient) and odd.data.risk is None
    assert "industry" not in m.writable() and {"uscc", "risk"} <= m.writable()
    assert "industry" in mapper(fields={"accounts": {"industry": "GB_T_4754"}}).writable()


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"Account_Name": {"a": {"b": 1}}}, "Account_Name", "expected text, got an object"),
        ({"Phone": ["0571", "8888"]}, "Phone", "expected text, got a list"),
        ({"Industry": {"value": "银行"}}, "Industry", "expected text, got an object"),
        ({"Billing_City": ["杭州"]}, "Billing_City", "expected text, got a list"),
        ({"Owner": {"name": {"x": 1}, "id": "1"}}, "Owner.name", "expected text, got an object"),
        ({"Employees": {"n": 5}}, "Employees", "expected an integer, got an object"),
        ({"Annual_Revenue": [1, 2]}, "Annual_Revenue", "expected a number, got a list"),
        ({"Account_Name": "长" * 301}, "Account_Name", "301 characters, at most 300 allowed"),
        ({"Owner": {"name": "王" * 301}}, "Owner", "301 characters, at most 300 allowed"),
    ],
)
def test_wrong_shapes_and_over_long_values_are_rejected_with_the_zoho_field(
    changes: dict[str, Any], field: str, words: str
) -> None:
    """Never a Python repr stored as text (``str({"a": …})``): the record is a dead letter naming the field."""
    out = mapper().account({"id": "1", "Account_Name": "甲公司", **changes})
    assert isinstance(out, RejectedRecord), out
    assert out.field == field and words in out.reason and "{'" not in out.reason, (out.field, out.reason)


def test_control_characters_and_escapes_are_removed_from_zoho_values() -> None:
    out = mapper().account(
        {"id": "1", "Account_Name": "\x1b[1m甲\x00公司\x1b[0m", "Billing_City": "杭\u202e州", "Phone": "0571\x07-1"}
    )
    assert isinstance(out, SourceRecord) and isinstance(out.data, CorporateClient)
    assert out.data.name == "甲公司" and out.data.phone == "0571-1"
    assert out.data.registered_address is not None and out.data.registered_address.city == "杭州"
    contact = mapper().contact({"id": {"x": 1}, "Last_Name": "王"})
    assert isinstance(contact, RejectedRecord) and contact.source_id is None and contact.field == "id"
    lookup = mapper().contact({"id": "5", "Last_Name": "王", "Account_Name": {"id": {"nested": 1}}})
    assert isinstance(lookup, RejectedRecord) and lookup.field == "Account_Name.id"


def test_over_long_contact_name_names_full_name() -> None:
    out = mapper().contact({"id": "5", "Last_Name": "王", "Full_Name": "王" * 301})
    assert isinstance(out, RejectedRecord) and out.field == "Full_Name" and "301 characters" in out.reason
