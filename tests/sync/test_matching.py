"""Entity resolution: the drift table of domain.md §10, near misses, rules, clustering, index API, quality."""

from __future__ import annotations

import pytest

from crmhub.model import CorporateClient
from crmhub.sync.blocking import BlockingConfig
from crmhub.sync.matching import Matcher, MatchRecord, MatchScore, MatchThresholds

from .drift_world import drifted_population, pairwise_quality, world_records

U1 = "91110000600037341L"
U2 = "91110000710926094P"
U3 = "91310000631696382C"


def rec(ref: str, name: str, **kw: str | None) -> MatchRecord:
    """A record from raw values, system taken from the ref prefix."""
    return MatchRecord.build(ref, ref.split(":", maxsplit=1)[0], name, **kw)  # type: ignore[arg-type]


def merged(a: MatchRecord, b: MatchRecord, matcher: Matcher | None = None) -> bool:
    """True when `resolve` puts both records in one cluster."""
    result = (matcher or Matcher()).resolve([a, b])
    return len(result.clusters) == 1


def assert_explained(score: MatchScore) -> None:
    """Every score carries its evidence: the prior plus one line per comparison, summing to the total."""
    assert score.breakdown[0].comparison == "prior"
    assert sum(c.weight for c in score.breakdown) == pytest.approx(score.total)
    assert "match probability" in score.explain()


# --- the drift table ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param("星河科技（北京）有限公司", "北京星河科技有限公司", id="bracket-width-region-position"),
        pytest.param("星河科技(北京)有限公司", "北京星河科技有限公司", id="half-width-bracket"),
        pytest.param("北京星河科技有限公司", "北京星河科技有限责任公司", id="legal-form-synonym"),
        pytest.param("ＡＢＣ科技（上海）有限公司", "ABC科技(上海)有限公司", id="full-half-width"),
        pytest.param("深圳华星网络科技有限公司", "深圳華星網絡科技有限公司", id="traditional"),
    ],
)
def test_drift_rows_merge_on_name_and_region_alone(left: str, right: str) -> None:
    """The drift table's name variants are the same company even without any other field."""
    a, b = rec("zoho:1", left), rec("ledger:1", right)
    score = Matcher().score(a, b)
    assert score.match_probability >= MatchThresholds().auto_merge
    assert next(c.level for c in score.breakdown if c.comparison == "name") == "exact"
    assert_explained(score)
    assert merged(a, b)


def test_homophone_typo_merges_with_corroboration_and_is_reviewed_without() -> None:
    """星河/星和 (same pinyin): same legal representative → merged; name and region alone → review, not merged."""
    a = rec("zoho:1", "北京星河科技有限公司", legal_rep="张伟")
    b = rec("ledger:1", "北京星和科技有限公司", legal_rep="張偉")
    score = Matcher().score(a, b)
    assert ("name", "homophone") in {(c.comparison, c.level) for c in score.breakdown}
    assert merged(a, b)
    bare_a, bare_b = rec("zoho:1", "北京星河科技有限公司"), rec("ledger:1", "北京星和科技有限公司")
    result = Matcher().resolve([bare_a, bare_b])
    assert len(result.clusters) == 2
    assert [(p.ref_a, p.ref_b, p.reason) for p in result.review] == [("zoho:1", "ledger:1", "grey_zone")]


def test_branch_never_merges_into_parent_even_with_shared_evidence() -> None:
    """北京星河科技有限公司上海分公司 is not its parent, whatever phone and legal representative say."""
    parent = rec("ledger:1", "北京星河科技有限公司", phone="010-88886666", legal_rep="张伟")
    branch = rec("zoho:2", "北京星河科技有限公司上海分公司", phone="010-88886666", legal_rep="张伟")
    score = Matcher().score(parent, branch)
    assert (score.rule, score.match_probability) == ("branch_mismatch", 0.0)
    assert "上海分公司" in score.explain()
    result = Matcher().resolve([parent, branch])
    assert len(result.clusters) == 2 and result.review == ()


def test_two_branches_of_one_parent_stay_apart() -> None:
    """Different branches of the same company are different records of different entities."""
    a = rec("zoho:1", "北京星河科技有限公司上海分公司")
    b = rec("zoho:2", "北京星河科技有限公司深圳分公司")
    assert Matcher().score(a, b).rule == "branch_mismatch"
    same = rec("fxiaoke:3", "北京星河科技有限公司上海市分公司")
    assert merged(a, same)


