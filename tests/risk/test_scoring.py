"""Scoring on hand-computed cases, each override, reason codes, and the WoE / PDO helpers."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from crmhub.model import Rating, Segment
from crmhub.risk.card import Scorecard, default_scorecard
from crmhub.risk.scaling import PdoScale, fitted_factor, woe_iv
from crmhub.risk.scoring import score_inputs

AT = datetime(2026, 11, 30, tzinfo=UTC)

HEALTHY: dict[str, Any] = {
    "avg_daily_balance": 300_000.0,  # [200k, 1M)  → 65 × 0.12 = 7.80
    "monthly_credit_turnover": 800_000,  # [500k, 2M)  → 70 × 0.10 = 7.00
    "turnover_stability": 0.15,  # < 0.2       → 100 × 0.08 = 8.00
    "overdraft_days": 0,  # < 1         → 100 × 0.08 = 8.00
    "returned_items": 1,  # [1, 3)      → 75 × 0.05 = 3.75
    "max_dpd": 0,  # < 1         → 100 × 0.20 = 20.00
    "worst_class": "none",  # none/pass   → 100 × 0.10 = 10.00
    "loan_to_turnover": 0.0,  # < 0.5       → 100 × 0.05 = 5.00
    "industry_section": "C",  # C           → 75 × 0.08 = 6.00
    "years_in_business": 12.5,  # [10, 20)    → 90 × 0.08 = 7.20
    "registered_capital": 20_000_000,  # [20M, 100M) → 85 × 0.06 = 5.10
}  # total 87.85 → AA (≥ 84), low risk

BEST = {
    **HEALTHY,
    "avg_daily_balance": 9e6,
    "monthly_credit_turnover": 2e7,
    "returned_items": 0,
    "industry_section": "D",
    "years_in_business": 30,
    "registered_capital": 2e8,
}  # 99.20


def score(inputs: dict[str, Any], card: Scorecard | None = None) -> Any:
    return score_inputs(card or default_scorecard(), inputs, assessed_at=AT, client_id=1, uscc=None)


def test_hand_computed_healthy_client() -> None:
    s = score(HEALTHY)
    a = s.assessment
    assert a.score == Decimal("87.85")
    assert (a.scored_rating, a.rating, a.segment) == (Rating.AA, Rating.AA, Segment.LOW)
    assert a.rating.numeric == 2 and a.overrides == []
    points = {f.factor: f.points for f in a.factors}
    assert points["avg_daily_balance"] == Decimal("7.80") and points["returned_items"] == Decimal("3.75")
    assert sum(points.values()) == a.score
    bins = {f.factor: f.bin for f in a.factors}
    assert bins["avg_daily_balance"] == "[200,000, 1,000,000)" and bins["worst_class"] == "no loans / pass"
    assert s.details["avg_daily_balance"].bin_zh == "[200,000, 1,000,000)"
    assert s.details["avg_daily_balance"].bin_points == 65
    # ADB 65, turnover 70, returned items 75 … are each below their best bin but above their factor's adverse
    # threshold (the midpoint of its points): none of them lowered the score, so an AA client has no reasons
    assert a.reason_codes == []
    assert all(f.reason_zh == f.reason_en == "" for f in a.factors)
    assert a.scorecard_version == "expert-2026.2" and a.inputs == HEALTHY


def test_best_client_and_bin_edges() -> None:
    assert score(BEST).assessment.score == Decimal("99.20")
    assert score(BEST).assessment.rating is Rating.AAA and score(BEST).assessment.reason_codes == []
    edge = score({**HEALTHY, "avg_daily_balance": 1_000_000})  # a lower bound belongs to its bin
    assert edge.assessment.score == Decimal("87.85") + Decimal("0.12") * 20


def test_missing_inputs_score_their_missing_points_and_say_so() -> None:
    s = score({**HEALTHY, "avg_daily_balance": None, "registered_capital": None})
    # ADB missing 40 (−25 × 0.12 = −3.00), capital missing 40 (−45 × 0.06 = −2.70)
    assert s.assessment.score == Decimal("82.15")
    f = {x.factor: x for x in s.assessment.factors}
    assert f["avg_daily_balance"].bin == "missing"
    assert f["avg_daily_balance"].reason_zh == "日均存款（近 90 天）：数据缺失"  # said as missing, not "偏低"
    assert f["avg_daily_balance"].reason_en == "Average daily balance (90 days): data missing"
    assert s.details["registered_capital"].missing and f["registered_capital"].reason_zh == "注册资本：数据缺失"
    assert s.assessment.reason_codes[:2] == ["avg_daily_balance", "registered_capital"]
    young = score({**HEALTHY, "years_in_business": None}).assessment
    years = next(x for x in young.factors if x.factor == "years_in_business")
    assert years.reason_zh == "成立年限：数据缺失" and "较短" not in years.reason_zh


def test_a_factor_is_a_reason_only_when_it_lowered_the_score() -> None:
    """Issue 13: "日均存款偏低" was given for a 2.26M average balance (its second-best bin). Now only a bin below
    the factor's adverse threshold is a reason; a low balance still is."""
    rich = score({**HEALTHY, "avg_daily_balance": 2_260_000}).assessment
    adb = next(x for x in rich.factors if x.factor == "avg_daily_balance")
    assert adb.points == Decimal("10.20") and adb.reason_zh == "" and "avg_daily_balance" not in rich.reason_codes
    poor = score({**HEALTHY, "avg_daily_balance": 120_000, "industry_section": "K"}).assessment
    reasons = {x.factor: x.reason_zh for x in poor.factors if x.reason_zh}
    assert reasons == {"avg_daily_balance": "日均存款偏低", "industry_section": "所属行业风险较高"}
    assert poor.reason_codes == ["avg_daily_balance", "industry_section"]
    late = score({**HEALTHY, "max_dpd": 5}).assessment  # any day past due is adverse (adverse_below = 100)
    assert late.reason_codes == ["max_dpd"]


