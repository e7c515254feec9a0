"""Delivering the outbox: planned → sent → confirmed | failed, idempotently.

Rows are marked ``sent`` (committed) before the call, so a crash during the call leaves them ``sent`` and the
next run re-sends them with the same idempotency key — safe because every write is an upsert/update keyed on
the record (at-least-once delivery + idempotent sink = effectively once). After a confirmed write, the target's
stored snapshot is patched with the written values and re-hashed, so the echo of our own write in the next pull
is recognised as "unchanged" rather than a new change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmhub.contract import Connector, OutboundRecord, PushResult
from crmhub.errors import FatalError, RetriableError
from crmhub.model import CorporateClient
from crmhub.model.text import clean_json, clean_text
from crmhub.store.tables import Outbox
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync.hashing import content_hash
from crmhub.sync.ingest import dead_letter
from crmhub.sync.unit import UnitOfWork

RETRY_DELAY = timedelta(minutes=5)
MAX_ATTEMPTS = 5


@dataclass(slots=True)
class DeliveryStats:
    """Outcome counts of one delivery pass for one target."""

    confirmed: int = 0
    failed: int = 0
    retried: int = 0
    resent: int = 0


def pending(session: Session, target: str, limit: int) -> list[Outbox]:
    """Write-backs due for ``target``: planned (and due) or sent but never confirmed (crash leftovers)."""
    now = datetime.now(UTC)
    rows = session.scalars(select(Outbox).where(
        Outbox.kind == "write_back", Outbox.target == target, Outbox.state.in_(("planned", "sent")))
        .order_by(Outbox.id).limit(limit * 5)).all()
    due = [r for r in rows if r.not_before is None or r.not_before <= now]
    return due[:limit]


def outbound(row: Outbox) -> OutboundRecord:
    """The connector-facing record for an outbox row."""
    data = dict(row.payload["data"])
    client = CorporateClient.model_validate(data)
    return OutboundRecord(key=row.idempotency_key, source_id=row.source_id, data=client,
                          fields=tuple(row.payload["fields"]))


def _patch_snapshot(session: Session, target: str, stream: str, source_id: str, payload: dict[str, Any]) -> None:
    row = session.scalars(select(SourceRow).where(SourceRow.connector == target, SourceRow.stream == stream,
                                                  SourceRow.source_id == source_id)).first()
    if row is None or row.data is None:
        return
    data = dict(row.data)
    for name in payload["fields"]:
        value = payload["data"].get(name)
        if name == "risk" and isinstance(value, dict):
            value = {"rating": value.get("rating"), "segment": value.get("segment")}
        data[name] = value
    row.data = data
    row.content_hash = content_hash({"data": data, "deleted": row.deleted})


def _already_applied(session: Session, row: Outbox) -> bool:
    """Whether the target's freshly pulled state already holds what an ambiguous ``sent`` row wanted to write.

    A row is left ``sent`` when the process died between the call and recording its answer. Each run pulls
    before it delivers, so the stored snapshot is the target's current state: if it already has the values, the
    write happened and is confirmed without sending it again (no write is ever applied twice).
    """
    if row.source_id is None:
        return False
    snap = session.scalars(select(SourceRow.data).where(
        SourceRow.connector == row.target, SourceRow.stream == row.stream,
        SourceRow.source_id == row.source_id)).first()
    if not snap:
        return False
    for name in row.payload.get("fields", []):
        want = row.payload["data"].get(name)
        have = snap.get(name)
        if name == "risk":
            want = {"rating": (want or {}).get("rating"), "segment": (want or {}).get("segment")}
            have = {"rating": (have or {}).get("rating"), "segment": (have or {}).get("segment")}
        elif name == "industry":
            want, have = (want or {}).get("code"), (have or {}).get("code")
        if want != have:
            return False
    return True


async def deliver(uow: UnitOfWork, connector: Connector[Any], target: str, *, batch: int = 100,
                  run_id: int | None = None, deadline: float | None = None,
                  on_batch: Callable[[DeliveryStats], None] | None = None) -> DeliveryStats:
    """Send everything due for ``target`` in batches; returns counts. Raises `FatalError` to stop.

    ``deadline`` (a `time.monotonic` value) stops between batches once passed, leaving the rest planned;
    ``on_batch`` hears the counts so far after each batch (progress bars, ETAs).
    """
    stats = DeliveryStats()
    batch = getattr(connector, "push_batch_size", None) or batch  # e.g. Zoho Bulk Write takes a whole file per push
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            return stats
        with uow.transaction() as s:
            rows = pending(s, target, batch)
            if not rows:
                return stats
            ambiguous = [r for r in rows if r.state == "sent" and _already_applied(s, r)]
            for r in ambiguous:
                r.state, r.answer, r.updated_at = "confirmed", {"status": "ok", "confirmed_by": "re-read"}, \
                    datetime.now(UTC)
                stats.confirmed += 1
            rows = [r for r in rows if r not in ambiguous]
            if not rows:
                continue
            ids = [r.id for r in rows]
            stats.resent += sum(1 for r in rows if r.state == "sent")
            s.execute(update(Outbox).where(Outbox.id.in_(ids)).values(
                state="sent", attempts=Outbox.attempts + 1, updated_at=datetime.now(UTC)))
            snapshot = [(r.id, r.stream or "", r.payload, r.source_id, r.attempts + 1) for r in rows]
            records = [outbound(r) for r in rows]
        stream = snapshot[0][1]
        try:
            results = await connector.push(stream, records)
        except FatalError:
            with uow.transaction() as s:
                s.execute(update(Outbox).where(Outbox.id.in_([i for i, *_ in snapshot]))
                          .values(state="planned", updated_at=datetime.now(UTC)))
            raise
        except RetriableError as exc:
            with uow.transaction() as s:
                s.execute(update(Outbox).where(Outbox.id.in_([i for i, *_ in snapshot])).values(
                    state="planned", last_error=clean_text(str(exc), multiline=True),
                    not_before=datetime.now(UTC) + RETRY_DELAY, updated_at=datetime.now(UTC)))
            stats.retried += len(snapshot)
            return stats
        with uow.transaction() as s:
            _record(s, target, snapshot, results, stats, run_id)
        if on_batch is not None:
            on_batch(stats)


def _record(s: Session, target: str, snapshot: Sequence[tuple[int, str, dict[str, Any], str | None, int]],
            results: Sequence[PushResult], stats: DeliveryStats, run_id: int | None) -> None:
    now = datetime.now(UTC)
    for (row_id, stream, payload, source_id, attempts), res in zip(snapshot, results, strict=True):
        reason = None if res.reason is None else clean_text(res.reason, multiline=True)  # quotes the target
        answer = clean_json({"status": res.status, "source_id": res.source_id, "action": res.action,
                             "reason": reason, "field": res.field})
        if res.status == "ok":
            s.execute(update(Outbox).where(Outbox.id == row_id).values(
                state="confirmed", answer=answer, last_error=None, updated_at=now,
                source_id=res.source_id or source_id))
            if res.source_id or source_id:
                _patch_snapshot(s, target, stream, str(res.source_id or source_id), payload)
            stats.confirmed += 1
        elif res.retriable and attempts < MAX_ATTEMPTS:
            s.execute(update(Outbox).where(Outbox.id == row_id).values(
                state="planned", answer=answer, last_error=reason, not_before=now + RETRY_DELAY,
                updated_at=now))
            stats.retried += 1
        else:
            s.execute(update(Outbox).where(Outbox.id == row_id).values(
                state="failed", answer=answer, last_error=reason, updated_at=now))
            dead_letter(s, connector=target, stream=stream, source_id=source_id,
                        reason=f"write-back rejected: {res.reason}", field_name=res.field,
                        payload={"outbox_id": row_id, **payload}, run_id=run_id, direction="out")
            stats.failed += 1
