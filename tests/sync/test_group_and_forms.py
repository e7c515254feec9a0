"""Legal forms and 集团 in matching (issue 13 item 8).

股份公司 ≡ 股份有限公司; 集团 distinguishes a parent from its subsidiary.
"""

from __future__ import annotations

import pytest

from crmhub.sync.matching import Matcher, MatchRecord, MatchThresholds
from crmhub.sync.names import normalize_company_name
from crmhub.sync.scoring import score_pair

U1 = "91110000600037341L"
U2 = "91110000710926094P"
PARENT = "北京星河科技集团有限公司"
CHILD = "北京星河科技有限公司"


@pytest.mark.parametrize(
    ("name", "form", "group"),
    [
        ("北京星河科技股份公司", "股份有限公司", False),
        ("北京星河科技股份有限公司", "股份有限公司", False),
        ("北京星河科技集团股份公司", "股份有限公司", True),
        ("星河科技（北京）股份公司", "股份有限公司", False),
        ("北京星河科技集团有限公司", "有限公司", True),
        ("北京星河科技（集团）有限公司", "有限公司", True),
        ("北京星河股份合作公司", "股份合作公司", False),
    ],
)
def test_legal_form_parsing(name: str, form: str, group: bool) -> None:
    parsed = normalize_company_name(name)
    assert (parsed.form, parsed.group) == (form, group)
    assert parsed.key in ("星河科技", "星河")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("北京星河科技股份公司", "北京星河科技股份有限公司"),
        ("星河科技（北京）股份公司", "北京星河科技股份有限公司"),
        ("北京星河科技集团股份公司", "北京星河科技集团股份有限公司"),
    ],
)
def test_gufen_gongsi_is_gufen_youxian_gongsi(a: str, b: str) -> None:
    ra, rb = MatchRecord.build("a", "x", a), MatchRecord.build("b", "y", b)
    score = score_pair(ra, rb)
    assert {c.comparison: c.level for c in score.breakdown}["form"] == "equivalent"
    assert score.match_probability >= MatchThresholds().auto_merge and score.review_only is None
    assert len(Matcher().resolve([ra, rb]).clusters) == 1


@pytest.mark.parametrize(
    "shared",
    [
        {},
        {"phone": "010-62345678"},  # parent and subsidiary often share a switchboard …
        {"phone": "010-62345678", "legal_rep": "王建国"},  # … and a legal representative
    ],
)
def test_group_and_subsidiary_go_to_review_never_merge(shared: dict[str, str]) -> None:
    parent = MatchRecord.build("zoho:1", "zoho", PARENT, **shared)  # type: ignore[arg-type]
    child = MatchRecord.build("fx:1", "fxiaoke", CHILD, **shared)  # type: ignore[arg-type]
    score = score_pair(parent, child)
    assert score.review_only == "group_mismatch" and "never merged automatically" in score.explain()
    assert score.match_probability >= MatchThresholds().review  # worth a human's look …
    result = Matcher().resolve([parent, child])
    assert len(result.clusters) == 2 and not result.links  # … but never joined automatically
    [pair] = result.review
    assert pair.reason == "group_mismatch" and {pair.ref_a, pair.ref_b} == {"zoho:1", "fx:1"}


def test_group_rule_yields_to_uscc() -> None:
    """Equal USCCs are one legal entity whatever the names say; different ones are two."""
    same = score_pair(MatchRecord.build("a", "x", PARENT, uscc=U1), MatchRecord.build("b", "y", CHILD, uscc=U1))
    assert same.rule == "uscc_equal" and same.match_probability == 1.0
    other = score_pair(MatchRecord.build("a", "x", PARENT, uscc=U1), MatchRecord.build("b", "y", CHILD, uscc=U2))
    assert other.rule == "uscc_conflict" and other.match_probability == 0.0


def test_group_pair_with_one_uscc_is_still_review_only() -> None:
    parent = MatchRecord.build("a", "x", PARENT, uscc=U1)
    child = MatchRecord.build("b", "y", CHILD, phone="010-62345678")
    assert score_pair(parent, child).review_only == "group_mismatch"
    assert len(Matcher().resolve([parent, child]).clusters) == 2