def test_more_than_90_days_past_due_is_default_and_named() -> None:
    """Issue 13: a loan 120 days past due made the client B; it is D (default), with the override named."""
    a = score({**BEST, "max_dpd": 120, "worst_class": "special_mention"}).assessment
    assert a.score == Decimal("74.20") and a.scored_rating is Rating.BBB  # 99.2 − 20 − 5
    assert a.rating is Rating.D and a.segment is Segment.HIGH
    assert [o.code for o in a.overrides] == ["default_dpd_over_90"] and a.overrides[0].rating is Rating.D
    assert "90" in a.overrides[0].reason_zh and "rating D" in a.overrides[0].reason_en
    assert a.reason_codes[:2] == ["max_dpd", "worst_class"]


def test_a_worse_score_is_still_named_default() -> None:
    a = score(
        {
            **HEALTHY,
            "max_dpd": 95,
            "worst_class": "special_mention",
            "avg_daily_balance": 10,
            "monthly_credit_turnover": 0,
            "years_in_business": 0.5,
        }
    ).assessment
    assert a.scored_rating.numeric > Rating.B.numeric
    assert a.rating is Rating.D and [o.code for o in a.overrides] == ["default_dpd_over_90"]


def test_dpd_exactly_90_triggers_nothing() -> None:
    a = score({**BEST, "max_dpd": 90}).assessment
    assert a.overrides == [] and a.rating is a.scored_rating


@pytest.mark.parametrize(
    ("dpd", "cls", "codes"),
    [
        (120, "substandard", ["default_dpd_over_90", "default_npl_class"]),  # the 120-day 次级 borrower once rated B
        (400, "doubtful", ["default_dpd_over_90", "default_npl_class"]),
        (0, "loss", ["default_npl_class"]),
        (10, "substandard", ["default_npl_class"]),
        (30, "special_mention", []),
    ],
)
def test_default_override_sets_d(dpd: int, cls: str, codes: list[str]) -> None:
    a = score({**BEST, "max_dpd": dpd, "worst_class": cls}).assessment
    assert [o.code for o in a.overrides] == codes
    if codes:
        assert a.rating is Rating.D and a.rating.numeric == 10 and a.segment is Segment.HIGH
    else:
        assert a.rating is a.scored_rating


def test_default_policy_is_no_new_credit_never_a_price() -> None:
    """Grade D gets the NPL policy (no new credit, workout), not the high segment's "+200 bp" pricing add-on."""
    card = default_scorecard()
    policy = card.policy_for(Rating.D, Segment.HIGH)
    assert policy.new_credit is False and policy.pricing_addon_bp is None
    assert "不得新增授信" in policy.action_zh and "清收" in policy.action_zh and "No new credit" in policy.action_en
    assert card.policy_for(Rating.CCC, Segment.HIGH).pricing_addon_bp == 200
    bare = card.model_copy(update={"rating_policy": {}})
    assert bare.policy_for(Rating.D, Segment.HIGH).new_credit is False  # the built-in NPL policy
    data = card.model_dump(mode="json")
    data["rating_policy"]["D"] = {**data["rating_policy"]["D"], "pricing_addon_bp": 200}
    with pytest.raises(ValueError, match="no pricing add-on"):
        Scorecard.model_validate(data)
    data["rating_policy"]["D"] = {**data["policy"]["high"]}
    with pytest.raises(ValueError, match="new_credit = false"):
        Scorecard.model_validate(data)


