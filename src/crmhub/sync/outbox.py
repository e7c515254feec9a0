"""Delivering the outbox: planned → sent → confirmed | failed, idempotently.

Rows are marked ``sent`` (committed) before the call, so a crash during the call leaves them ``sent`` and the
next run re-sends them with the same idempotency key — safe because every write is an upsert/update keyed on
the record (at-least-once delivery + idempotent sink = effectively once). After a confirmed write, the target's
stored snapshot is patched with the written values and re-hashed, so the echo of our own write in the next pull
is recognised as "unchanged" rather than a new change.

The bookkeeping is set-based: a batch reads its due rows as plain rows (one ordered index range per state),
marks them ``sent`` with one UPDATE, and records the answers with one executemany UPDATE per outcome plus one
SELECT and one executemany UPDATE of the target's snapshots — a handful of statements per batch, whatever its size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from crmhub.contract import Connector, OutboundRecord, PushResult
from crmhub.core.hashing import content_hash
from crmhub.core.outbox import OPEN, OutboxState
from crmhub.errors import FatalError, RetriableError
from crmhub.model import CorporateClient
from crmhub.model.text import clean_json, clean_text
from crmhub.store.tables import Outbox
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.store.unit import UnitOfWork
from crmhub.sync.ingest import dead_letter

RETRY_DELAY = timedelta(minutes=5)
MAX_ATTEMPTS = 5


@dataclass(slots=True)
class DeliveryStats:
    """Outcome counts of one delivery pass for one target."""

    confirmed: int = 0
    failed: int = 0
    retried: int = 0
    resent: int = 0


@dataclass(frozen=True, slots=True)
class Due:
    """An outbox row due for delivery, as plain columns (no ORM object per write)."""

    id: int
    stream: str | None
    state: str
    source_id: str | None
    payload: dict[str, Any]
    attempts: int
    idempotency_key: str


def pending(session: Session, target: str, limit: int, after_id: int = 0) -> list[Due]:
    """Write-backs due for ``target`` after outbox id ``after_id``, in id order: planned (and due) or sent but never
    confirmed (crash leftovers).

    One query per state, each an ordered range of the ``(state, target)`` index (whose entries end with the row
    id), merged here: a batch reads about ``limit`` rows however many wait behind it. ``not_before`` is filtered in
    SQL, so rows waiting for a retry never crowd out due ones.
    """
    now = datetime.now(UTC)
    found: list[Due] = []
    for state in OPEN:
        found.extend(
            Due(*r)
            for r in session.execute(
                select(
                    Outbox.id,
                    Outbox.stream,
                    Outbox.state,
                    Outbox.source_id,
                    Outbox.payload,
                    Outbox.attempts,
                    Outbox.idempotency_key,
                )
                .where(
                    Outbox.state == state,
                    Outbox.target == target,
                    Outbox.kind == "write_back",
                    Outbox.id > after_id,
                    or_(Outbox.not_before.is_(None), Outbox.not_before <= now),
                )
                .order_by(Outbox.id)
                .limit(limit)
            )
        )
    found.sort(key=lambda d: d.id)
    return found[:limit]


def outbound(row: Due | Outbox) -> OutboundRecord:
    """The connector-facing record for an outbox row.

    The payload holds a few fields of the golden record (the written ones, name and USCC), already validated
    when merged; they are validated again here because connectors read them as typed models (``industry.code``,
    ``risk.rating``, dates) and ``model_construct`` would leave nested values as plain dicts. On a handful of
    fields that costs tens of µs per write, next to an HTTP call per batch.
    """
    client = CorporateClient.model_validate(dict(row.payload["data"]))
    return OutboundRecord(
        key=row.idempotency_key, source_id=row.source_id, data=client, fields=tuple(row.payload["fields"])
    )


def _snapshots(
    session: Session, target: str, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, dict[str, Any] | None, bool]]:
    """(stream, source id) → (row id, canonical data, deleted) of the target's stored records, in one SELECT."""
    if not keys:
        return {}
    rows = session.execute(
        select(SourceRow.id, SourceRow.stream, SourceRow.source_id, SourceRow.data, SourceRow.deleted).where(
            SourceRow.connector == target,
            SourceRow.stream.in_(sorted({k[0] for k in keys})),
            SourceRow.source_id.in_(sorted({k[1] for k in keys})),
        )
    )
    return {(r.stream, r.source_id): (r.id, r.data, r.deleted) for r in rows if (r.stream, r.source_id) in keys}


