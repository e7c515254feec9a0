"""Explaining a stored assessment: score, grade, segment, policy, each factor's input, bin, points and reason,
and every override by name (domain.md §9.1 item 6).

Built only from what the assessment stored (never from today's card), so an explanation months later says what
was decided then and under which scorecard version.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.model import Rating, RiskAssessment, Segment
from crmhub.risk.card import Scorecard
from crmhub.store.tables import GoldenClient, RiskAssessmentRow


def assessment_of(
    data: dict[str, Any],
    *,
    client_id: int,
    uscc: str | None,
    version: str,
    assessed_at: datetime,
    rating: str | None = None,
    segment: str | None = None,
    score: float | None = None,
) -> RiskAssessment:
    """A stored assessment (``risk_assessment.data``) as the model plugins receive, completed from its row.

    Rows store only what the columns do not hold: client, grade, segment, scorecard version and time come from
    the row (older rows, which repeated them in ``data``, read the same).
    """
    a = dict(data.get("assessment") or {})
    columns = {
        "client_id": client_id,
        "uscc": uscc,
        "scorecard_version": version,
        "assessed_at": assessed_at,
        "rating": rating,
        "segment": segment,
        "score": score,
    }
    for key, value in columns.items():
        if value is not None:
            a.setdefault(key, value)
    a.setdefault("scored_rating", a.get("rating"))
    return RiskAssessment.model_validate(a)


def current_assessment(session: Session, client_id: int) -> RiskAssessmentRow | None:
    """The client's current assessment row."""
    return session.scalars(
        select(RiskAssessmentRow)
        .where(RiskAssessmentRow.client_id == client_id, RiskAssessmentRow.current.is_(True))
        .order_by(RiskAssessmentRow.id.desc())
    ).first()


def history(session: Session, client_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """Past assessments, newest first (headline only)."""
    rows = session.scalars(
        select(RiskAssessmentRow)
        .where(RiskAssessmentRow.client_id == client_id)
        .order_by(RiskAssessmentRow.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": r.id,
            "assessed_at": r.assessed_at.isoformat(),
            "score": r.score,
            "rating": r.rating,
            "segment": r.segment,
            "scorecard_version": r.scorecard_version,
            "current": r.current,
            "run_id": r.run_id,
        }
        for r in rows
    ]


def explanation(session: Session, golden: GoldenClient) -> dict[str, Any]:
    """The explanation of ``golden``'s current assessment as JSON; `InputError` when it was never assessed."""
    row = current_assessment(session, golden.id)
    if row is None:
        raise InputError(
            f"client {golden.uscc or golden.id} has not been assessed yet",
            hint=f"run `crmhub risk assess {golden.uscc or ''}`".rstrip(),
        )
    data = row.data or {}
    a = data.get("assessment", {})
    details = data.get("factors", {})
    factors = []
    for f in a.get("factors", []):
        d = details.get(f["factor"], {})
        factors.append(
            {
                "factor": f["factor"],
                "label_zh": d.get("label_zh", f["factor"]),
                "label_en": d.get("label_en", f["factor"]),
                "group": d.get("group"),
                "unit": d.get("unit", ""),
                "value": f.get("value"),
                "bin_en": f.get("bin"),
                "bin_zh": d.get("bin_zh", f.get("bin")),
                "bin_points": d.get("bin_points"),
                "weight": f.get("weight"),
                "points": f.get("points"),
                "max_points": d.get("max_points"),
                "missing": d.get("missing", False),
                "reason_zh": f.get("reason_zh", ""),
                "reason_en": f.get("reason_en", ""),
            }
        )
    rating = Rating(row.rating)
    by_name = {f["factor"]: f for f in factors}
    return {
        "id": golden.id,
        "uscc": golden.uscc,
        "name": golden.name,
        "assessment_id": row.id,
        "assessed_at": row.assessed_at.isoformat(),
        "score": a.get("score", row.score),
        "rating": rating.value,
        "rating_numeric": rating.numeric,
        "scored_rating": a.get("scored_rating"),
        "segment": row.segment,
        "segment_zh": Segment(row.segment).label_zh,
        "scorecard_version": row.scorecard_version,
        "scorecard_fingerprint": data.get("scorecard_fingerprint"),
        "as_of": (data.get("parameters") or {}).get("today"),
        "policy": data.get("policy"),
        "overrides": a.get("overrides", []),
        "reason_codes": [
            {
                "factor": c,
                "reason_zh": by_name.get(c, {}).get("reason_zh", ""),
                "reason_en": by_name.get(c, {}).get("reason_en", ""),
            }
            for c in a.get("reason_codes", [])
        ],
        "factors": factors,
        "inputs": a.get("inputs", {}),
        "run_id": row.run_id,
    }


def points_table(card: Scorecard) -> dict[str, Any]:
    """The scorecard as a table people can read: every factor, bin and point; grades, segments, overrides."""
    low, high = card.score_range()
    return {
        "version": card.version,
        "title_zh": card.title_zh,
        "title_en": card.title_en,
        "illustrative": card.illustrative,
        "fingerprint": card.fingerprint(),
        "base_points": str(card.base_points),
        "score_range": [str(low), str(high)],
        "factors": [
            {
                "name": f.name,
                "input": f.input_name,
                "group": f.group,
                "weight": str(f.weight),
                "label_zh": f.label_zh,
                "label_en": f.label_en,
                "unit": f.unit,
                "missing_points": str(f.floor_points),
                "adverse_below": str(f.adverse_threshold),
                "bins": [
                    {
                        "zh": b.label("zh"),
                        "en": b.label("en"),
                        "points": str(b.points),
                        "weighted": str((b.points * f.weight).quantize(Decimal("0.01"))),
                    }
                    for b in f.bins
                ],
            }
            for f in card.factors
        ],
        "grades": [
            {
                "rating": g.rating.value,
                "numeric": g.rating.numeric,
                "min_score": None if g.min_score is None else str(g.min_score),
            }
            for g in card.grades
        ],
        "segments": [{"segment": s.segment.value, "worst": s.worst.value} for s in card.segments],
        "overrides": [o.model_dump(mode="json") for o in card.overrides],
        "policy": {k.value: v.model_dump(mode="json") for k, v in card.policy.items()},
        "rating_policy": {k.value: v.model_dump(mode="json") for k, v in card.rating_policy.items()},
    }
