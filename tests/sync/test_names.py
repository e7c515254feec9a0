"""Company-name, person-name and phone normalisation (domain.md §10)."""

from __future__ import annotations

import pytest

from crmhub.model import regions
from crmhub.sync.names import (
    fold,
    normalize_company_name,
    normalize_person_name,
    normalize_phone,
    pinyin_key,
    split_trade_name,
    to_simplified,
)


@pytest.mark.parametrize(
    ("variants", "key", "region"),
    [
        pytest.param(
            ("星河科技（北京）有限公司", "星河科技(北京)有限公司", "北京星河科技有限公司"),
            "星河科技",
            "北京",
            id="bracket-width-and-region-position",
        ),
        pytest.param(
            ("北京星河科技有限公司", "北京星河科技有限责任公司", "北京市星河科技有限公司"),
            "星河科技",
            "北京",
            id="legal-form-synonym",
        ),
        pytest.param(
            ("ＡＢＣ科技（上海）有限公司", "ABC科技(上海)有限公司", "abc科技〔上海〕有限公司"),
            "ABC科技",
            "上海",
            id="full-and-half-width",
        ),
        pytest.param(
            ("深圳华星网络科技有限公司", "深圳華星網絡科技有限公司", "深圳市華星網絡科技有限公司"),
            "华星网络科技",
            "深圳",
            id="traditional-characters",
        ),
        pytest.param(
            ("北京 星河科技 有限公司", "北京·星河科技有限公司", "「北京」星河科技有限公司", "【北京】星河科技有限公司"),
            "星河科技",
            "北京",
            id="blanks-dots-quotes-brackets",
        ),
    ],
)
def test_drift_variants_share_key_region_and_form(variants: tuple[str, ...], key: str, region: str) -> None:
    """Every spelling of the same registered name parses to the same key, region and canonical form."""
    parsed = [normalize_company_name(v) for v in variants]
    assert {p.key for p in parsed} == {key}
    assert {p.region for p in parsed} == {region}
    assert {p.form for p in parsed} == {"有限公司"}
    assert [p.original for p in parsed] == list(variants)
    assert all(p.branch is None for p in parsed)


def test_parts_of_a_full_name() -> None:
    """Region, 字号, industry words, form and region code come out as separate parts."""
    name = normalize_company_name("北京星河科技有限公司")
    assert (name.key, name.region, name.form, name.branch) == ("星河科技", "北京", "有限公司", None)
    assert name.tokens == ("星河", "科技")
    assert (name.trade_name, name.industry) == ("星河", ("科技",))
    assert name.region_code == "110000"


@pytest.mark.parametrize(
    ("text", "region", "code"),
    [
        ("上海市浦东新区星河科技有限公司", "浦东", "310115"),
        ("广东省深圳市星河科技有限公司", "深圳", "440300"),
        ("广东深圳星河科技有限公司", "深圳", "440300"),
        ("深圳星河科技有限公司", "深圳", "440300"),
        ("北京市海淀区星河科技有限公司", "海淀", "110108"),
        ("广西壮族自治区南宁市星河科技有限公司", "南宁", "450100"),
        ("吉林市星河科技有限公司", "吉林", "220200"),
        ("义乌市星河贸易有限公司", "义乌", "330782"),
        ("大连市中山区星河科技有限公司", "中山", "210202"),
    ],
)
def test_leading_region_prefixes(text: str, region: str, code: str) -> None:
    """Province/prefecture/district prefixes (省/市/自治区/区 variants) are stripped to the most specific unit."""
    name = normalize_company_name(text)
    assert (name.region, name.region_code) == (region, code)
    assert name.key in ("星河科技", "星河贸易")


def test_foreign_invested_china_is_a_token_not_a_region() -> None:
    """(中国) in 西门子（中国）有限公司 is part of the name, not a registration region."""
    name = normalize_company_name("西门子（中国）有限公司")
    assert name.region is None
    assert name.key == "西门子中国"
    assert name.tokens == ("西门子", "中国")
    assert normalize_company_name("西门子(中国)有限公司").key == name.key


def test_region_that_is_the_trade_name_stays_in_the_key() -> None:
    """北京银行: stripping 北京 would leave only an industry word, so the region stays part of the key."""
    name = normalize_company_name("北京银行股份有限公司")
    assert name.key == "北京银行"
    assert name.region is None
    assert name.form == "股份有限公司"


@pytest.mark.parametrize(
    ("text", "form", "group"),
    [
        ("星河科技有限公司", "有限公司", False),
        ("星河科技有限责任公司", "有限公司", False),
        ("星河科技股份有限公司", "股份有限公司", False),
        ("星河科技集团股份有限公司", "股份有限公司", True),
        ("星河科技集团有限公司", "有限公司", True),
        ("星河（集团）有限公司", "有限公司", True),
        ("星河科技集团", None, True),
        ("星河投资中心（有限合伙）", "有限合伙", False),
        ("星河会计师事务所（特殊普通合伙）", "特殊普通合伙", False),
        ("星河蔬菜种植农民专业合作社", "农民专业合作社", False),
        ("星河机械厂", "厂", False),
    ],
)
def test_legal_forms_longest_first(text: str, form: str | None, group: bool) -> None:
    """Legal forms are matched longest first; 集团 is optional and only recorded as a flag."""
    name = normalize_company_name(text)
    assert (name.form, name.group) == (form, group)
    assert name.key.startswith("星河")
    assert "公司" not in name.key and "集团" not in name.key