def _already_applied(payload: dict[str, Any], snap: dict[str, Any] | None) -> bool:
    """Whether the target's freshly pulled state ``snap`` already holds what an ambiguous ``sent`` row wanted.

    A row is left ``sent`` when the process died between the call and recording its answer. Each run pulls
    before it delivers, so the stored snapshot is the target's current state: if it already has the values, the
    write happened and is confirmed without sending it again (no write is ever applied twice).
    """
    if not snap:
        return False
    for name in payload.get("fields", []):
        want = payload["data"].get(name)
        have = snap.get(name)
        if name == "risk":
            want = {"rating": (want or {}).get("rating"), "segment": (want or {}).get("segment")}
            have = {"rating": (have or {}).get("rating"), "segment": (have or {}).get("segment")}
        elif name == "industry":
            want, have = (want or {}).get("code"), (have or {}).get("code")
        if want != have:
            return False
    return True


def _confirm_applied(session: Session, target: str, rows: list[Due], stats: DeliveryStats) -> list[Due]:
    """Confirm the ambiguous ``sent`` rows the target already holds (one SELECT, one UPDATE); returns the rest."""
    ambiguous = [r for r in rows if r.state == OutboxState.SENT and r.source_id is not None]
    if not ambiguous:
        return rows
    snaps = _snapshots(session, target, {(r.stream or "", str(r.source_id)) for r in ambiguous})
    applied = {
        r.id
        for r in ambiguous
        if _already_applied(r.payload, (snaps.get((r.stream or "", str(r.source_id))) or (0, None, False))[1])
    }
    if applied:
        session.execute(
            update(Outbox)
            .where(Outbox.id.in_(sorted(applied)))
            .values(
                state=OutboxState.CONFIRMED,
                answer={"status": "ok", "confirmed_by": "re-read"},
                updated_at=datetime.now(UTC),
            )
        )
        stats.confirmed += len(applied)
    return [r for r in rows if r.id not in applied]


async def deliver(
    uow: UnitOfWork,
    connector: Connector[Any],
    target: str,
    *,
    batch: int = 100,
    run_id: int | None = None,
    deadline: float | None = None,
    on_batch: Callable[[DeliveryStats], None] | None = None,
) -> DeliveryStats:
    """Send everything due for ``target`` in batches; returns counts. Raises `FatalError` to stop.

    ``deadline`` (a `time.monotonic` value) stops between batches once passed, leaving the rest planned;
    ``on_batch`` hears the counts so far after each batch (progress bars, ETAs). The pass walks the outbox once
    in id order (a cursor, not "the first rows still due"): a row retried later in this pass is not met again,
    and each batch's query starts where the last one ended.
    """
    stats = DeliveryStats()
    batch = getattr(connector, "push_batch_size", None) or batch  # e.g. Zoho Bulk Write takes a whole file per push
    after = 0
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            return stats
        with uow.transaction() as s:
            rows = pending(s, target, batch, after)
            if not rows:
                return stats
            after = rows[-1].id
            rows = _confirm_applied(s, target, rows, stats)
            if not rows:
                continue
            stats.resent += sum(1 for r in rows if r.state == OutboxState.SENT)
            s.execute(
                update(Outbox)
                .where(Outbox.id.in_([r.id for r in rows]))
                .values(state=OutboxState.SENT, attempts=Outbox.attempts + 1, updated_at=datetime.now(UTC))
            )
            snapshot = [(r.id, r.stream or "", r.payload, r.source_id, r.attempts + 1) for r in rows]
            records = [outbound(r) for r in rows]
        stream = snapshot[0][1]
        try:
            results = await connector.push(stream, records)
        except FatalError:
            with uow.transaction() as s:
                s.execute(
                    update(Outbox)
                    .where(Outbox.id.in_([i for i, *_ in snapshot]))
                    .values(state=OutboxState.PLANNED, updated_at=datetime.now(UTC))
                )
            raise
        except RetriableError as exc:
            with uow.transaction() as s:
                s.execute(
                    update(Outbox)
                    .where(Outbox.id.in_([i for i, *_ in snapshot]))
                    .values(
                        state=OutboxState.PLANNED,
                        last_error=clean_text(str(exc), multiline=True),
                        not_before=datetime.now(UTC) + RETRY_DELAY,
                        updated_at=datetime.now(UTC),
                    )
                )
            stats.retried += len(snapshot)
            return stats
        with uow.transaction() as s:
            _record(s, target, snapshot, results, stats, run_id)
        if on_batch is not None:
            on_batch(stats)


