"""Read-side queries for operators: list, show and explain golden clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.masking import mask_record
from crmhub.model import CorporateClient
from crmhub.model import uscc as uscc_mod
from crmhub.store.tables import FieldLineage, GoldenClient, RiskAssessmentRow


def find_client(session: Session, ref: str) -> GoldenClient:
    """A golden client by hub id or USCC; a merged one resolves to its survivor."""
    ref = ref.strip()
    row: GoldenClient | None = None
    if ref.isdigit() and len(ref) < 18:
        row = session.get(GoldenClient, int(ref))
    else:
        code = uscc_mod.compact(ref)  # full-width, lower case, spaces and dashes folded
        row = session.scalars(select(GoldenClient).where(GoldenClient.uscc == code)).first()
        if row is None and len(code) == 18 and not uscc_mod.is_valid(code):
            # a client kept with a USCC that fails its check holds it as ``uscc_unverified`` (never as key)
            row = session.scalars(
                select(GoldenClient)
                .where(GoldenClient.data["uscc_unverified"].as_string() == code)
                .order_by(GoldenClient.id)
            ).first()
    seen = set()
    while row is not None and row.status == "merged" and row.merged_into and row.id not in seen:
        seen.add(row.id)
        row = session.get(GoldenClient, row.merged_into)
    if row is None:
        raise InputError(f"no client with id or USCC {ref!r}", hint="list clients with `crmhub clients list`")
    return row


def client_json(row: GoldenClient, *, mask: bool = True, risk: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON form of a golden client (``id``, ``uscc``, ``name``, ``industry``, ``external_ids``, ``risk`` …).

    Personal data is masked (`crmhub.masking`) unless ``mask=False`` — which only an audited ``--reveal`` asks for.
    """
    data = dict(row.data or {})
    data.setdefault("name", row.name)
    client = CorporateClient.model_validate({**data, "id": row.id})
    out = client.model_dump(
        mode="json", exclude_none=True, context={"mask": True} if mask else None, exclude={"lineage"}
    )
    out["id"] = row.id
    out.setdefault("uscc", None)
    out.setdefault("industry", None)
    out.setdefault("external_ids", {})
    out["risk"] = risk if risk is not None else out.get("risk")
    out["status"] = row.status
    out["version"] = row.version
    out["updated_at"] = row.updated_at.isoformat()
    if mask:  # the typed fields were masked by kind; free text (names, aliases, notes) by pattern
        return mask_record(out)
    return out


def current_risk(session: Session, client_id: int) -> dict[str, Any] | None:
    """The current risk assessment's headline, if any."""
    row = session.scalars(
        select(RiskAssessmentRow).where(RiskAssessmentRow.client_id == client_id, RiskAssessmentRow.current.is_(True))
    ).first()
    if row is None:
        return None
    return {
        "rating": row.rating,
        "score": row.score,
        "segment": row.segment,
        "assessed_at": row.assessed_at.isoformat(),
        "scorecard_version": row.scorecard_version,
    }


def list_clients(
    session: Session, *, search: str | None = None, limit: int = 100, offset: int = 0, segment: str | None = None
) -> tuple[int, list[GoldenClient]]:
    """Active golden clients, optionally filtered by name/USCC fragment or segment."""
    q = select(GoldenClient).where(GoldenClient.status == "active")
    if search:
        like = f"%{search.strip()}%"
        code = f"%{uscc_mod.compact(search)}%"  # a USCC fragment typed full-width, lower case or with spaces
        q = q.where(or_(GoldenClient.name.like(like), GoldenClient.uscc.like(code)))
    if segment:
        q = q.where(GoldenClient.segment == segment)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = list(session.scalars(q.order_by(GoldenClient.id).offset(offset).limit(limit)))
    return total, rows


@dataclass(slots=True)
class FieldExplanation:
    """One field of `crmhub clients explain`."""

    field: str
    value: Any
    source: str
    record: str
    observed_at: str
    rule: str
    competing: list[dict[str, Any]]


def data_quality(row: GoldenClient) -> list[dict[str, Any]]:
    """The data-quality findings of a golden client's source records (e.g. a USCC failing its check)."""
    return [dict(f) for f in (row.data or {}).get("data_quality") or [] if isinstance(f, dict)]


def explain(session: Session, client_id: int) -> list[FieldExplanation]:
    """Per field: the chosen value, its source record, when it was seen, the rule, and the competing values."""
    rows = session.scalars(select(FieldLineage).where(FieldLineage.client_id == client_id).order_by(FieldLineage.field))
    return [
        FieldExplanation(
            r.field, r.value, r.source, r.source_record_id, r.observed_at.isoformat(), r.rule, list(r.competing or [])
        )
        for r in rows
    ]