def test_group_is_optional_for_the_key() -> None:
    """星河科技集团有限公司 and 星河科技有限公司 share a key (集团 optional)."""
    assert normalize_company_name("北京星河科技集团有限公司").key == normalize_company_name("北京星河科技有限公司").key


@pytest.mark.parametrize(
    ("text", "branch", "parent_key"),
    [
        ("北京星河科技有限公司上海分公司", "上海分公司", "星河科技"),
        ("北京星河科技有限公司上海市分公司", "上海分公司", "星河科技"),
        ("中国工商银行股份有限公司北京分行营业部", "北京分行营业部", "中国工商银行"),
        ("招商银行股份有限公司深圳福田支行", "深圳福田支行", "招商银行"),
        ("星河科技有限公司（上海分公司）", "上海分公司", "星河科技"),
        ("北京星河科技上海办事处", "上海办事处", "星河科技"),
    ],
)
def test_branch_suffix_becomes_branch_part(text: str, branch: str, parent_key: str) -> None:
    """A branch keeps the parent's key but carries its branch part, so it can never equal the parent."""
    name = normalize_company_name(text)
    assert name.branch == branch
    assert name.key == parent_key


def test_english_names_are_handled_separately() -> None:
    """English names drop English legal forms and a trailing CHINA (kept as a token)."""
    a = normalize_company_name("Siemens Ltd., China")
    b = normalize_company_name("SIEMENS LIMITED (CHINA)")
    assert a.latin and b.latin
    assert a.key == b.key == "SIEMENS"
    assert a.form == b.form == "有限公司"
    assert a.tokens == ("SIEMENS", "中国")
    assert normalize_company_name("ABC Technology Co., Ltd.").key == "ABCTECHNOLOGY"


def test_fold_and_simplify() -> None:
    """NFKC + explicit bracket mapping + traditional → simplified + punctuation removal + upper-case."""
    assert fold("ＡＢＣ（上海）") == "ABC(上海)"
    assert fold("《星河》〈科技〉") == "(星河)(科技)"
    assert fold("星河—科技–abc") == "星河-科技-ABC"
    assert to_simplified("華星網絡") == "华星网络"
    assert to_simplified("ascii only") == "ascii only"


def test_split_trade_name() -> None:
    """Industry words are peeled from the end; a key made only of them keeps its first word as 字号."""
    assert split_trade_name("华星网络科技") == ("华星", ("网络科技",), False)
    assert split_trade_name("星河科技发展") == ("星河", ("科技发展",), False)
    assert split_trade_name("中国银行") == ("中国", ("银行",), True)


def test_person_names() -> None:
    """Person names fold width, script, spaces and middle dots."""
    assert normalize_person_name("買買提·艾力") == "买买提艾力"
    assert normalize_person_name(" 张 伟 ") == "张伟"
    assert normalize_person_name("") is None
    assert normalize_person_name(None) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+86 138-0013-8000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("0086 10 8888 6666", "01088886666"),
        ("+86 (21) 5555-6666", "02155556666"),
        ("010-88886666转123", "01088886666"),
        ("0755-8888 6666 ext. 12", "075588886666"),
        ("（021）5555 6666", "02155556666"),
        ("400-820-8820", "4008208820"),
        ("88886666", None),
        ("12345", None),
        ("", None),
        (None, None),
    ],
)
def test_phone_normalisation(raw: str | None, expected: str | None) -> None:
    """Digits only, country code stripped; mobiles and landlines with area code kept, the rest dropped."""
    assert normalize_phone(raw) == expected


def test_pinyin_key_catches_homophones() -> None:
    """星河 and 星和 read the same (the IME typo); 星海 does not."""
    assert pinyin_key("星河") == pinyin_key("星和") == "xing he"
    assert pinyin_key("星海") != pinyin_key("星河")
    assert pinyin_key("ABC科技") == "a b c ke ji"


def test_region_table_and_compatibility() -> None:
    """The GB/T 2260 table resolves names and codes; compatibility is containment."""
    shanghai, pudong = regions.lookup("上海"), regions.lookup("浦东新区")
    assert shanghai is not None and pudong is not None
    assert (shanghai.code, pudong.code) == ("310000", "310115")
    assert regions.compatible("310000", "310115")
    assert regions.compatible("440300", "440305")
    assert not regions.compatible("110000", "310000")
    assert not regions.compatible("440100", "440300")
    found = regions.region_from_code("310101")
    assert found is not None and found.short == "黄浦"
    muni = regions.region_from_code("110100")
    assert muni is not None and muni.short == "北京"
    addr = regions.region_from_address("广东省", "深圳市", "南山区")
    assert addr is not None and addr.code == "440305"