def test_missing_uscc_matched_on_name_region_phone_and_legal_rep() -> None:
    """A CRM record without USCC joins the ledger record through name + region + phone + legal representative."""
    ledger = rec("ledger:1", "北京星河科技有限公司", uscc=U1, phone="+86 10 8888 6666", legal_rep="张伟")
    crm = rec("zoho:1", "星河科技（北京）有限责任公司", phone="010-88886666", legal_rep="张伟", city="北京市")
    score = Matcher().score(ledger, crm)
    levels = {c.comparison: c.level for c in score.breakdown}
    assert levels == {
        "prior": "base rate",
        "name": "exact",
        "region": "name_same",
        "form": "equivalent",
        "phone": "equal",
        "legal_rep": "equal",
        "uscc": "missing",
    }
    assert score.match_probability > 0.9999
    assert merged(ledger, crm)


def test_mistyped_uscc_is_evidence_not_a_conflict() -> None:
    """A CRM USCC failing its checksum is one edit from the ledger's: strong evidence, never a USCC conflict."""
    typo = U1[:10] + ("A" if U1[10] != "A" else "B") + U1[11:]
    crm = rec("zoho:1", "北京星河科技有限公司", uscc=typo)
    assert crm.uscc is None and crm.uscc_invalid == typo
    score = Matcher().score(crm, rec("ledger:1", "星河科技(北京)有限公司", uscc=U1))
    assert score.rule is None
    assert ("uscc", "typo") in {(c.comparison, c.level) for c in score.breakdown}
    assert score.match_probability > 0.9999


# --- near misses ----------------------------------------------------------------------------------------------


def test_same_trade_name_other_industry_is_not_merged() -> None:
    """北京星河科技 vs 北京星河贸易: sister companies, not merged — not even with the same boss and switchboard."""
    tech = rec("zoho:1", "北京星河科技有限公司")
    trade = rec("ledger:1", "北京星河贸易有限公司")
    score = Matcher().score(tech, trade)
    assert [c.level for c in score.breakdown if c.comparison == "name"] == ["industry_differs"]
    assert score.match_probability < 0.01
    assert not merged(tech, trade)
    shared = {"phone": "010-88886666", "legal_rep": "张伟"}
    a, b = rec("zoho:1", "北京星河科技有限公司", **shared), rec("ledger:1", "北京星河贸易有限公司", **shared)
    assert Matcher().score(a, b).match_probability < MatchThresholds().auto_merge
    assert not merged(a, b)


def test_same_name_other_region_is_not_merged() -> None:
    """北京星河科技 vs 上海星河科技: names are unique only within a registration region."""
    a, b = rec("zoho:1", "北京星河科技有限公司"), rec("ledger:1", "上海星河科技有限公司")
    score = Matcher().score(a, b)
    assert ("region", "name_conflict") in {(c.comparison, c.level) for c in score.breakdown}
    assert score.match_probability < 0.05
    assert not merged(a, b)


def test_different_valid_usccs_are_never_merged() -> None:
    """Two valid, different USCCs are two legal entities, however identical the rest looks."""
    same = {"phone": "13812345678", "legal_rep": "张伟", "city": "北京市"}
    a = rec("zoho:1", "北京星河科技有限公司", uscc=U1, **same)
    b = rec("ledger:1", "北京星河科技有限公司", uscc=U2, **same)
    score = Matcher().score(a, b)
    assert (score.rule, score.match_probability) == ("uscc_conflict", 0.0)
    assert not merged(a, b)


def test_equal_usccs_are_certain() -> None:
    """Equal USCCs decide, whatever the names say."""
    score = Matcher().score(rec("zoho:1", "星河", uscc=U1), rec("ledger:1", "完全不同的名字有限公司", uscc=U1))
    assert (score.rule, score.match_probability) == ("uscc_equal", 1.0)


# --- clustering -----------------------------------------------------------------------------------------------


