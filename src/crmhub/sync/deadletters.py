"""Dead letters: list them, and retry them — inbound records are re-mapped, refused write-backs re-queued."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmhub.contract import Connector, Page, StreamKind
from crmhub.errors import InputError, RecordError
from crmhub.store.tables import DeadLetter, Outbox
from crmhub.sync.ingest import Ingestor, StreamStats, load_cursor


def list_dead_letters(session: Session, *, status: str | None = "open", limit: int = 1000) -> list[DeadLetter]:
    """Dead letters, newest first."""
    q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if status:
        q = q.where(DeadLetter.status == status)
    return list(session.scalars(q))


def dead_letter_json(row: DeadLetter) -> dict[str, Any]:
    """JSON form for `crmhub deadletter list --json`."""
    return {"id": row.id, "run_id": row.run_id, "direction": row.direction, "connector": row.connector,
            "stream": row.stream, "source_id": row.source_id, "reason": row.reason, "field": row.field,
            "status": row.status, "attempts": row.attempts, "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat()}


def select_for_retry(session: Session, ids: list[int] | None) -> list[DeadLetter]:
    """The open dead letters to retry (all when ``ids`` is None); unknown ids are an `InputError`."""
    q = select(DeadLetter).where(DeadLetter.status == "open")
    if ids is not None:
        q = q.where(DeadLetter.id.in_(ids))
    rows = list(session.scalars(q.order_by(DeadLetter.id)))
    if ids is not None:
        missing = sorted(set(ids) - {r.id for r in rows})
        if missing:
            raise InputError(f"no open dead letter with id {', '.join(map(str, missing))}",
                             hint="see `crmhub deadletter list`")
    return rows


def retry_inbound(session: Session, row: DeadLetter, connector: Connector[Any]) -> tuple[bool, str]:
    """Re-map a stored inbound payload and ingest it; the dead letter is resolved or keeps the new reason."""
    spec = connector.stream(row.stream)
    try:
        record = connector.remap(row.stream, row.payload)
    except RecordError as exc:
        row.attempts += 1
        row.reason = str(exc)
        row.updated_at = datetime.now(UTC)
        return False, row.reason
    stats = StreamStats()
    cursor = load_cursor(session, connector.name, row.stream)
    Ingestor(connector.name, row.run_id).store_page(session, spec, Page(records=[record], next_cursor=cursor), stats)
    row.status = "resolved"
    row.updated_at = datetime.now(UTC)
    return True, "re-mapped and stored" if spec.kind is not StreamKind.DELETION else "applied"


def retry_outbound(session: Session, row: DeadLetter) -> tuple[bool, str]:
    """Re-queue a refused write-back so the next delivery sends it again."""
    outbox_id = row.payload.get("outbox_id")
    if outbox_id is None:
        return False, "no outbox row recorded for this dead letter"
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(
        state="planned", not_before=None, attempts=0, updated_at=datetime.now(UTC)))
    row.status = "retried"
    row.updated_at = datetime.now(UTC)
    return True, "write-back queued again"
