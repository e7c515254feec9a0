"""The records behind a run's counts (drill-down): which clients a run created or updated, which records it
rejected, which conflicts it met, which write-backs it delivered or failed, which alerts it raised.

Each count of a `RunReport` has a query here that lists its records, for one server-side paginated page:

- ``created`` / ``updated``: the run's ``client.create`` / ``client.update`` audit entries (the merge phase writes
  one per golden client it changed, with the masked changes in ``details``);
- ``rejected``: the run's dead letters (inbound records refused and outbound write-backs refused);
- ``conflicted``: the run's ``conflict.resolved`` audit entries plus the review items created while it ran (the
  conflicts and grey-zone matches it queued for people);
- ``written_back`` / ``write_failed``: the write-backs the run planned, by outcome (outbox ``confirmed`` /
  ``failed``);
- ``alerts``: the AML alerts the run raised (for AML officers only; the page checks);
- ``planned``: a dry run's planned writes (kept only in its report).

Rows are shaped for a screen by `shape` with one extra query for the page's client names (no per-row queries).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, String, cast, literal, select, union_all
from sqlalchemy.orm import Session

from crmhub.core.outbox import OutboxState
from crmhub.core.report import PlannedChange
from crmhub.display import reason
from crmhub.masking import mask_fields, mask_text
from crmhub.store import deadletter_history as dl_history
from crmhub.store.tables import Alert, AuditLog, DeadLetter, GoldenClient, Outbox, ReviewItem, SyncRun

WHATS = ("created", "updated", "rejected", "conflicted", "written_back", "write_failed", "alerts", "planned")
"""Every drill-down a run page links to."""
FILTERABLE = ("rejected", "written_back", "write_failed", "planned")
"""Drill-downs whose records belong to one connector and stream (the page offers those two filters)."""
_ACTIONS = {"created": "client.create", "updated": "client.update"}
_OUTBOX_STATES = {"written_back": OutboxState.CONFIRMED, "write_failed": OutboxState.FAILED}


@dataclass(frozen=True, slots=True)
class Narrowing:
    """Optional connector/stream filter of a drill-down (applies to `FILTERABLE` ones only)."""

    connector: str = ""
    stream: str = ""


def query(what: str, run: SyncRun, narrowing: Narrowing = Narrowing()) -> Select[Any]:
    """The rows behind ``what`` of ``run`` (tuples, ordered, ready for `crmhub.console.web.paginate`).

    ``planned`` has no query (its records live in the report: `crmhub.sync.run_query.load_plan`).
    """
    if what in _ACTIONS:
        return (
            select(AuditLog.id, AuditLog.at, AuditLog.entity_id, AuditLog.details)
            .where(AuditLog.run_id == run.id, AuditLog.action == _ACTIONS[what])
            .order_by(AuditLog.id)
        )
    if what == "rejected":
        q: Select[Any] = select(DeadLetter).where(DeadLetter.run_id == run.id)
        if narrowing.connector:
            q = q.where(DeadLetter.connector == narrowing.connector)
        if narrowing.stream:
            q = q.where(DeadLetter.stream == narrowing.stream)
        return q.order_by(DeadLetter.id)
    if what in _OUTBOX_STATES:
        out: Select[Any] = select(Outbox).where(
            Outbox.run_id == run.id, Outbox.kind == "write_back", Outbox.state == _OUTBOX_STATES[what]
        )
        if narrowing.connector:
            out = out.where(Outbox.target == narrowing.connector)
        if narrowing.stream:
            out = out.where(Outbox.stream == narrowing.stream)
        return out.order_by(Outbox.id)
    if what == "conflicted":
        return _conflicted(run)
    if what == "alerts":
        return select(Alert).where(Alert.run_id == run.id).order_by(Alert.id)
    raise ValueError(f"no query for {what!r}")


def _conflicted(run: SyncRun) -> Select[Any]:
    """Resolved conflicts (audit) and review items queued during the run, in one ordered list (UNION ALL)."""
    until = run.finished_at or datetime.now(UTC)
    resolved = select(
        literal("resolved").label("source"),
        AuditLog.id.label("id"),
        AuditLog.at.label("at"),
        cast(AuditLog.entity_id, String).label("client_id"),
        literal(None, String).label("other_id"),
        AuditLog.details.label("details"),
        literal("conflict").label("kind"),
        literal(None, String).label("status"),
    ).where(AuditLog.run_id == run.id, AuditLog.action == "conflict.resolved")
    queued = select(
        literal("review").label("source"),
        ReviewItem.id,
        ReviewItem.created_at,
        cast(ReviewItem.client_id, String),
        cast(ReviewItem.other_client_id, String),
        ReviewItem.details,
        ReviewItem.kind,
        ReviewItem.status,
    ).where(ReviewItem.created_at >= run.started_at, ReviewItem.created_at <= until)
    both = union_all(resolved, queued).subquery()
    return select(both).order_by(both.c.at, both.c.source, both.c.id)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def client_names(session: Session, ids: set[int]) -> dict[int, str]:
    """Names of these golden clients (masked by pattern, as the report masks them), in one query."""
    if not ids:
        return {}
    rows = session.execute(select(GoldenClient.id, GoldenClient.name).where(GoldenClient.id.in_(sorted(ids))))
    return {i: mask_text(name or "") for i, name in rows}


def short(value: Any, limit: int = 160) -> str:
    """A stored value as one short line for a table cell."""
    import json

    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _masked(value: Any) -> str:
    """An audited value as a line: already masked by field when audited; free text masked again by pattern (an
    e-mail or phone inside a nested value, e.g. the relationship manager's)."""
    return mask_text(short(value))


def shape(session: Session, what: str, rows: list[Any]) -> list[dict[str, Any]]:
    """The page's rows as dicts for the template (names looked up once, personal data masked)."""
    if what in _ACTIONS:
        names = client_names(session, {i for r in rows if (i := _int(r.entity_id)) is not None})
        return [
            {
                "id": r.id,
                "at": r.at,
                "client_id": _int(r.entity_id),
                "name": names.get(_int(r.entity_id) or 0, ""),
                "changes": [
                    (f, _masked((c or {}).get("before")), _masked((c or {}).get("after")))
                    for f, c in sorted(((r.details or {}).get("changes") or {}).items())
                ],
            }
            for r in rows
        ]
    if what == "rejected":
        return [
            {
                "id": d.id,
                "at": d.created_at,
                "direction": d.direction,
                "connector": d.connector,
                "stream": d.stream,
                "source_id": d.source_id,
                "field": d.field,
                "status": d.status,
                "attempts": d.attempts,
                "reason": reason(mask_text(dl_history.first_reason(d) or d.reason or "")),
                "latest": reason(mask_text(d.reason or "")),
            }
            for d in rows
        ]
    if what in _OUTBOX_STATES:
        names = client_names(session, {o.client_id for o in rows if o.client_id is not None})
        return [
            {
                "id": o.id,
                "target": o.target,
                "stream": o.stream,
                "client_id": o.client_id,
                "name": names.get(o.client_id or 0, ""),
                "source_id": o.source_id,
                "attempts": o.attempts,
                "last_error": reason(mask_text(o.last_error)) if o.last_error else "",
                "at": o.updated_at,
            }
            for o in rows
        ]
    if what == "conflicted":
        ids = {i for r in rows for i in (_int(r.client_id), _int(r.other_id)) if i is not None}
        names = client_names(session, ids)
        out = []
        for r in rows:
            details = r.details or {}
            cid, other = _int(r.client_id), _int(r.other_id)
            out.append(
                {
                    "source": r.source,
                    "id": r.id,
                    "at": r.at,
                    "kind": r.kind,
                    "status": r.status,
                    "client_id": cid,
                    "name": names.get(cid or 0, ""),
                    "other_id": other,
                    "other_name": names.get(other or 0, ""),
                    "field": details.get("field"),
                    "rule": details.get("rule"),
                    "winner": details.get("winner"),
                    "sources": ", ".join(str(s) for s in details.get("sources") or []),
                }
            )
        return out
    if what == "alerts":
        names = client_names(session, {a.client_id for a in rows if a.client_id is not None})
        return [
            {
                "id": a.id,
                "kind": a.kind,
                "client_id": a.client_id,
                "name": names.get(a.client_id or 0, ""),
                "day": a.day,
                "currency": a.currency,
                "amount": None if a.amount_minor is None else Decimal(a.amount_minor).scaleb(-2),
                "status": a.status,
                "at": a.created_at,
            }
            for a in rows
        ]
    raise ValueError(f"no shape for {what!r}")


def plan_rows(plan: list[PlannedChange], narrowing: Narrowing) -> list[dict[str, Any]]:
    """A dry run's planned writes, narrowed, masked as the report masks them (one row per planned write)."""
    out = []
    for change in plan:
        if narrowing.connector and change.connector != narrowing.connector:
            continue
        if narrowing.stream and change.stream != narrowing.stream:
            continue
        out.append(
            {
                "connector": change.connector,
                "stream": change.stream,
                "action": change.action,
                "client_id": change.client_id,
                "name": mask_text(change.client_name),
                "source_id": change.source_id,
                "fields": [
                    (f, short(mask_fields(v.get("before"), f)), short(mask_fields(v.get("after"), f)))
                    for f, v in change.fields.items()
                ],
            }
        )
    return out


__all__ = ["FILTERABLE", "WHATS", "Narrowing", "client_names", "plan_rows", "query", "shape", "short"]
