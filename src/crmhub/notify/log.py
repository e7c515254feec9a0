"""The delivery log: the notification outbox rows themselves, read back for people (``crmhub notify log``).

No separate log table: the outbox row already holds the state, the attempts, the channel's answer per recipient
and the last error, so the log can never disagree with what delivery did. States map to the words operators use:
``confirmed`` → delivered, ``sent`` → sending, ``planned`` with attempts → retrying.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.notify.facts import NOTIFICATION
from crmhub.store.tables import Outbox

STATUS = {
    "planned": "planned",
    "sent": "sending",
    "confirmed": "delivered",
    "partial": "partial",
    "failed": "failed",
    "unconfirmed": "unconfirmed",
    "skipped": "skipped",
}
STATUSES = ("planned", "retrying", "sending", "delivered", "partial", "failed", "unconfirmed", "skipped")
RETRYABLE = ("failed", "partial", "unconfirmed", "skipped")


def status_of(row: Outbox) -> str:
    """What an operator calls the row's state."""
    if row.state == "planned" and row.attempts > 0:
        return "retrying"
    return STATUS.get(row.state, row.state)


def _condition(status: str) -> ColumnElement[bool]:
    if status not in STATUSES:
        raise InputError(f"unknown status {status!r}", hint=f"use one of {', '.join(STATUSES)}")
    if status == "retrying":
        return and_(Outbox.state == "planned", Outbox.attempts > 0)
    if status == "planned":
        return and_(Outbox.state == "planned", Outbox.attempts == 0)
    state = next(k for k, v in STATUS.items() if v == status)
    return Outbox.state == state


def list_notifications(
    session: Session,
    *,
    status: str | None = None,
    event: str | None = None,
    channel: str | None = None,
    limit: int = 100,
) -> list[Outbox]:
    """Notification rows, newest first, filtered by status, event kind and channel."""
    q = select(Outbox).where(Outbox.kind == NOTIFICATION)
    if status:
        q = q.where(_condition(status))
    if event:
        q = q.where(Outbox.stream == event)
    if channel:
        q = q.where(Outbox.target == channel)
    return list(session.scalars(q.order_by(Outbox.id.desc()).limit(limit)))


def notification_json(row: Outbox) -> dict[str, Any]:
    """One log entry: what, to whom, through which channel, with which outcome per recipient."""
    payload = row.payload or {}
    answer = row.answer or {}
    return {
        "id": row.id,
        "status": status_of(row),
        "state": row.state,
        "event": row.stream,
        "fact": payload.get("fact", row.source_id),
        "channel": row.target,
        "template": payload.get("template"),
        "lang": payload.get("lang"),
        "recipients": list(payload.get("recipients") or []),
        "results": dict(answer.get("recipients") or {}),
        "answer": answer.get("answer"),
        "attempts": row.attempts,
        "error": row.last_error,
        "client_id": row.client_id,
        "run_id": row.run_id,
        "key": row.idempotency_key,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "first_sent_at": answer.get("first_sent_at"),
        "not_before": row.not_before.isoformat() if row.not_before else None,
    }


def requeue(session: Session, row_id: int) -> Outbox:
    """Send a failed, partial, unconfirmed or skipped notification again (recipients that have it keep it).

    For an unconfirmed row this is the operator's statement that the message did not arrive.
    """
    row = session.get(Outbox, row_id)
    if row is None or row.kind != NOTIFICATION:
        raise InputError(f"no notification #{row_id}", hint="see `crmhub notify log`")
    if row.state not in RETRYABLE:
        raise InputError(f"notification #{row_id} is {status_of(row)}; only {', '.join(RETRYABLE)} ones are sent again")
    if not (row.payload or {}).get("recipients"):
        raise InputError(
            f"notification #{row_id} has no recipient ({row.last_error})",
            hint="fix the recipient (e.g. [notify.directory]); the next fact is routed correctly",
        )
    answer = dict(row.answer or {})
    answer["recipients"] = {r: v for r, v in (answer.get("recipients") or {}).items() if v == "ok"}
    session.execute(
        update(Outbox)
        .where(Outbox.id == row_id)
        .values(state="planned", attempts=0, answer=answer, not_before=None, updated_at=datetime.now(UTC))
    )
    session.refresh(row)
    return row


def uncertain(session: Session, *, since: datetime | None = None, limit: int = 10) -> dict[str, Any]:
    """Notifications that may be lost or doubled: ``unconfirmed`` rows (a process died between sending and
    recording the answer, and the channel cannot drop a duplicate — e-mail, the WeCom group robot). All of them are
    counted; the newest ``limit`` — only those resolved since ``since`` when given — are listed for the run report.
    """
    base = (Outbox.kind == NOTIFICATION) & (Outbox.state == "unconfirmed")
    total = session.scalar(select(func.count()).select_from(Outbox).where(base)) or 0
    q = select(Outbox).where(base)
    if since is not None:
        q = q.where(Outbox.updated_at >= since)
    rows = session.scalars(q.order_by(Outbox.id.desc()).limit(limit)).all()
    return {
        "unconfirmed_total": total,
        "uncertain": [
            {
                "id": r.id,
                "event": r.stream,
                "channel": r.target,
                "recipients": list((r.payload or {}).get("recipients") or []),
                "first_sent_at": (r.answer or {}).get("first_sent_at"),
                "error": r.last_error,
            }
            for r in rows
        ],
    }
