"""The review queue: grey-zone matches, undecidable conflicts, USCC clashes — and undoable merges.

Accepting a match merges the two golden clients (the record moves, the absorbed id is kept as ``merged`` and
never reused); every merge and split is written to the audit log with what moved, so `unmerge` can restore it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crmhub.errors import InputError
from crmhub.store.tables import AuditLog, FieldLineage, GoldenClient, ReviewItem, Xref
from crmhub.store.tables import SourceRecord as SourceRow
from crmhub.sync import audit
from crmhub.sync.interactions import move_interactions


def list_items(session: Session, status: str | None = "open") -> list[ReviewItem]:
    """Review items, oldest first."""
    q = select(ReviewItem).order_by(ReviewItem.id)
    if status:
        q = q.where(ReviewItem.status == status)
    return list(session.scalars(q))


def _item(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise InputError(f"no review item {item_id}", hint="see `crmhub review list`")
    if item.status != "open":
        raise InputError(f"review item {item_id} is already {item.status}")
    return item


def merge_clients(session: Session, keep_id: int, absorb_id: int, *, actor: str, reason: str) -> dict[str, Any]:
    """Move every record of ``absorb_id`` to ``keep_id``; the absorbed id stays as ``merged``. Audited."""
    if keep_id == absorb_id:
        raise InputError("cannot merge a client with itself")
    keep, absorb = session.get(GoldenClient, keep_id), session.get(GoldenClient, absorb_id)
    if keep is None or absorb is None or keep.status != "active" or absorb.status != "active":
        raise InputError(f"clients {keep_id} and {absorb_id} must both exist and be active")
    if keep.uscc and absorb.uscc and keep.uscc != absorb.uscc:
        raise InputError(
            f"clients {keep_id} and {absorb_id} have different USCCs ({keep.uscc} / {absorb.uscc}); "
            "different USCCs are different companies"
        )
    moved = [x for x in session.scalars(select(Xref.source_record_id).where(Xref.client_id == absorb_id))]
    session.execute(
        update(Xref)
        .where(Xref.client_id == absorb_id)
        .values(client_id=keep_id, method="manual", linked_at=datetime.now(UTC))
    )
    uscc = absorb.uscc
    absorb.uscc = None
    absorb.status, absorb.merged_into, absorb.needs_plan, absorb.needs_merge = "merged", keep_id, False, False
    session.flush()
    if uscc and not keep.uscc:
        keep.uscc = uscc
    keep.needs_merge = True
    session.execute(update(FieldLineage).where(FieldLineage.client_id == absorb_id).values(source_hashes={}))
    touches = move_interactions(session, absorb_id, keep_id)  # the follow-up clock counts both clients' visits
    details = {
        "kept": keep_id,
        "absorbed": absorb_id,
        "moved_records": moved,
        "absorbed_uscc": uscc,
        "moved_interactions": touches,
        "reason": reason,
    }
    audit.append(session, actor=actor, action="client.merge", entity="client", entity_id=keep_id, details=details)
    return details


def unmerge(session: Session, absorbed_id: int, *, actor: str) -> dict[str, Any]:
    """Undo the merge that absorbed ``absorbed_id``: its records move back and it becomes active again."""
    entry = session.scalars(
        select(AuditLog).where(AuditLog.action == "client.merge").order_by(AuditLog.id.desc())
    ).all()
    found = next((e for e in entry if e.details.get("absorbed") == absorbed_id), None)
    absorbed = session.get(GoldenClient, absorbed_id)
    if found is None or absorbed is None or absorbed.status != "merged":
        raise InputError(f"client {absorbed_id} was not merged into another client")
    keep_id = int(found.details["kept"])
    moved = [int(i) for i in found.details["moved_records"]]
    session.execute(
        update(Xref)
        .where(Xref.source_record_id.in_(moved), Xref.client_id == keep_id)
        .values(client_id=absorbed_id, method="manual", linked_at=datetime.now(UTC))
    )
    keep = session.get(GoldenClient, keep_id)
    uscc = found.details.get("absorbed_uscc")
    if keep is not None and uscc and keep.uscc == uscc:
        keep.uscc = None
        session.flush()
    absorbed.status, absorbed.merged_into, absorbed.uscc = "active", None, uscc
    absorbed.needs_merge = True
    move_interactions(
        session, keep_id, absorbed_id, only=[int(i) for i in found.details.get("moved_interactions") or []]
    )
    if keep is not None:
        keep.needs_merge = True
    details = {"restored": absorbed_id, "from": keep_id, "moved_records": moved}
    audit.append(session, actor=actor, action="client.unmerge", entity="client", entity_id=absorbed_id, details=details)
    return details


def split(session: Session, client_id: int, source_ref: str, *, actor: str, note: str | None = None) -> int:
    """Detach one source record (``connector:source_id``) into a new golden client; returns its id.

    ``note`` (why; the console asks for one) is kept in the audit entry.
    """
    connector, _, source_id = source_ref.partition(":")
    row = session.execute(
        select(SourceRow.id)
        .join(Xref, Xref.source_record_id == SourceRow.id)
        .where(Xref.client_id == client_id, SourceRow.connector == connector, SourceRow.source_id == source_id)
    ).first()
    if row is None:
        raise InputError(
            f"client {client_id} has no record {source_ref!r}", hint="see its external_ids with `crmhub clients show`"
        )
    now = datetime.now(UTC)
    new = GoldenClient(
        name="(split)",
        status="active",
        data={},
        version=1,
        needs_merge=True,
        needs_risk=True,
        needs_plan=False,
        created_at=now,
        updated_at=now,
    )
    session.add(new)
    session.flush()
    session.execute(
        update(Xref).where(Xref.source_record_id == row.id).values(client_id=new.id, method="manual", linked_at=now)
    )
    old = session.get(GoldenClient, client_id)
    if old is not None:
        old.needs_merge = True
    audit.append(
        session,
        actor=actor,
        action="client.split",
        entity="client",
        entity_id=client_id,
        details={"record": source_ref, "new_client": new.id, **({"note": note} if note else {})},
    )
    return new.id


def accept(session: Session, item_id: int, *, actor: str, note: str | None = None) -> str:
    """Accept a review item: a match merges the pair; a conflict takes the value given in ``details.choice``."""
    item = _item(session, item_id)
    outcome = "accepted"
    if item.kind == "match" and item.client_id and item.other_client_id:
        merge_clients(
            session, item.other_client_id, item.client_id, actor=actor, reason=f"review item {item_id} accepted"
        )
        outcome = f"merged client {item.client_id} into {item.other_client_id}"
    elif item.kind == "conflict" and item.client_id:
        golden = session.get(GoldenClient, item.client_id)
        if golden is not None:
            session.execute(
                update(FieldLineage)
                .where(FieldLineage.client_id == item.client_id, FieldLineage.field == item.field)
                .values(source_hashes={})
            )
            golden.needs_merge = True
        outcome = "conflict accepted; the field's rule applies on the next sync"
    item.status, item.decided_at, item.decided_by = "accepted", datetime.now(UTC), actor
    audit.append(
        session,
        actor=actor,
        action="review.accept",
        entity="review_item",
        entity_id=item_id,
        details={"kind": item.kind, "outcome": outcome, "note": note},
    )
    return outcome


def reject(session: Session, item_id: int, *, actor: str, note: str | None = None) -> str:
    """Reject a review item: the pair stays apart and is not proposed again."""
    item = _item(session, item_id)
    item.status, item.decided_at, item.decided_by = "rejected", datetime.now(UTC), actor
    audit.append(
        session,
        actor=actor,
        action="review.reject",
        entity="review_item",
        entity_id=item_id,
        details={"kind": item.kind, "note": note},
    )
    return "rejected; the records stay separate"
