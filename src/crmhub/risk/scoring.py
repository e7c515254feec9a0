"""Applying a scorecard to one client's inputs: points per factor, score, grade, overrides, segment, reasons.

Pure and deterministic (no I/O, no clock): the same inputs and card always give the same assessment, which is
what makes the stored explanation trustworthy and lets the runner skip clients whose inputs did not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from crmhub.model import FactorScore, Rating, RatingOverride, RiskAssessment
from crmhub.risk.card import Factor, Scorecard

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class FactorDetail:
    """What the stored assessment keeps beside `FactorScore`: the bin's own points and zh label."""

    bin_points: Decimal
    max_points: Decimal
    bin_zh: str
    missing: bool
    label_zh: str
    label_en: str
    group: str
    unit: str

    def as_json(self) -> dict[str, Any]:
        """JSON form (Decimals as strings, exact) — enough to explain the factor without the card at hand."""
        return {"bin_points": str(self.bin_points), "max_points": str(self.max_points), "bin_zh": self.bin_zh,
                "missing": self.missing, "label_zh": self.label_zh, "label_en": self.label_en,
                "group": self.group, "unit": self.unit}


@dataclass(slots=True)
class Scored:
    """An assessment and the per-factor details that explain it."""

    assessment: RiskAssessment
    details: dict[str, FactorDetail] = field(default_factory=dict)


def _factor_score(f: Factor, value: Any) -> tuple[FactorScore, FactorDetail, Decimal]:
    found = f.find_bin(value)
    raw = found.points if found is not None else f.floor_points
    gap = f.weight * (f.max_points - raw)
    missing = found is None
    if gap > 0:
        zh = f.reason_zh + ("（数据缺失）" if missing else "")
        en = f.reason_en + (" (input missing)" if missing else "")
    else:
        zh = en = ""
    score = FactorScore(factor=f.name, value=value, bin=found.label("en") if found else "missing",
                        points=(f.weight * raw).quantize(CENT), weight=f.weight, reason_zh=zh, reason_en=en)
    detail = FactorDetail(raw, f.max_points, found.label("zh") if found else "缺失", missing, f.label_zh,
                          f.label_en, f.group, f.unit)
    return score, detail, gap


def score_inputs(card: Scorecard, inputs: dict[str, Any], *, assessed_at: datetime, client_id: int | None = None,
                 uscc: str | None = None) -> Scored:
    """Score ``inputs`` with ``card``: factor points, grade by cut-offs, then overrides in order, then segment.

    Overrides: ``cap`` makes the rating no better than the override's grade, ``set`` makes it exactly that
    grade; every override that fires is named, even when the score alone was already as bad. Reason codes are
    the factors that cost the most points against their best bin (largest ``weight × (max − points)``).
    """
    factors: list[FactorScore] = []
    details: dict[str, FactorDetail] = {}
    gaps: list[tuple[Decimal, int, str]] = []
    total = card.base_points
    for i, f in enumerate(card.factors):
        fs, detail, gap = _factor_score(f, inputs.get(f.input_name))
        factors.append(fs)
        details[f.name] = detail
        total += f.weight * (detail.bin_points)
        if gap > 0:
            gaps.append((gap, i, f.name))
    score = total.quantize(CENT)
    scored = card.grade_for(score)
    rating = scored
    fired: list[RatingOverride] = []
    for o in card.overrides:
        if not o.applies(inputs):
            continue
        rating = o.rating if o.action == "set" else worse(rating, o.rating)
        fired.append(RatingOverride(code=o.code, rating=o.rating, reason_zh=o.reason_zh, reason_en=o.reason_en))
    gaps.sort(key=lambda g: (-g[0], g[1]))
    assessment = RiskAssessment(
        client_id=client_id, uscc=uscc, score=score, rating=rating, segment=card.segment_for(rating),
        scored_rating=scored, factors=factors, overrides=fired,
        reason_codes=[name for _, _, name in gaps[: card.reason_count]], scorecard_version=card.version,
        inputs=inputs, assessed_at=assessed_at)
    return Scored(assessment, details)


def worse(a: Rating, b: Rating) -> Rating:
    """The riskier of two grades."""
    return a if a.numeric >= b.numeric else b