def test_transitive_links_never_join_two_usccs() -> None:
    """A(U1) ~ B(no USCC) ~ C(U2): the stronger link wins, the other becomes a review item, A and C stay apart."""
    a = rec("ledger:1", "北京星河科技有限公司", uscc=U1, phone="13812345678", legal_rep="张伟")
    b = rec("zoho:1", "北京星河科技有限公司", phone="13812345678", legal_rep="张伟")
    c = rec("fxiaoke:1", "北京星河科技有限公司", uscc=U3, phone="13812345678")
    result = Matcher().resolve([a, b, c])
    index = result.cluster_index()
    assert index["ledger:1"] == index["zoho:1"]
    assert index["fxiaoke:1"] != index["ledger:1"]
    assert [(p.ref_a, p.ref_b, p.reason) for p in result.review] == [("zoho:1", "fxiaoke:1", "uscc_clash")]
    assert [(link.ref_a, link.ref_b) for link in result.links] == [("ledger:1", "zoho:1")]


def test_branch_sharing_the_parents_uscc_goes_to_review() -> None:
    """A branch-named record carrying the head office's USCC is a data error: reviewed, never merged."""
    result = Matcher().resolve(
        [rec("ledger:1", "北京星河科技有限公司", uscc=U1), rec("zoho:1", "北京星河科技有限公司上海分公司", uscc=U1)]
    )
    assert len(result.clusters) == 2
    assert [p.reason for p in result.review] == ["branch_uscc_clash"]


def test_thresholds_are_configurable_and_validated() -> None:
    """A stricter auto-merge threshold turns a merge into a review item; inconsistent thresholds are refused."""
    a, b = rec("zoho:1", "北京星河科技有限公司"), rec("ledger:1", "北京星河科技有限责任公司")
    p = Matcher().score(a, b).match_probability
    strict = Matcher(MatchThresholds(auto_merge=min(1.0, p + (1 - p) / 2), review=0.5))
    result = strict.resolve([a, b])
    assert len(result.clusters) == 2 and len(result.review) == 1
    with pytest.raises(ValueError, match="review <= auto_merge"):
        MatchThresholds(auto_merge=0.5, review=0.9)


# --- the incremental index ------------------------------------------------------------------------------------


def test_incremental_index_add_candidates_best_matches_remove() -> None:
    """The engine's path: add known records, ask for the best matches of a new one, replace and remove."""
    m = Matcher()
    m.add(rec("ledger:1", "北京星河科技有限公司", uscc=U1, phone="13812345678"))
    m.add(rec("ledger:2", "北京星河贸易有限公司", uscc=U2))
    m.add(rec("ledger:3", "上海恒通物流有限公司", uscc=U3))
    new = rec("zoho:9", "星河科技（北京）有限公司", phone="138-1234-5678")
    assert set(m.candidates(new)) == {"ledger:1", "ledger:2"}
    best = m.best_matches(new)
    assert [ref for ref, _ in best] == ["ledger:1"]
    assert best[0][1].match_probability > 0.999
    assert m.best_matches(new, min_probability=0.0)[-1][0] == "ledger:2"
    m.add(rec("ledger:1", "北京星河投资有限公司", uscc=U1))  # replaced: renamed
    assert len(m) == 3
    assert m.best_matches(new) == []
    m.remove("ledger:1")
    assert "ledger:1" not in m and len(m) == 2
    with pytest.raises(KeyError, match="not indexed"):
        m.explain("ledger:1", "ledger:2")
    with pytest.raises(KeyError, match="nothing to remove"):
        m.remove("ledger:1")


def test_term_frequency_downweights_frequent_names() -> None:
    """An exact match on a name many records share is weaker evidence than on a rare one (Splink's TF)."""
    m = Matcher()
    cities = ("北京", "上海", "深圳", "广州", "杭州", "南京", "成都", "武汉", "天津", "重庆", "西安", "苏州")
    for i, city in enumerate(cities):
        m.add(rec(f"ledger:c{i}", f"{city}华星科技有限公司"))
    m.add(rec("ledger:r", "北京瑞禾纳米有限公司"))
    common = m.score(rec("zoho:1", "北京华星科技有限公司"), rec("zoho:2", "华星科技(北京)有限公司"))
    rare = m.score(rec("zoho:3", "北京瑞禾纳米有限公司"), rec("zoho:4", "瑞禾纳米(北京)有限公司"))
    assert common.total < rare.total
    assert any(c.level.startswith("term frequency (key") and c.weight < 0 for c in common.breakdown)


