"""`RiskAssessment`: the full, explainable result of scoring one client."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import Field

from crmhub.model.client import Rating, Record, Segment


class FactorScore(Record):
    """One scorecard factor's contribution: which bin the input fell in and the points it earned."""

    factor: str
    value: Any = None
    bin: str
    points: Decimal
    weight: Decimal = Decimal(1)
    reason_zh: str = ""
    reason_en: str = ""


class RatingOverride(Record):
    """A rule that capped or set the rating after scoring (e.g. more than 90 days past due sets D)."""

    code: str
    rating: Rating
    reason_zh: str
    reason_en: str


class RiskAssessment(Record):
    """Score, rating, segment and the reasons, for one client at one moment."""

    client_id: int | None = None
    uscc: str | None = None
    score: Decimal
    rating: Rating
    segment: Segment
    scored_rating: Rating = Field(description="The rating from the score alone, before overrides.")
    factors: list[FactorScore] = Field(default_factory=list)
    overrides: list[RatingOverride] = Field(default_factory=list)
    reason_codes: list[str] = Field(default_factory=list, description="Factors that moved the score most.")
    scorecard_version: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    assessed_at: datetime
