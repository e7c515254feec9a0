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

from crmhub.model import FactorScore, Rating, RatingOverride, RiskAssessment, Segment
from crmhub.risk.card import NPL_DEFAULTS, Factor, Override, Scorecard

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
        return {
            "bin_points": str(self.bin_points),
            "max_points": str(self.max_points),
            "bin_zh": self.bin_zh,
            "missing": self.missing,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "group": self.group,
            "unit": self.unit,
        }


@dataclass(slots=True)
class Scored:
    """An assessment and the per-factor details that explain it."""

    assessment: RiskAssessment
    details: dict[str, FactorDetail] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Bin:
    """A bin with everything scoring needs precomputed: points, weighted points (and their text), the gap to the
    factor's best bin, labels, and whether it names a reason (below the factor's adverse threshold)."""

    points: Decimal
    weighted: Decimal
    gap: Decimal
    label_en: str
    label_zh: str
    missing: bool
    adverse: bool
    stored: str  # ``str(weighted)``: the text a stored assessment keeps
    details: dict[str, Any]  # `FactorDetail.as_json` of the bin (defaults left out), shared by its clients


@dataclass(frozen=True, slots=True)
class _Factor:
    """A factor compiled for speed: plain lists and dicts instead of validated models (a large book scores
    millions of factor values); `Factor.max_points`, `adverse_threshold` and the labels are read once here."""

    spec: Factor
    name: str
    input: str
    weight: Decimal
    weight_text: str
    max_points: Decimal
    numeric: bool
    lowers: list[float]
    ordered: list[_Bin]
    by_value: dict[str, _Bin]
    other: _Bin | None
    absent: _Bin
    reason_zh: str
    reason_en: str
    missing_zh: str
    missing_en: str

    def find(self, value: Any) -> _Bin:
        if value is None:
            return self.absent
        if self.numeric:
            try:
                number = float(value)
            except (TypeError, ValueError):
                return self.absent
            if math.isnan(number):
                return self.absent
            return self.ordered[bisect.bisect_right(self.lowers, number) - 1]
        found = self.by_value.get(str(value))
        return found if found is not None else (self.other or self.absent)

    def reasons(self, b: _Bin) -> tuple[str, str]:
        """The factor's reason texts when bin ``b`` lowered the score (`Factor.adverse_threshold`): the adverse
        finding, or — for an unknown input — that the data is missing, never a finding about it."""
        if not b.adverse:
            return "", ""
        return (self.missing_zh, self.missing_en) if b.missing else (self.reason_zh, self.reason_en)


def _compile_factor(f: Factor) -> _Factor:
    best, threshold, w = f.max_points, f.adverse_threshold, f.weight

    def make(points: Decimal, en: str, zh: str, missing: bool = False) -> _Bin:
        weighted = (w * points).quantize(CENT)
        detail = FactorDetail(points, best, zh, missing, f.label_zh, f.label_en, f.group, f.unit).as_json()
        # stored compactly: readers default a missing "bin_zh" to the English bin, "missing" to false, "unit" to ""
        for key, default in (("bin_zh", en), ("missing", False), ("unit", "")):
            if detail[key] == default:
                del detail[key]
        return _Bin(points, weighted, w * (best - points), en, zh, missing, points < threshold, str(weighted), detail)

    compiled = {id(b): make(b.points, b.label("en"), b.label("zh")) for b in f.bins}
    numeric = f.numeric
    ordered = sorted(f.bins, key=lambda b: (b.lower is not None, b.lower or 0)) if numeric else []
    other = next((b for b in f.bins if b.other), None)
    return _Factor(
        f,
        f.name,
        f.input_name,
        w,
        str(w),
        best,
        numeric,
        [-math.inf if b.lower is None else float(b.lower) for b in ordered],
        [compiled[id(b)] for b in ordered],
        {v: compiled[id(b)] for b in f.bins for v in (b.values or ())},
        compiled[id(other)] if other is not None else None,
        make(f.floor_points, "missing", "缺失", True),
        f.reason_zh,
        f.reason_en,
        f"{f.label_zh}：数据缺失",
        f"{f.label_en}: data missing",
    )


@dataclass(frozen=True, slots=True)
class _Override:
    """An override rule and its stored form, serialised once."""

    rule: Override
    stored: dict[str, Any]


@dataclass(slots=True)
class Outcome:
    """One client's scoring as plain values — what the runner stores — without building pydantic models."""

    score: Decimal
    rating: Rating
    scored_rating: Rating
    segment: Segment
    factors: list[tuple[_Factor, _Bin, Any]]
    overrides: list[_Override]
    reason_codes: list[str]

    def factor_json(self) -> list[dict[str, Any]]:
        """`FactorScore` JSON of every factor (empty reasons left out: readers default them to "")."""
        out = []
        for cf, b, value in self.factors:
            item = {"factor": cf.name, "value": value, "bin": b.label_en, "points": b.stored, "weight": cf.weight_text}
            if b.adverse:
                item["reason_zh"], item["reason_en"] = cf.reasons(b)
            out.append(item)
        return out

    def details_json(self) -> dict[str, dict[str, Any]]:
        """`FactorDetail.as_json` of every factor, values equal to the readers' defaults left out."""
        return {cf.name: b.details for cf, b, _ in self.factors}


