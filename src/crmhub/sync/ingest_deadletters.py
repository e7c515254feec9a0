"""Dead letters written a page at a time: one SELECT of the open ones, one INSERT and one UPDATE per batch.

Ingest used to look each rejected record's open dead letter up on its own (a SELECT per reject), and to append a
history entry each time a source sent the same bad record again. Here a page's rejects are written together: the
open dead letters of the page's ids are read once, new ones inserted with one ``executemany``, repeats updated
with one ``executemany`` — a repeat of the same reason folded into the latest history entry
(`crmhub.store.deadletter_history.fold_rejected`), so a record refused at every run keeps a short history.

Rows are written through the table (Core), not ORM objects: a page of rejects costs a few statements, and the
callers' sessions never hold stale dead-letter objects (the retry command flushes its own row first).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from crmhub.store import deadletter_history as dl_history
from crmhub.store.tables import DeadLetter
from crmhub.sync.hygiene import storable_dead_letter

TABLE: Table = DeadLetter.__table__  # type: ignore[assignment]
RESOLVED_REASON = "a later sync read the record again and stored it"


@dataclass(frozen=True, slots=True)
class Letter:
    """One refused record, already cut and cleaned to fit the ``dead_letter`` columns (see `letter`)."""

    source_id: str | None
    reason: str
    field: str | None
    payload: dict[str, Any]


def letter(
    source_id: str | None, reason: str, field: str | None = None, payload: dict[str, Any] | None = None
) -> Letter:
    """A storable `Letter` (ids, reasons and payloads quoting outside systems are cleaned and cut)."""
    return Letter(*storable_dead_letter(source_id, reason, field, payload))


def _open(
    session: Session, connector: str, stream: str, direction: str, source_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The open dead letters of these ids (the oldest one per id), as mutable column dicts keyed by source id."""
    ids = sorted(set(source_ids))
    found: dict[str, dict[str, Any]] = {}
    if not ids:
        return found
    c = TABLE.c
    for row in session.execute(
        select(c.id, c.source_id, c.reason, c.history, c.attempts, c.created_at, c.run_id)
        .where(
            c.connector == connector,
            c.stream == stream,
            c.direction == direction,
            c.status == "open",
            c.source_id.in_(ids),
        )
        .order_by(c.id)
    ):
        if row.source_id not in found:
            found[row.source_id] = {
                "_id": row.id,
                "attempts": row.attempts,
                "history": dl_history.stored(row.history, row.reason, created_at=row.created_at, run_id=row.run_id),
            }
    return found


def record(
    session: Session,
    *,
    connector: str,
    stream: str,
    letters: Sequence[Letter],
    run_id: int | None,
    direction: str = "in",
) -> None:
    """Store refused records; an open dead letter for the same record is updated (one more attempt, the latest
    reason, the repeat folded into its history), never duplicated — also within ``letters``."""
    if not letters:
        return
    now = datetime.now(UTC)
    existing = _open(session, connector, stream, direction, (x.source_id for x in letters if x.source_id))
    changed: dict[int, dict[str, Any]] = {}
    pending: dict[str, dict[str, Any]] = {}
    inserts: list[dict[str, Any]] = []
    for item in letters:
        values = {
            "reason": item.reason,
            "field": item.field,
            "payload": item.payload,
            "run_id": run_id,
            "updated_at": now,
        }
        row = existing.get(item.source_id) if item.source_id is not None else None
        if row is None and item.source_id is not None:
            row = pending.get(item.source_id)
        if row is not None:
            row.update(
                values,
                attempts=row["attempts"] + 1,
                history=dl_history.fold_rejected(row["history"], item.reason, at=now, run_id=run_id),
            )
            if "_id" in row:
                changed[row["_id"]] = row
            continue
        new = {
            **values,
            "direction": direction,
            "connector": connector,
            "stream": stream,
            "source_id": item.source_id,
            "status": "open",
            "attempts": 1,
            "created_at": now,
            "history": [dl_history.entry(dl_history.REJECTED, item.reason, at=now, run_id=run_id)],
        }
        inserts.append(new)
        if item.source_id is not None:
            pending[item.source_id] = new
    if inserts:
        session.execute(insert(TABLE), inserts)
    if changed:
        session.execute(
            update(TABLE).where(TABLE.c.id == bindparam("_id")),
            [
                {
                    k: row[k]
                    for k in ("_id", "reason", "field", "payload", "run_id", "updated_at", "attempts", "history")
                }
                for row in changed.values()
            ],
        )


def any_open(session: Session, connector: str, stream: str) -> bool:
    """Whether the stream has any open inbound dead letter (if not, a run's pages need not look for ones to
    resolve until it writes one itself: a connector's streams are ingested by one run at a time)."""
    c = TABLE.c
    return (
        session.execute(
            select(c.id)
            .where(c.connector == connector, c.stream == stream, c.direction == "in", c.status == "open")
            .limit(1)
        ).first()
        is not None
    )


def resolve(session: Session, *, connector: str, stream: str, source_ids: Sequence[str], run_id: int | None) -> None:
    """Records stored now that had an open inbound dead letter: resolved, noted in their history (one SELECT per
    page, almost always answering nothing, and one UPDATE for those it finds)."""
    found = _open(session, connector, stream, "in", source_ids)
    if not found:
        return
    now = datetime.now(UTC)
    session.execute(
        update(TABLE).where(TABLE.c.id == bindparam("_id")),
        [
            {
                "_id": row["_id"],
                "status": "resolved",
                "updated_at": now,
                "history": [
                    *row["history"],
                    dl_history.entry(dl_history.RESOLVED, RESOLVED_REASON, at=now, run_id=run_id),
                ],
            }
            for row in found.values()
        ],
    )


__all__ = ["Letter", "any_open", "letter", "record", "resolve"]
