"""The scorecard configuration: the shipped card, its validation, and where it is loaded from."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path
from typing import Any

import pytest

from crmhub.config import parse_settings
from crmhub.errors import ConfigError
from crmhub.model import Rating, Segment
from crmhub.plugins import load
from crmhub.risk.card import Scorecard, default_scorecard, packaged_text, parse_scorecard
from crmhub.risk.inputs import BUILTIN_INPUTS

ROOT = Path(__file__).resolve().parents[2]


def registry() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load()


def tiny(**changes: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "version": "t1",
        "factors": [
            {
                "name": "x",
                "group": "g",
                "weight": 1,
                "label_zh": "x",
                "label_en": "x",
                "reason_zh": "低",
                "reason_en": "low",
                "bins": [{"upper": 10, "points": 0}, {"lower": 10, "points": 100}],
            }
        ],
        "grades": [{"rating": "A", "min_score": 50}, {"rating": "C"}],
        "segments": [{"segment": "low", "worst": "A"}, {"segment": "high", "worst": "D"}],
        "policy": {
            "low": {"pricing_addon_bp": 0, "collateral_required": False, "review_months": 12},
            "high": {"pricing_addon_bp": 300, "collateral_required": True, "review_months": 3},
        },
    }
    card.update(changes)
    return card


def test_packaged_card_is_the_config_file_byte_for_byte() -> None:
    """config/scorecard.toml (what people read and copy) and the packaged default must never drift apart."""
    assert (ROOT / "config" / "scorecard.toml").read_text(encoding="utf-8") == packaged_text()


def test_shipped_card_is_complete_and_labelled_illustrative() -> None:
    card = default_scorecard()
    assert card.illustrative and "illustrative" in card.title_en.lower()
    assert sum(f.weight for f in card.factors) == 1
    assert [g.rating for g in card.grades] == list(Rating)
    assert card.segment_for(Rating.A) is Segment.LOW and card.segment_for(Rating.BB) is Segment.MEDIUM
    assert card.segment_for(Rating.B) is Segment.HIGH and card.segment_for(Rating.D) is Segment.HIGH
    assert {o.code for o in card.overrides} == {"default_dpd_over_90", "default_npl_class"}
    assert card.inputs() <= set(BUILTIN_INPUTS)
    assert set(card.policy) == set(Segment)


def test_grade_cut_offs_are_inclusive_lower_bounds() -> None:
    card = default_scorecard()
    assert card.grade_for(card.grades[0].min_score) is Rating.AAA  # type: ignore[arg-type]
    assert card.grade_for(card.grades[0].min_score - 1) is Rating.AA  # type: ignore[operator]
    assert card.grade_for(-5) is Rating.D  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bins", "message"),
    [
        ([{"upper": 10, "points": 0}, {"lower": 12, "points": 1}], "without gap or overlap"),
        ([{"lower": 0, "upper": 10, "points": 0}, {"lower": 10, "points": 1}], "no lower bound"),
        ([{"upper": 10, "points": 0}, {"values": ["a"], "points": 1}], "mix of range bins"),
        ([{"values": ["a"], "points": 0}, {"values": ["b"], "points": 1}], "exactly one bin with other"),
        ([{"values": ["a"], "points": 0}, {"values": ["a"], "points": 1}, {"other": True, "points": 2}], "in two bins"),
        ([{"lower": 5, "upper": 5, "points": 0}], "must be below upper"),
    ],
)
def test_bins_must_cover_every_value_once(bins: list[dict[str, Any]], message: str) -> None:
    factor = {**tiny()["factors"][0], "bins": bins}
    with pytest.raises(ConfigError) as err:
        parse_scorecard(tiny(factors=[factor]), "t.toml")
    assert message in str(err.value)
    assert err.value.problems and err.value.problems[0][0].startswith("factors.0")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grades": [{"rating": "C", "min_score": 50}, {"rating": "A"}]}, "best first"),
        (
            {"grades": [{"rating": "A", "min_score": 50}, {"rating": "B", "min_score": 60}, {"rating": "C"}]},
            "fall strictly",
        ),
        ({"grades": [{"rating": "A", "min_score": 50}, {"rating": "C", "min_score": 10}]}, "the last takes"),
        ({"segments": [{"segment": "low", "worst": "A"}, {"segment": "high", "worst": "C"}]}, "ending at D"),
        (
            {"policy": {"low": {"pricing_addon_bp": 0, "collateral_required": False, "review_months": 12}}},
            "policy is missing",
        ),
        ({"factors": [tiny()["factors"][0], tiny()["factors"][0]]}, "unique"),
        ({"colour": "blue"}, "Extra inputs"),
    ],
)
def test_card_level_mistakes_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_scorecard(tiny(**change), "t.toml")
    assert message in str(err.value)


def test_unknown_inputs_are_reported_with_the_known_ones() -> None:
    card = Scorecard.model_validate(tiny())
    with pytest.raises(ConfigError) as err:
        card.check_inputs({"y"}, "t.toml")
    assert err.value.problems == [("factors.x.input", "unknown input 'x'")]
    assert "known inputs: y" in (err.value.hint or "")
    card.check_inputs({"x"}, "t.toml")


def test_inline_scorecard_in_crmhub_toml() -> None:
    settings = parse_settings({"risk": {"scorecard": tiny(version="inline-7")}}, registry())
    assert settings.risk.card().version == "inline-7"


def test_scorecard_file_is_read_and_validated_at_config_load(tmp_path: Path) -> None:
    good = tmp_path / "card.toml"
    good.write_text(
        (ROOT / "config" / "scorecard.toml")
        .read_text(encoding="utf-8")
        .replace('version = "expert-2026.2"', 'version = "bank-3"'),
        encoding="utf-8",
    )
    settings = parse_settings({"risk": {"scorecard_file": str(good)}}, registry())
    assert settings.risk.card().version == "bank-3"
    bad = tmp_path / "bad.toml"
    data = tomllib.loads(good.read_text(encoding="utf-8"))
    bad.write_text(good.read_text(encoding="utf-8").replace("weight = 0.12", "weight = -1"), encoding="utf-8")
    assert data["factors"][0]["weight"] == 0.12
    with pytest.raises(ConfigError) as err:
        parse_settings({"risk": {"scorecard_file": str(bad)}}, registry())
    assert err.value.problems[0][0] == "risk" and "factors.0.weight" in err.value.problems[0][1]
    with pytest.raises(ConfigError, match="not found"):
        parse_settings({"risk": {"scorecard_file": str(tmp_path / "missing.toml")}}, registry())


def test_file_and_inline_together_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="either scorecard_file or an inline"):
        parse_settings({"risk": {"scorecard_file": "config/scorecard.toml", "scorecard": tiny()}}, registry())


def test_risk_settings_typos_get_a_hint() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"risk": {"alerts": {"large_value": {"transfer_cnyy": 1}}}}, registry())
    assert err.value.problems[0][0] == "risk.alerts.large_value.transfer_cnyy"
    assert "transfer_cny" in err.value.problems[0][1]
