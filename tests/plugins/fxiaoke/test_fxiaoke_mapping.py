"""Field resolution, industry mapping and write payloads of the Fenxiang connector (no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crmhub.errors import RecordError
from crmhub.model import Address, CorporateClient, Industry, Rating, RiskSummary, Segment
from crmhub_fxiaoke import industry, mapping
from crmhub_fxiaoke.simulator.records import describe_account

LABELS = {o.value: o.label for o in industry.OPTIONS}


def fm(overrides: dict[str, str] | None = None, describe: dict[str, Any] | None = None) -> mapping.FieldMap:
    return mapping.resolve(mapping.ACCOUNT_DEFAULTS, overrides or {}, describe or describe_account(), "AccountObj")


@pytest.mark.parametrize(
    ("value", "code", "flagged"),
    [
        ("2", "J", False),
        ("19", "C39", False),
        ("18", "I65", False),
        ("5", "L72", False),
        ("1", None, True),
        ("6", None, True),
        ("12", None, True),
        ("other", None, True),
        ("99", None, True),
        (None, None, False),
        ("", None, False),
    ],
)
def test_industry_option_to_gbt(value: Any, code: str | None, flagged: bool) -> None:
    verdict = industry.map_option(value, LABELS, {})
    assert verdict.code == code and bool(verdict.flag) == flagged


def test_industry_overrides_by_value_or_label_and_ambiguity_text() -> None:
    assert industry.map_option("1", LABELS, {"1": "I65"}).code == "I65"
    assert industry.map_option("1", LABELS, {"IT/通信/电子/互联网": ["I64"]}).code == "I64"
    flag = industry.map_option("1", LABELS, {}).flag or ""
    assert "I or C39" in flag and "not guessed" in flag
    assert industry.map_option(["2", "3"], LABELS, {}).flag  # select_many with two values is a doubt


def test_write_side_picks_only_unambiguous_options() -> None:
    assert industry.option_for_code("C3110", LABELS) == "22"
    assert industry.option_for_code("C3911", LABELS) == "19"
    assert industry.option_for_code("C1310", LABELS) == "8"  # generic manufacturing
    assert industry.option_for_code("I", LABELS) is None  # only the lumped option covers section I
    assert industry.option_for_code("T9700", LABELS) is None


def test_metals_options_follow_gbt_4754() -> None:
    """Issue 13 item 11: 钢铁/冶金 is C31 (黑色金属冶炼和压延加工业) or C32 (有色金属…): a review doubt when read,
    the right option when a C31 or C32 company is written; labels naming one of them map to it."""
    lumped = industry.map_option("22", LABELS, {})
    assert lumped.code is None and "C31 or C32" in (lumped.flag or "")
    assert industry.map_option("钢铁", {}, {}).code == "C31"
    assert industry.map_option("有色金属", {}, {}).code == "C32"
    assert industry.map_option("冶金", {}, {}).flag
    assert industry.option_for_code("C3110", LABELS) == industry.option_for_code("C3216", LABELS) == "22"
    assert industry.option_for_code("C2614", LABELS) == "21"  # 化工, not the generic 生产/加工/制造


def test_every_default_code_is_a_gbt_4754_code_whose_name_fits_the_label() -> None:
    from crmhub.model.industry import labels, normalize_code

    for label, codes in industry.DEFAULT_LABEL_MAP.items():
        for code in codes:
            assert normalize_code(code) == code, (label, code)
    assert labels("C31")[0] == "黑色金属冶炼和压延加工业" and labels("C32")[0].startswith("有色金属冶炼")


def test_missing_custom_field_is_found_by_label() -> None:
    describe = describe_account("field_a1B2c__c")
    resolved = fm(describe=describe)
    assert resolved.api("uscc") == "field_a1B2c__c" and "统一社会信用代码" in resolved.warnings[0]
    explicit = fm({"uscc": "field_a1B2c__c"}, describe)
    assert explicit.api("uscc") == "field_a1B2c__c" and not explicit.warnings
    describe["fields"].pop("field_a1B2c__c")
    gone = fm(describe=describe)
    assert gone.api("uscc") is None and "not mapped" in gone.warnings[0]


def row(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "_id": "65c0824dadfd2b25bcf8d37c",
        "name": "北京星河科技有限公司",
        "last_modified_time": 1714000123456,
        "owner": ["FSUID_1"],
        "owner__r": {"name": "王伟", "email": "ww@bank.example.cn"},
    }
    base.update(fields)
    return base


def test_account_mapping() -> None:
    client = mapping.account(
        row(
            uscc__c="9111 0000 6000 3734 1L",
            tel="010-12345678",
            url="https://x.cn",
            province="北京市",
            city="北京市",
            district="海淀区",
            address="中关村大街1号",
            industry="19",
            legal_representative__c="张三",
        ),
        fm(),
        {},
    )
    assert client.uscc == "91110000600037341L" and client.phone == "010-12345678" and client.website == "https://x.cn"
    assert client.industry is not None and client.industry.code == "C39"
    assert client.registered_address == Address(
        province="北京市", city="北京市", district="海淀区", street="中关村大街1号"
    )
    assert client.relationship_manager is not None and client.relationship_manager.email == "ww@bank.example.cn"
    assert client.legal_representative is not None and client.legal_representative.name == "张三"
    assert client.review_flags == []


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"name": None}, "name", "missing"),
        ({"name": "   "}, "name", "blank"),
        ({"name": 20240101}, "name", "expected text"),
        ({"tel": {"x": 1}}, "tel", "expected text"),
    ],
)
def test_account_rejections_name_the_field(fields: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(RecordError) as info:
        mapping.account(row(**fields), fm(), {})
    assert info.value.field == field and words in info.value.message


@pytest.mark.parametrize(
    ("code", "kind"), [("91110000600037342L", "uscc_check"), ("91110000ABCDEFGHIO", "uscc_format")]
)
def test_bad_uscc_keeps_the_client_with_a_finding(code: str, kind: str) -> None:
    """Issue 13 item 9: no rejection; the code is kept unverified and flagged."""
    client = mapping.account(row(uscc__c=code), fm(), {})
    assert client.uscc is None and client.uscc_unverified == code and [f.kind for f in client.data_quality] == [kind]


def test_field_override_table_applies() -> None:
    resolved = fm({"phone": "fax__c"})
    client = mapping.account(row(fax__c="021-1", tel="010-2"), resolved, {})
    assert client.phone == "021-1" and "fields.phone = 'fax__c' is not in describe" in resolved.warnings[0]


def test_write_payload() -> None:
    risk = RiskSummary(rating=Rating.BB, score=540, segment=Segment.HIGH, assessed_at=datetime.now(UTC))
    client = CorporateClient(
        name="上海宝钢测试有限公司", uscc="91310000631696382C", industry=Industry(code="I"), risk=risk
    )
    payload, skipped = mapping.account_payload(client, {"name", "uscc", "industry", "risk"}, fm(), {})
    assert payload == {
        "name": "上海宝钢测试有限公司",
        "uscc__c": "91310000631696382C",
        "risk_rating__c": "BB",
        "risk_segment__c": "high",
    }
    assert "industry" in skipped and "GB/T I" in skipped["industry"]
    only_risk, _ = mapping.account_payload(client, {"risk"}, fm(), {})
    assert set(only_risk) == {"risk_rating__c", "risk_segment__c"}


def test_contact_mapping() -> None:
    contact_fm = mapping.resolve(mapping.CONTACT_DEFAULTS, {}, None, "ContactObj")
    contact = mapping.contact(
        {"_id": "c1", "name": "李娜", "account_id": "a1", "mobile1": "13800001111", "job_title": "财务总监"}, contact_fm
    )
    assert contact.client_source_id == "a1" and contact.mobile == "13800001111" and contact.title == "财务总监"
    with pytest.raises(RecordError):
        mapping.contact({"_id": "c2", "account_id": "a1"}, contact_fm)


def test_written_risk_is_read_back_for_echo_recognition() -> None:
    """What account_payload writes for ``risk``, account() reads back as the same rating and segment."""
    risk = RiskSummary(rating=Rating.BB, segment=Segment.HIGH)
    client = CorporateClient(name="上海宝钢测试有限公司", uscc="91310000631696382C", risk=risk)
    payload, _ = mapping.account_payload(client, {"risk"}, fm(), {})
    back = mapping.account(row(**payload), fm(), {})
    assert back.risk == risk
    assert mapping.account(row(risk_rating__c="BB", risk_segment__c="高风险"), fm(), {}).risk == risk
    assert mapping.account(row(risk_rating__c="ZZ", risk_segment__c="high"), fm(), {}).risk is None
    assert mapping.account(row(), fm(), {}).risk is None


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"name": {"a": 1}}, "name", "expected text, got an object"),
        ({"tel": ["1", "2"]}, "tel", "expected text, got a list"),
        ({"industry": {"value": "2"}}, "industry", "expected a picklist option, got an object"),
        ({"industry": [{"value": "2"}]}, "industry", "expected a picklist option, got an object"),
        ({"owner__r": {"name": {"x": 1}}}, "owner__r.name", "expected text, got an object"),
        ({"owner__r": {"name": "王", "email": ["a@b.cn"]}}, "owner__r.email", "expected text, got a list"),
        ({"address": "路" * 501}, "address", "501 characters, at most 500 allowed"),
    ],
)
def test_wrong_shapes_and_over_long_values_name_the_tenant_field(
    changes: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(RecordError) as caught:
        mapping.account({"_id": "a1", "name": "甲公司", **changes}, fm(), {})
    assert caught.value.field == field and words in caught.value.message, (caught.value.field, caught.value.message)
    assert "{'" not in caught.value.message


def test_fenxiang_values_are_cleaned() -> None:
    client = mapping.account(
        {"_id": "a1", "name": "\u202e甲\x00公司\x1b[0m", "city": "杭州\x9b2J", "owner__r": {"name": "王\x00五"}},
        fm(),
        {},
    )
    assert client.name == "甲公司" and client.registered_address is not None
    assert client.registered_address.city == "杭州"
    assert client.relationship_manager is not None and client.relationship_manager.name == "王五"
