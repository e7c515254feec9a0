"""Text hygiene rules of the canonical model (`crmhub.model.text`) and the shared mapping rule (`crmhub.upstream`)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from crmhub import upstream
from crmhub.errors import RecordError
from crmhub.model import Contact, CorporateClient, Interaction
from crmhub.model.text import FREE_TEXT_MAX, clean_json, clean_text, is_clean


@pytest.mark.parametrize(
    ("raw", "line", "multiline"),
    [
        ("杭州\x00市", "杭州市", "杭州市"),
        ("\x1b[31;1m红\x1b[0m", "红", "红"),  # CSI colour
        ("a\x1b]0;title\x07b", "ab", "ab"),  # OSC window title ended by BEL
        ("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb", "alinkb"),  # OSC 8 hyperlink ended by ST
        ("a\x9b2Jb", "ab", "ab"),  # 8-bit CSI
        ("a\x1bcb", "ab", "ab"),  # RIS: reset the terminal
        ("\u202egnp.exe", "gnp.exe", "gnp.exe"),  # bidi override (Trojan Source)
        ("a\x07\x08\x7f\x85b", "ab", "ab"),  # BEL, BS, DEL, C1 NEL
        ("第一行\r\n第二行\r第三行", "第一行 第二行 第三行", "第一行\n第二行\n第三行"),
        ("  a\tb  ", "a b", "  a\tb  "),
        ("甲\u2028乙\u2029丙", "甲 乙 丙", "甲\n乙\n丙"),  # Unicode line/paragraph separators
        ("x\ud800y", "x\ufffdy", "x\ufffdy"),  # a lone surrogate: no UTF-8 store can encode it
        ("普通公司", "普通公司", "普通公司"),
    ],
)
def test_clean_text(raw: str, line: str, multiline: str) -> None:
    assert clean_text(raw) == line
    assert clean_text(raw, multiline=True) == multiline
    assert is_clean(clean_text(raw, multiline=True))


def test_clean_json_cleans_keys_and_nested_values_and_keeps_clean_payloads_as_they_are() -> None:
    dirty = {"Account_Name\x00": ["a\x00b", 1, None, {"c": "\x1b[2Jd"}], "n": 1.5, "ok": True}
    cleaned = clean_json(dirty)
    assert cleaned == {"Account_Name": ["ab", 1, None, {"c": "d"}], "n": 1.5, "ok": True}
    assert "\\u0000" not in json.dumps(cleaned)
    clean = {"name": "某某有限公司", "lines": "a\nb\tc", "n": [1, {"k": None}]}
    assert clean_json(clean) is clean  # the common case: nothing copied
    assert clean_json({"s": "x\ud800"}) == {"s": "x\ufffd"}


def test_names_are_cleaned_and_over_long_values_name_the_field_and_the_length() -> None:
    client = CorporateClient(
        name="\x1b[1m某某\x00有限公司\n",
        phone="0571\x00-8888",
        registered_address={"city": "\u202e杭州", "street": "路\r\n1号"},
    )
    assert client.name == "某某有限公司" and client.phone == "0571-8888"
    assert client.registered_address is not None
    assert (client.registered_address.city, client.registered_address.street) == ("杭州", "路 1号")
    with pytest.raises(ValidationError) as err:
        CorporateClient(name="长" * 301)
    assert err.value.errors()[0]["loc"] == ("name",)
    assert "301 characters, at most 300 allowed" in str(err.value)
    with pytest.raises(ValidationError) as err:
        CorporateClient(name="x", registered_address={"street": "路" * 501})
    assert err.value.errors()[0]["loc"] == ("registered_address", "street")
    with pytest.raises(ValidationError, match="name must not be blank"):
        CorporateClient(name="\x00\x1b[0m")
    with pytest.raises(ValidationError) as err:
        CorporateClient(name="x", relationship_manager={"name": "王", "user_id": "u" * 129})
    assert err.value.errors()[0]["loc"] == ("relationship_manager", "user_id")  # rm_user_id is VARCHAR(128)


@pytest.mark.parametrize("value", [{"a": 1}, ["a", "b"], ("a",)])
def test_objects_and_lists_where_text_is_expected_are_errors(value: object) -> None:
    with pytest.raises(ValidationError) as err:
        CorporateClient(name=value)  # type: ignore[arg-type]
    assert err.value.errors()[0]["loc"] == ("name",) and "expected text, got" in str(err.value)
    with pytest.raises(ValidationError, match="expected text"):
        Contact(name="x", phone=value)  # type: ignore[arg-type]


def test_sensitive_values_are_cleaned_and_still_masked() -> None:
    contact = Contact(name="李四", mobile="138\x0012345678\x1b[0m")
    assert contact.mobile == "13812345678"
    assert contact.model_dump(context={"mask": True})["mobile"] == "138****5678"
    with pytest.raises(ValidationError, match="65 characters, at most 64 allowed"):
        Contact(name="x", phone="1" * 65)


def test_free_text_keeps_line_breaks_and_is_cut_where_documented() -> None:
    visit = Interaction(
        kind="visit", occurred_at="2026-01-05T10:00:00+08:00", summary="第一段\x00\r\n\x1b[31m第二段\x1b[0m\t结束"
    )
    assert visit.summary == "第一段\n第二段\t结束"
    long = Interaction(kind="call", occurred_at="2026-01-05T10:00:00+08:00", summary="话" * (FREE_TEXT_MAX + 50))
    assert long.summary is not None and len(long.summary) == FREE_TEXT_MAX and long.summary.endswith("…")


def test_upstream_text_rule() -> None:
    assert upstream.text(None, "Phone") is None and upstream.text("  ", "Phone") is None
    assert upstream.text(" 0571\x00-1 ", "Phone") == "0571-1"
    assert upstream.text(12345, "Phone") == "12345" and upstream.text(Decimal("1.5"), "X") == "1.5"
    for bad, words in (({"a": 1}, "an object with 1 key(s)"), (["a"], "a list of 1 item(s)"), (True, "true/false")):
        with pytest.raises(RecordError) as err:
            upstream.text(bad, "Account_Name")
        assert err.value.field == "Account_Name" and err.value.message == f"Account_Name: expected text, got {words}"
        assert "'a'" not in err.value.message  # the value itself (maybe personal data) is never quoted
    with pytest.raises(RecordError, match="expected text, got a number"):
        upstream.text(7, "name", numbers=False)
    with pytest.raises(RecordError, match="required value is blank"):
        upstream.text("\x00 ", "name", required=True)
    with pytest.raises(RecordError, match="Employees: expected an integer, got an object"):
        upstream.require_scalar({"n": 1}, "Employees", "an integer")
    assert upstream.require_scalar("5", "Employees") == "5"


def test_clean_json_sees_a_control_character_after_an_escaped_backslash() -> None:
    assert clean_json({"p": "C:\\\r\x00"}) == {"p": "C:\\\n"}
    assert clean_json({"p": "C:\\\\rules"}) == {"p": "C:\\\\rules"}
