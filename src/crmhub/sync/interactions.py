"""Interaction streams → the ``interaction`` table, where follow-up reminders look for a client's last touch.

A connector stream of kind `StreamKind.INTERACTION` (a CRM's visit log, call records …) yields `Interaction`
records. Ingest stores them like any source record (hash, dirty flag). After the merge phase, when every client
record of the run has its golden client, `link_interactions` takes each changed interaction and links it to the
golden client of its parent record (``client_source_id``, same connector) or, failing that, of its
``client_uscc``; then it upserts the row keyed by (connector, ``stream:source_id``) — so re-reading changes
nothing, an edit updates the row and a deletion removes it. An interaction whose client crmhub does not know yet
stays pending (still dirty) and is tried again by the next run; the run report counts it, so nothing is dropped
silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from crmhub.contract import StreamKind
from crmhub.core.chunks import chunked
from crmhub.model.banking import Interaction
from crmhub.store.tables import GoldenClient, InteractionRow, Xref
from crmhub.store.tables import SourceRecord as SourceRow

BATCH = 500


@dataclass(slots=True)
class LinkOutcome:
    """What one linking pass did."""

    linked: int = 0
    removed: int = 0
    pending: int = 0

    def add(self, other: LinkOutcome) -> None:
        """Sum another batch's counts into this one."""
        self.linked += other.linked
        self.removed += other.removed
        self.pending += other.pending


def _parents(session: Session, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(connector, client source id) → golden client id, for the parent records that are linked."""
    wanted = sorted(set(pairs))
    found: dict[tuple[str, str], int] = {}
    for connector in sorted({c for c, _ in wanted}):
        ids = [sid for c, sid in wanted if c == connector]
        for chunk in chunked(ids, BATCH):
            for row in session.execute(
                select(SourceRow.source_id, Xref.client_id)
                .join(Xref, Xref.source_record_id == SourceRow.id)
                .where(
                    SourceRow.connector == connector,
                    SourceRow.kind == StreamKind.CLIENT.value,
                    SourceRow.source_id.in_(chunk),
                )
            ):
                found[(connector, row.source_id)] = row.client_id
    return found


def _by_uscc(session: Session, codes: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(codes))
    found: dict[str, int] = {}
    for chunk in chunked(wanted, BATCH):
        for row in session.execute(
            select(GoldenClient.uscc, GoldenClient.id).where(
                GoldenClient.uscc.in_(chunk), GoldenClient.status == "active"
            )
        ):
            found[str(row.uscc)] = row.id
    return found


def _existing(session: Session, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(connector, ``stream:source_id``) → interaction row id, for the rows already stored."""
    wanted = sorted(set(refs))
    found: dict[tuple[str, str], int] = {}
    for connector in sorted({c for c, _ in wanted}):
        keys = [ref for c, ref in wanted if c == connector]
        for chunk in chunked(keys, BATCH):
            for row in session.execute(
                select(InteractionRow.id, InteractionRow.source_ref).where(
                    InteractionRow.source == connector, InteractionRow.source_ref.in_(chunk)
                )
            ):
                found[(connector, str(row.source_ref))] = row.id
    return found


def link_batch(session: Session, after_id: int) -> tuple[LinkOutcome, int | None]:
    """Link the next batch of changed interaction records (ids above ``after_id``); returns the outcome and the
    last id seen (None when there was nothing left). The caller owns the transaction."""
    rows = list(
        session.execute(
            select(
                SourceRow.id,
                SourceRow.connector,
                SourceRow.stream,
                SourceRow.source_id,
                SourceRow.data,
                SourceRow.deleted,
                SourceRow.parent_source_id,
            )
            .where(SourceRow.kind == StreamKind.INTERACTION.value, SourceRow.dirty.is_(True), SourceRow.id > after_id)
            .order_by(SourceRow.id)
            .limit(BATCH)
        )
    )
    if not rows:
        return LinkOutcome(), None
    outcome = LinkOutcome()
    parents = _parents(session, ((r.connector, r.parent_source_id) for r in rows if r.parent_source_id))
    items = {r.id: Interaction.model_validate(r.data) for r in rows if not r.deleted and r.data}
    by_uscc = _by_uscc(session, (str(i.client_uscc) for i in items.values() if i.client_uscc))
    stored = _existing(session, ((r.connector, f"{r.stream}:{r.source_id}") for r in rows))
    done: list[int] = []
    removed: list[int] = []
    inserts: list[dict[str, Any]] = []
    for r in rows:
        ref = f"{r.stream}:{r.source_id}"
        row_id = stored.get((r.connector, ref))
        if r.deleted or r.id not in items:
            if row_id is not None:
                removed.append(row_id)
            done.append(r.id)
            continue
        item = items[r.id]
        client_id = parents.get((r.connector, r.parent_source_id or "")) or (
            by_uscc.get(str(item.client_uscc)) if item.client_uscc else None
        )
        if client_id is None:
            outcome.pending += 1  # its client is not known yet: stays dirty, tried again next run
            continue
        values = {
            "client_id": client_id,
            "kind": item.kind.value,
            "occurred_at": item.occurred_at.astimezone(UTC),
            "by": item.by,
            "summary": item.summary,
        }
        if row_id is None:
            inserts.append({"source": r.connector, "source_ref": ref, **values})
        else:
            session.execute(update(InteractionRow).where(InteractionRow.id == row_id).values(**values))
        outcome.linked += 1
        done.append(r.id)
    if inserts:
        session.execute(insert(InteractionRow), inserts)
    if removed:
        session.execute(delete(InteractionRow).where(InteractionRow.id.in_(removed)))
        outcome.removed += len(removed)
    if done:
        session.execute(update(SourceRow).where(SourceRow.id.in_(done)).values(dirty=False))
    return outcome, rows[-1].id


def move_interactions(
    session: Session, from_client: int, to_client: int, *, only: list[int] | None = None
) -> list[int]:
    """Re-point interactions from one golden client to another (a merge, or its undo with ``only`` the ids the
    merge moved); returns the ids moved."""
    query = select(InteractionRow.id).where(InteractionRow.client_id == from_client)
    if only is not None:
        query = query.where(InteractionRow.id.in_(only))
    ids = list(session.scalars(query))
    if ids:
        session.execute(update(InteractionRow).where(InteractionRow.id.in_(ids)).values(client_id=to_client))
    return ids
