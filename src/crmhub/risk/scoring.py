"""Applying a scorecard to one client's inputs: points per factor, score, grade, overrides, segment, reasons.

Pure and deterministic (no I/O, no clock): the same inputs and card always give the same assessment, which is
what makes the stored explanation trustworthy and lets the runner skip clients whose inputs did not change.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from crmhub.model import FactorScore, Rating, RatingOverride, RiskAssessment
from crmhub.risk.card import NPL_DEFAULTS, Factor, Scorecard

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


@dataclass(frozen=True, slots=True)
class _Bin:
    """A bin with everything scoring needs precomputed (points, weighted points, gap to the best, labels)."""

    points: Decimal
    weighted: Decimal
    gap: Decimal
    label_en: str
    label_zh: str
    missing: bool = False


@dataclass(frozen=True, slots=True)
class _Factor:
    """A factor compiled for speed: plain lists and dicts instead of validated models (a large book scores
    millions of factor values)."""

    spec: Factor
    lowers: list[float]
    ordered: list[_Bin]
    by_value: dict[str, _Bin]
    other: _Bin | None
    absent: _Bin

    def find(self, value: Any) -> _Bin:
        if value is None:
            return self.absent
        if self.spec.numeric:
            try:
                number = float(value)
            except (TypeError, ValueError):
                return self.absent
            if math.isnan(number):
                return self.absent
            return self.ordered[bisect.bisect_right(self.lowers, number) - 1]
        found = self.by_value.get(str(value))
        return found if found is not None else (self.other or self.absent)


_COMPILED: dict[int, tuple[Scorecard, list[_Factor]]] = {}


def _compile(card: Scorecard) -> list[_Factor]:
    cached = _COMPILED.get(id(card))
    if cached is not None and cached[0] is card:
        return cached[1]
    out = []
    for f in card.factors:
        def make(points: Decimal, en: str, zh: str, missing: bool = False, w: Decimal = f.weight,
                 best: Decimal = f.max_points) -> _Bin:
            return _Bin(points, (w * points).quantize(CENT), w * (best - points), en, zh, missing)

        compiled = {id(b): make(b.points, b.label("en"), b.label("zh")) for b in f.bins}
        ordered = sorted(f.bins, key=lambda b: (b.lower is not None, b.lower or 0)) if f.numeric else []
        other = next((b for b in f.bins if b.other), None)
        out.append(_Factor(
            f, [-math.inf if b.lower is None else float(b.lower) for b in ordered],
            [compiled[id(b)] for b in ordered],
            {v: compiled[id(b)] for b in f.bins for v in (b.values or ())},
            compiled[id(other)] if other is not None else None,
            make(f.floor_points, "missing", "缺失", True)))
    if len(_COMPILED) > 16:
        _COMPILED.clear()
    _COMPILED[id(card)] = (card, out)
    return out


def _factor_score(cf: _Factor, value: Any) -> tuple[FactorScore, FactorDetail, Decimal]:
    """The factor's points and, only when it lowered the score (`Factor.adverse_threshold`), its reason: the
    adverse finding, or — for an unknown input — that the data is missing, never a finding about it."""
    f = cf.spec
    b = cf.find(value)
    if b.points >= f.adverse_threshold:
        zh = en = ""
    elif b.missing:
        zh, en = f"{f.label_zh}：数据缺失", f"{f.label_en}: data missing"
    else:
        zh, en = f.reason_zh, f.reason_en
    score = FactorScore(factor=f.name, value=value, bin=b.label_en, points=b.weighted, weight=f.weight,
                        reason_zh=zh, reason_en=en)
    detail = FactorDetail(b.points, f.max_points, b.label_zh, b.missing, f.label_zh, f.label_en, f.group, f.unit)
    return score, detail, b.gap


def score_inputs(card: Scorecard, inputs: dict[str, Any], *, assessed_at: datetime, client_id: int | None = None,
                 uscc: str | None = None) -> Scored:
    """Score ``inputs`` with ``card``: factor points, grade by cut-offs, then overrides in order, then segment.

    Overrides: ``cap`` makes the rating no better than the override's grade, ``set`` makes it exactly that
    grade; every override that fires is named, even when the score alone was already as bad. The default
    definition (`NPL_DEFAULTS`: > 90 DPD or 次级 and worse → D) runs after the card's own, for any of its codes the
    card does not list, so no card rates a non-performing borrower above D. Reason codes are the adverse factors
    (points below their `Factor.adverse_threshold`) that cost the most points against their best bin (largest
    ``weight × (max − points)``); a factor that did not lower the score is never a reason.
    """
    factors: list[FactorScore] = []
    details: dict[str, FactorDetail] = {}
    gaps: list[tuple[Decimal, int, str]] = []
    total = card.base_points
    for i, cf in enumerate(_compile(card)):
        f = cf.spec
        fs, detail, gap = _factor_score(cf, inputs.get(f.input_name))
        factors.append(fs)
        details[f.name] = detail
        total += f.weight * (detail.bin_points)
        if fs.reason_zh:  # only factors that lowered the score are reasons
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
    # the regulatory default rules run last and whatever the card says (a card rule of the same code with a laxer
    # condition, or a later "set" to a better grade, cannot lift a non-performing borrower out of D)
    for o in NPL_DEFAULTS:
        if o.applies(inputs):
            rating = worse(rating, o.rating)
            if all(f.code != o.code for f in fired):
                fired.append(RatingOverride(code=o.code, rating=o.rating, reason_zh=o.reason_zh,
                                            reason_en=o.reason_en))
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