class CompiledCard:
    """A scorecard with every per-factor and per-bin constant worked out once (per run, not per client): best
    points, adverse thresholds, weighted points, labels, reason texts, the policy of each grade."""

    def __init__(self, card: Scorecard) -> None:
        self.card = card
        self.factors = [_compile_factor(f) for f in card.factors]
        self.overrides = [
            _Override(
                o,
                RatingOverride(code=o.code, rating=o.rating, reason_zh=o.reason_zh, reason_en=o.reason_en).model_dump(
                    mode="json"
                ),
            )
            for o in card.overrides
        ]
        self.defaults = [
            _Override(
                o,
                RatingOverride(code=o.code, rating=o.rating, reason_zh=o.reason_zh, reason_en=o.reason_en).model_dump(
                    mode="json"
                ),
            )
            for o in NPL_DEFAULTS
        ]
        self.segments = {r: card.segment_for(r) for r in Rating}
        self.policies: dict[Rating, dict[str, Any] | None] = {}
        for r in Rating:
            try:  # D (and any grade with its own policy) has a policy even when its segment has none
                self.policies[r] = card.policy_for(r, self.segments[r]).model_dump(mode="json")
            except KeyError:
                self.policies[r] = None

    def score(self, inputs: dict[str, Any]) -> Outcome:
        """Score ``inputs`` (see `score_inputs`) into plain values."""
        chosen: list[tuple[_Factor, _Bin, Any]] = []
        gaps: list[tuple[Decimal, int, str]] = []
        total = self.card.base_points
        for i, cf in enumerate(self.factors):
            value = inputs.get(cf.input)
            b = cf.find(value)
            chosen.append((cf, b, value))
            total += cf.weight * b.points
            if b.adverse:  # only factors that lowered the score are reasons
                gaps.append((b.gap, i, cf.name))
        score = total.quantize(CENT)
        scored = self.card.grade_for(score)
        rating = scored
        fired: list[_Override] = []
        for o in self.overrides:
            if not o.rule.applies(inputs):
                continue
            rating = o.rule.rating if o.rule.action == "set" else worse(rating, o.rule.rating)
            fired.append(o)
        # the regulatory default rules run last and whatever the card says (a card rule of the same code with a laxer
        # condition, or a later "set" to a better grade, cannot lift a non-performing borrower out of D)
        for o in self.defaults:
            if o.rule.applies(inputs):
                rating = worse(rating, o.rule.rating)
                if all(f.rule.code != o.rule.code for f in fired):
                    fired.append(o)
        gaps.sort(key=lambda g: (-g[0], g[1]))
        return Outcome(
            score,
            rating,
            scored,
            self.segments[rating],
            chosen,
            fired,
            [name for _, _, name in gaps[: self.card.reason_count]],
        )


_COMPILED: dict[int, CompiledCard] = {}


def compiled(card: Scorecard) -> CompiledCard:
    """The compiled form of ``card`` (cached by identity: cards are frozen)."""
    found = _COMPILED.get(id(card))
    if found is not None and found.card is card:
        return found
    if len(_COMPILED) > 16:
        _COMPILED.clear()
    found = _COMPILED[id(card)] = CompiledCard(card)
    return found


def score_inputs(
    card: Scorecard,
    inputs: dict[str, Any],
    *,
    assessed_at: datetime,
    client_id: int | None = None,
    uscc: str | None = None,
) -> Scored:
    """Score ``inputs`` with ``card``: factor points, grade by cut-offs, then overrides in order, then segment.

    Overrides: ``cap`` makes the rating no better than the override's grade, ``set`` makes it exactly that
    grade; every override that fires is named, even when the score alone was already as bad. The default
    definition (`NPL_DEFAULTS`: > 90 DPD or 次级 and worse → D) runs after the card's own, for any of its codes the
    card does not list, so no card rates a non-performing borrower above D. Reason codes are the adverse factors
    (points below their `Factor.adverse_threshold`) that cost the most points against their best bin (largest
    ``weight × (max − points)``); a factor that did not lower the score is never a reason.
    """
    out = compiled(card).score(inputs)
    factors = []
    details = {}
    for cf, b, value in out.factors:
        zh, en = cf.reasons(b)
        factors.append(
            FactorScore(
                factor=cf.name,
                value=value,
                bin=b.label_en,
                points=b.weighted,
                weight=cf.weight,
                reason_zh=zh,
                reason_en=en,
            )
        )
        details[cf.name] = FactorDetail(
            b.points,
            cf.max_points,
            b.label_zh,
            b.missing,
            cf.spec.label_zh,
            cf.spec.label_en,
            cf.spec.group,
            cf.spec.unit,
        )
    assessment = RiskAssessment(
        client_id=client_id,
        uscc=uscc,
        score=out.score,
        rating=out.rating,
        segment=out.segment,
        scored_rating=out.scored_rating,
        factors=factors,
        overrides=[RatingOverride.model_validate(o.stored) for o in out.overrides],
        reason_codes=out.reason_codes,
        scorecard_version=card.version,
        inputs=inputs,
        assessed_at=assessed_at,
    )
    return Scored(assessment, details)


def worse(a: Rating, b: Rating) -> Rating:
    """The riskier of two grades."""
    return a if a.numeric >= b.numeric else b
