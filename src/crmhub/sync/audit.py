"""The append-only, hash-chained audit log.

Each row stores the hash of the previous row, so a deleted or edited row breaks the chain and `verify_chain`
finds it. Merges, splits, review decisions, golden-record changes and unmasking are written here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from crmhub.store.tables import AuditLog
from crmhub.sync.hashing import content_hash

GENESIS = "0" * 64


_LOCK_ID = 7_275_747  # pg_advisory_xact_lock key serialising appends to the chain on PostgreSQL


class _ChainHead:
    """The chain's last hash for the current transaction, read once under a lock, then kept in memory."""

    def __init__(self, session: Session) -> None:
        if session.get_bind().dialect.name == "postgresql":
            # Two transactions must never both extend the same head: hold a transaction-scoped lock.
            # (SQLite transactions are already serialised by BEGIN IMMEDIATE.)
            session.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_ID})"))
        last = session.scalar(select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1))
        self.hash = last or GENESIS
        self.transaction = session.get_transaction()


def append(session: Session, *, actor: str, action: str, entity: str, entity_id: str | int | None,
           details: dict[str, Any], run_id: int | None = None, at: datetime | None = None) -> AuditLog:
    """Append one entry inside the caller's transaction (so it commits or rolls back with the change).

    The head is read once per transaction and the rows are flushed in order with the session, so a batch of
    thousands of changes costs one lock and one read, not one per entry.
    """
    head = session.info.get("crmhub_audit_head")
    if not isinstance(head, _ChainHead) or head.transaction is not session.get_transaction():
        head = _ChainHead(session)
        session.info["crmhub_audit_head"] = head
    prev_hash = head.hash
    at = at or datetime.now(UTC)
    body = {"at": at.isoformat(), "actor": actor, "action": action, "entity": entity,
            "entity_id": None if entity_id is None else str(entity_id), "details": details, "prev": prev_hash}
    row = AuditLog(at=at, actor=actor, action=action, entity=entity,
                   entity_id=None if entity_id is None else str(entity_id), run_id=run_id, details=details,
                   prev_hash=prev_hash, hash=content_hash(body))
    head.hash = row.hash
    session.add(row)
    return row


def verify_chain(session: Session) -> list[int]:
    """Ids of rows whose hash or link does not match (empty when the log is intact)."""
    broken: list[int] = []
    prev_hash = GENESIS
    for row in session.scalars(select(AuditLog).order_by(AuditLog.id)):
        body = {"at": row.at.isoformat(), "actor": row.actor, "action": row.action, "entity": row.entity,
                "entity_id": row.entity_id, "details": row.details, "prev": row.prev_hash}
        if row.prev_hash != prev_hash or content_hash(body) != row.hash:
            broken.append(row.id)
        prev_hash = row.hash
    return broken


REVEAL_ACTION = "personal_data.reveal"
"""The audit action of every unmasked output (``--reveal``)."""


def os_user() -> str:
    """Who is running crmhub: the operating-system user (named operators and roles come later).

    ``os:`` marks where the name came from, so a later operator login is told apart in the log.
    """
    import getpass

    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers) and no LOGNAME/USER
        import os

        return f"os:uid-{os.getuid()}" if hasattr(os, "getuid") else "os:unknown"


def record_reveal(session: Session, *, command: str, reason: str, entity: str, entity_id: str | int | None,
                  details: dict[str, Any] | None = None, actor: str | None = None) -> AuditLog:
    """Write who saw which personal data in clear, and why — before the data is shown.

    Called in the same transaction that reads the data; if the audit row cannot be written, nothing is revealed.
    """
    return append(session, actor=actor or os_user(), action=REVEAL_ACTION, entity=entity, entity_id=entity_id,
                  details={"command": command, "reason": reason, "masking": "revealed", **(details or {})})