_CONFIRM = (
    update(Outbox)
    .where(Outbox.id == bindparam("b_id"))
    .values(
        state=OutboxState.CONFIRMED,
        answer=bindparam("b_answer"),
        last_error=None,
        updated_at=bindparam("b_now"),
        source_id=bindparam("b_source_id"),
    )
)
_RETRY = (
    update(Outbox)
    .where(Outbox.id == bindparam("b_id"))
    .values(
        state=OutboxState.PLANNED,
        answer=bindparam("b_answer"),
        last_error=bindparam("b_error"),
        not_before=bindparam("b_not_before"),
        updated_at=bindparam("b_now"),
    )
)
_FAIL = (
    update(Outbox)
    .where(Outbox.id == bindparam("b_id"))
    .values(
        state=OutboxState.FAILED,
        answer=bindparam("b_answer"),
        last_error=bindparam("b_error"),
        updated_at=bindparam("b_now"),
    )
)
_PATCH = (
    update(SourceRow)
    .where(SourceRow.id == bindparam("b_id"))
    .values(data=bindparam("b_data"), content_hash=bindparam("b_hash"))
)


def _record(
    s: Session,
    target: str,
    snapshot: Sequence[tuple[int, str, dict[str, Any], str | None, int]],
    results: Sequence[PushResult],
    stats: DeliveryStats,
    run_id: int | None,
) -> None:
    """Store the target's answers: one executemany UPDATE per outcome, the confirmed writes' snapshots patched
    in one SELECT and one executemany UPDATE, a dead letter (with the target's reason) per refused write."""
    now = datetime.now(UTC)
    confirmed: list[dict[str, Any]] = []
    retried: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    patches: list[tuple[str, str, dict[str, Any]]] = []
    for (row_id, stream, payload, source_id, attempts), res in zip(snapshot, results, strict=True):
        reason = None if res.reason is None else clean_text(res.reason, multiline=True)  # quotes the target
        answer = clean_json(
            {
                "status": res.status,
                "source_id": res.source_id,
                "action": res.action,
                "reason": reason,
                "field": res.field,
            }
        )
        if res.status == "ok":
            confirmed.append(
                {"b_id": row_id, "b_answer": answer, "b_now": now, "b_source_id": res.source_id or source_id}
            )
            if res.source_id or source_id:
                patches.append((stream, str(res.source_id or source_id), payload))
        elif res.retriable and attempts < MAX_ATTEMPTS:
            retried.append(
                {"b_id": row_id, "b_answer": answer, "b_error": reason, "b_now": now, "b_not_before": now + RETRY_DELAY}
            )
        else:
            failed.append({"b_id": row_id, "b_answer": answer, "b_error": reason, "b_now": now})
            dead_letter(
                s,
                connector=target,
                stream=stream,
                source_id=source_id,
                reason=f"write-back rejected: {res.reason}",
                field_name=res.field,
                payload={"outbox_id": row_id, **payload},
                run_id=run_id,
                direction="out",
            )
    conn = s.connection()  # executemany of a Core statement (the ORM's bulk UPDATE takes no WHERE criteria)
    for statement, params in ((_CONFIRM, confirmed), (_RETRY, retried), (_FAIL, failed)):
        if params:
            conn.execute(statement, params)
    _patch_snapshots(s, target, patches)
    stats.confirmed += len(confirmed)
    stats.retried += len(retried)
    stats.failed += len(failed)


def _patch_snapshots(s: Session, target: str, patches: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
    """Write the confirmed values into the target's stored snapshots and re-hash them (echo suppression)."""
    snaps = _snapshots(s, target, {(stream, sid) for stream, sid, _ in patches})
    patched: dict[tuple[str, str], dict[str, Any]] = {}
    for stream, sid, payload in patches:  # in answer order: a record written twice keeps the later values
        found = snaps.get((stream, sid))
        if found is None or found[1] is None:
            continue
        data = patched.setdefault((stream, sid), dict(found[1]))
        for name in payload["fields"]:
            value = payload["data"].get(name)
            if name == "risk" and isinstance(value, dict):
                value = {"rating": value.get("rating"), "segment": value.get("segment")}
            data[name] = value
    if patched:
        s.connection().execute(
            _PATCH,
            [
                {
                    "b_id": snaps[key][0],
                    "b_data": data,
                    "b_hash": content_hash({"data": data, "deleted": snaps[key][2]}),
                }
                for key, data in patched.items()
            ],
        )
