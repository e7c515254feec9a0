"""The masking rules themselves (crmhub.masking): phones in any written form, names, e-mails, ID numbers.

Phone formats are generated (hypothesis): country code or not, 3-4-4 / 4-3-4 / 3-8 / unbroken, spaces, hyphens,
full-width digits and separators, inside Chinese text — at most the first 3 and the last 4 digits survive.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmhub.masking import is_mobile, mask, mask_fields, mask_name, mask_text

_FW = {str(i): chr(0xFF10 + i) for i in range(10)} | {"-": "－", " ": "\u3000", "+": "＋", "(": "（", ")": "）"}
_FOLD = str.maketrans({v: k for k, v in _FW.items()})


def digits_of(text: str) -> str:
    return re.sub(r"\D", "", text.translate(_FOLD))


@st.composite
def written_mobiles(draw: st.DrawFn) -> tuple[str, str]:
    """(national number, one way a person could write it)."""
    number = (
        "1"
        + draw(st.sampled_from("3456789"))
        + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9)))
    )
    groups = draw(st.sampled_from([(3, 4, 4), (4, 3, 4), (3, 8), (11,)]))
    sep = draw(st.sampled_from(["", " ", "-"]))
    parts, i = [], 0
    for g in groups:
        parts.append(number[i : i + g])
        i += g
    written = sep.join(parts)
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "86", "0086 ", "(+86)", "(+86) "]))
    written = prefix + written
    if draw(st.booleans()):  # full-width digits and separators, as typed with a Chinese input method
        written = "".join(_FW.get(c, c) for c in written)
    return number, written


_TEXT = st.text(alphabet="联系人电话手机请拨打：，。 abcXYZ@", max_size=12)


@given(written_mobiles(), _TEXT, _TEXT)
def test_mobile_in_any_written_form_keeps_at_most_first_3_and_last_4(
    phone: tuple[str, str], before: str, after: str
) -> None:
    number, written = phone
    text = f"{before}{'：' if before else ''}{written}{'。' if after else ''}{after}"
    masked = mask_text(text)
    assert digits_of(masked) == number[:3] + number[-4:], (text, masked)
    assert mask_text(masked) == masked  # masking twice changes nothing
    assert mask(written, "phone") == number[:3] + "****" + number[-4:]
    assert is_mobile(written) and mask(written, "company_phone") == number[:3] + "****" + number[-4:]


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("(010) 6552-1234", "010****1234"),
        ("010-65521234", "010****1234"),
        ("（０１０）６５５２－１２３４", "010****1234"),
        ("0755 8888 1234", "075*****1234"),
        ("+86 10 6552 1234", "106****234"),
    ],
)
def test_landlines_in_text_and_by_field(written: str, shown: str) -> None:
    assert digits_of(mask_text(f"电话 {written} 转 8")) == digits_of(shown) + "8"
    assert mask(written, "phone") == shown


def test_short_numbers_hide_at_least_four_digits() -> None:
    assert mask("6552-1234", "phone") == "65****34"
    assert mask("12345", "phone") == "****5"
    assert mask("1234", "phone") == "****"


def test_a_stray_star_is_not_taken_for_masking() -> None:
    """Only a value in the masked shape passes through unchanged; a star in upstream data hides nothing."""
    assert mask("13812345678*", "phone") == "138****5678"
    assert mask("张三*", "name") == "张*"
    assert mask("1101*05199001011234", "id_number") == "1" + "*" * 17 + "4"
    assert mask("张*", "name") == "张*" and mask("138****5678", "phone") == "138****5678"


def test_company_phone_masked_only_when_it_is_a_mobile() -> None:
    assert mask("010-65521234", "company_phone") == "010-65521234"
    assert mask("+86 139 1234 5678", "company_phone") == "139****5678"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张小三", "张**"),
        ("欧阳娜娜", "欧阳**"),
        ("欧阳娜", "欧阳*"),
        ("司马懿", "司马*"),
        ("诸葛亮", "诸葛*"),
        ("王", "*"),
        ("Zhang San", "Z***"),
        ("  李四 ", "李*"),
        ("阿卜杜·热合曼", "阿******"),
    ],
)
def test_names_keep_the_surname_only(name: str, masked: str) -> None:
    assert mask_name(name) == masked and mask(name, "name") == masked
    assert mask(masked, "name") == masked


def test_emails_ids_accounts() -> None:
    assert mask("zhang.san@example.com", "email") == "z***@example.com"
    assert mask_text("写信到 zhang.san@example.com 或 li@qq.com") == "写信到 z***@example.com 或 l***@qq.com"
    assert mask("info@xinghe.com.cn", "company_email") == "info@xinghe.com.cn"
    assert mask("boss.wang@163.com", "company_email") == "b***@163.com"
    assert mask("11010519491231002X", "id_number") == "1****************X"
    text = mask_text("身份证 11010519491231002X，账户 6222020200112233445，USCC 91110000600037341L")
    assert "11010519491231002X" not in text and "6222020200112233445" not in text
    assert "622202*********3445" in text and "91110000600037341L" in text  # USCCs are not personal data


def test_text_without_personal_data_is_left_alone() -> None:
    for text in (
        "2026-12-07 13:45:12",
        "run 1234567 read 13 0 0 1 2",
        "1,990,000.00 CNY",
        "v0.8.1",
        "USCC 121200004013590816",
        "第 138 行",
    ):
        assert mask_text(text) == text


def test_record_fields_by_kind() -> None:
    record = {
        "name": "北京星河科技有限公司",
        "phone": "010-65521234",
        "email": "zhang@163.com",
        "legal_representative": {"name": "欧阳娜娜", "id_number": "11010519491231002X", "phone": "13812345678"},
        "contacts": [{"name": "张小三", "email": "zxs@xinghe.cn", "mobile": "+86 139-1234-5678", "title": "财务"}],
        "shareholders": [
            {"name": "王五", "share_percent": "30"},
            {"name": "星河集团有限公司", "kind": "company"},
            {"name": "Li Lei", "kind": "person"},
        ],
        "relationship_manager": {"name": "赵六", "email": "zhao@bank.example"},
    }
    out = mask_fields(record)
    assert out["name"] == "北京星河科技有限公司" and out["phone"] == "010-65521234" and out["email"] == "z***@163.com"
    assert out["legal_representative"] == {"name": "欧阳**", "id_number": "1****************X", "phone": "138****5678"}
    assert out["contacts"][0] == {"name": "张**", "email": "z***@xinghe.cn", "mobile": "139****5678", "title": "财务"}
    assert [s["name"] for s in out["shareholders"]] == ["王*", "星河集团有限公司", "L***"]
    assert out["relationship_manager"] == record["relationship_manager"]  # bank staff, not client personal data
    assert mask_fields(out) == out


_GIVEN = st.text(alphabet="伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平", min_size=1, max_size=3)


@given(st.sampled_from(["张", "王", "李", "欧阳", "司马", "诸葛", "上官"]), _GIVEN)
def test_no_character_of_a_given_name_is_shown(surname: str, given_name: str) -> None:
    masked = mask_name(surname + given_name)
    assert masked == surname + "*" * len(given_name)
    assert mask_fields({"contacts": [{"name": surname + given_name}]}) == {"contacts": [{"name": masked}]}