def test_province_only_region_is_strong_only_when_the_name_is_known_in_one_city() -> None:
    """广东星河科技 is 深圳星河科技 when the data knows that name only in 深圳; with a 广州 namesake it is a review."""
    province_only = rec("zoho:1", "广东星河科技有限公司")
    shenzhen = rec("ledger:1", "深圳市星河科技有限公司", uscc="9144030071526726XG")
    sole = Matcher()
    sole.add(shenzhen)
    score = sole.score(province_only, shenzhen)
    assert ("region", "name_province_sole") in {(c.comparison, c.level) for c in score.breakdown}
    assert score.match_probability >= MatchThresholds().auto_merge
    ambiguous = Matcher()
    ambiguous.add(shenzhen)
    ambiguous.add(rec("ledger:2", "广州星河科技有限公司", uscc="91440101MA59HU0K2C"))
    score = ambiguous.score(province_only, shenzhen)
    assert ("region", "name_province") in {(c.comparison, c.level) for c in score.breakdown}
    assert score.match_probability < MatchThresholds().auto_merge


def test_oversized_blocks_are_capped() -> None:
    """Hundreds of records sharing a name prefix do not make the cost quadratic: the block is skipped."""
    records = [rec(f"zoho:{i}", f"北京华星{i:04d}科技有限公司") for i in range(300)]
    m = Matcher(blocking=BlockingConfig(max_block=16))
    result = m.resolve(records)
    assert result.stats.oversized_blocks >= 1
    assert result.stats.pairs_scored < 300 * 16
    assert len(result.clusters) == 300


def test_from_client_uses_address_uscc_phone_and_legal_rep() -> None:
    """A canonical CorporateClient becomes a record with region codes, USCC division, phones and legal rep."""
    client = CorporateClient.model_validate(
        {
            "name": "星河科技（深圳）有限公司",
            "uscc": "9144030071526726XG",
            "phone": "0755-8888 6666",
            "registered_address": {"province": "广东省", "city": "深圳市", "district": "南山区"},
            "legal_representative": {"name": "馬化騰", "phone": "+86 138 0013 8000"},
        }
    )
    r = MatchRecord.from_client("zoho:1", "zoho", client)
    assert (r.ref, r.system, r.uscc, r.division_code) == ("zoho:1", "zoho", "9144030071526726XG", "440300")
    assert (r.region_code, r.city, r.name.region) == ("440305", "南山", "深圳")
    assert (r.phone, r.phones, r.legal_rep) == ("075588886666", ("075588886666", "13800138000"), "马化腾")


# --- quality on labelled populations --------------------------------------------------------------------------


def test_quality_on_own_drifted_population() -> None:
    """1,500 companies drifted per §10 with sister companies, namesakes and branches: P ≥ 0.995, R ≥ 0.98."""
    records, truth = drifted_population(1500, seed=7)
    result = Matcher().resolve(records)
    quality = pairwise_quality(result.clusters, truth)
    assert quality.true_pairs > 1500
    assert quality.precision >= 0.995, quality
    assert quality.recall >= 0.98, quality
    assert result.stats.pairs_scored < 10 * len(records)


def test_quality_on_the_sandbox_world() -> None:
    """2,000-client synthetic world, records as the connectors see them: pairwise P ≥ 0.995 and R ≥ 0.98."""
    from crmhub.sandbox.world import World

    pairs = list(world_records(World(seed=11, clients=2000).companies(ledger_detail=False)))
    truth = {record.ref: key for record, key in pairs}
    result = Matcher().resolve(record for record, _ in pairs)
    quality = pairwise_quality(result.clusters, truth)
    assert quality.true_pairs > 1000
    assert quality.precision >= 0.995, quality
    assert quality.recall >= 0.98, quality


def test_model_levels_override_defaults_one_by_one() -> None:
    """A bank can change one level's (m, u); unknown comparisons or levels are refused by name."""
    from crmhub.sync.matching import MatchModel

    model = MatchModel(levels={"phone": {"equal": (0.5, 0.5)}})
    a = rec("zoho:1", "北京星河科技有限公司", phone="13812345678")
    b = rec("zoho:2", "星河科技(北京)有限公司", phone="13812345678")
    default, neutral = Matcher().score(a, b), Matcher(model=model).score(a, b)
    assert {(c.comparison, c.level): c.weight for c in neutral.breakdown}[("phone", "equal")] == 0.0
    assert neutral.total < default.total
    with pytest.raises(ValueError, match=r"unknown level phone\.equals"):
        MatchModel(levels={"phone": {"equals": (0.5, 0.5)}})
    with pytest.raises(ValueError, match="unknown comparison 'email'"):
        MatchModel(levels={"email": {"equal": (0.5, 0.5)}})