def test_a_card_cannot_rate_a_non_performing_borrower_above_d() -> None:
    """A card without the default overrides (or with an old 'cap at B') still rates > 90 DPD and 次级 as D; the
    reserved codes cannot be reused for anything but D."""
    data = default_scorecard().model_dump(mode="json")
    data["overrides"] = [
        {
            "code": "dpd_over_90",
            "action": "cap",
            "rating": "B",
            "reason_zh": "逾期",
            "reason_en": "past due",
            "when": [{"input": "max_dpd", "op": ">", "value": 90}],
        }
    ]
    card = Scorecard.model_validate(data)
    a = score({**BEST, "max_dpd": 120, "worst_class": "substandard"}, card).assessment
    assert a.rating is Rating.D
    assert [o.code for o in a.overrides] == ["dpd_over_90", "default_dpd_over_90", "default_npl_class"]
    assert score({**BEST, "max_dpd": None, "worst_class": None}, card).assessment.overrides == []  # unknown: none
    data["overrides"][0]["code"] = "default_dpd_over_90"
    with pytest.raises(ValueError, match="must be action"):
        Scorecard.model_validate(data)


def test_a_laxer_card_rule_of_the_same_code_or_a_later_set_cannot_lift_d() -> None:
    """The regulatory default rules run whatever the card says: a card that redefines `default_dpd_over_90` as
    "> 180 days", then sets a better grade afterwards, still rates a 120-days-past-due borrower D, named."""
    data = default_scorecard().model_dump(mode="json")
    data["overrides"] = [
        {
            "code": "default_dpd_over_90",
            "action": "set",
            "rating": "D",
            "reason_zh": "逾期",
            "reason_en": "past due",
            "when": [{"input": "max_dpd", "op": ">", "value": 180}],
        },
        {
            "code": "good_history",
            "action": "set",
            "rating": "BBB",
            "reason_zh": "好",
            "reason_en": "good",
            "when": [{"input": "max_dpd", "op": ">", "value": 100}],
        },
    ]
    card = Scorecard.model_validate(data)
    a = score({**BEST, "max_dpd": 120, "worst_class": "special_mention"}, card).assessment
    assert a.rating is Rating.D
    assert [o.code for o in a.overrides] == ["good_history", "default_dpd_over_90"]


def test_woe_iv_hand_computed() -> None:
    t = woe_iv([60, 40], [10, 40])  # %good 0.6/0.4, %bad 0.2/0.8
    assert t.woe[0] == pytest.approx(math.log(0.6 / 0.2)) and t.woe[1] == pytest.approx(math.log(0.4 / 0.8))
    assert t.iv == pytest.approx(0.4 * math.log(3) + 0.4 * math.log(2))
    assert t.strength == "strong"
    padded = woe_iv([10, 0], [5, 5])  # an empty cell: 0.5 added everywhere
    assert padded.woe[1] == pytest.approx(math.log((0.5 / 11) / (5.5 / 11)))


def test_pdo_scaling_matches_the_formula() -> None:
    s = PdoScale(pdo=50, base_score=600, base_odds=19)
    assert s.factor == pytest.approx(50 / math.log(2))
    assert s.score(19) == pytest.approx(600) and s.score(38) == pytest.approx(650)
    # points = −(β·WoE + α/n)·factor + offset/n
    assert s.bin_points(-0.8, 0.5, -2.0, 4) == pytest.approx(-(-0.8 * 0.5 - 0.5) * s.factor + s.offset / 4)


def test_fitted_factor_keeps_bins_and_texts() -> None:
    template = default_scorecard().factors[0]
    woe = [-1.0, -0.3, 0.1, 0.6, 1.2]
    fitted = fitted_factor(template, -0.9, woe, -2.9, 11)
    assert fitted.weight == 1 and [b.upper for b in fitted.bins] == [b.upper for b in template.bins]
    assert [b.points for b in fitted.bins] == sorted(b.points for b in fitted.bins)  # more WoE, more points
    assert fitted.label_zh == template.label_zh
    assert fitted.find_bin(6e6) is fitted.bins[-1] and fitted.find_bin(6e6).points == fitted.bins[-1].points
    with pytest.raises(ValueError, match="5 bins"):
        fitted_factor(template, -0.9, woe[:2], -2.9, 11)
